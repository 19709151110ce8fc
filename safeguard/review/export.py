"""The review queue's Parquet export, ``review_queue/date=D/`` beside ``risk_scores/`` (safeguard.serving.exports):
the rows of ``review_queue`` for the day, ``case_links`` and ``case_reasons`` as JSON text."""

from __future__ import annotations

import json
from datetime import date, datetime

import pyarrow as pa

from safeguard.landing import ObjectStore
from safeguard.review.queue import Case
from safeguard.review.store import queue_rows
from safeguard.serving.exports import ExportResult, read_export, write_day

QUEUE_DATASET = "review_queue"
QUEUE_EXPORT_SCHEMA = pa.schema(
    [
        ("score_date", pa.date32()),
        ("case_id", pa.string()),
        ("account_id", pa.string()),
        ("rank", pa.int32()),
        ("case_accounts", pa.int32()),
        ("case_expected_abuse", pa.float64()),
        ("case_links", pa.string()),
        ("case_reasons", pa.string()),
        ("probability", pa.float64()),
        ("tier", pa.string()),
        ("queued_at", pa.timestamp("us")),
    ]
)  # the columns of safeguard.serving.schema.review_queue, in its order (a unit test holds them equal)


def export_queue(store: ObjectStore, day: date, cases: list[Case], queued_at: datetime) -> ExportResult:
    """Replace the day's export with ``cases`` (the same rows :func:`safeguard.review.store.replace_queue` writes;
    an empty queue is exported as an empty file, so a reader can tell "no cases" from "not built")."""
    rows = queue_rows(day, cases, queued_at)
    for row in rows:
        row["case_links"], row["case_reasons"] = json.dumps(row["case_links"]), json.dumps(row["case_reasons"])
    return write_day(store, QUEUE_DATASET, day, pa.Table.from_pylist(rows, schema=QUEUE_EXPORT_SCHEMA))


def read_queue_export(store: ObjectStore, day: date) -> pa.Table:
    return read_export(store, day, QUEUE_DATASET)

"""Parquet exports of the published risk scores, for teams that read files rather than the database (§3.5).

Layout under ``EXPORT_URI`` (a folder or ``s3://bucket/prefix``)::

    risk_scores/date=YYYY-MM-DD/part-00000.parquet
    risk_scores/date=YYYY-MM-DD/_SUCCESS          written last: the day is complete when it exists

One row per account of the day, the columns of ``account_risk_history`` (``reasons`` as JSON text). Exporting a
day again replaces it whole: the old marker and files go first, so a reader never takes a half-replaced day for
a complete one.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from safeguard.contract import SUCCESS_MARKER
from safeguard.dates import as_date
from safeguard.landing import ObjectStore
from safeguard.serving.publish import prepare_day, utcnow, with_published_at

EXPORT_DATASET = "risk_scores"
PART_NAME = "part-00000.parquet"


@dataclass(frozen=True)
class ExportResult:
    score_date: date
    rows: int
    uri: str  # the day's folder
    bytes: int  # size of the Parquet file


def day_folder(score_date: date | str) -> str:
    return f"{EXPORT_DATASET}/date={as_date(score_date).isoformat()}"


def export_day(
    store: ObjectStore,
    served: pa.Table | pd.DataFrame,
    score_date: date | str,
    *,
    published_at: datetime | None = None,
) -> ExportResult:
    """Write one day of served rows as Parquet, then ``_SUCCESS``; replaces an earlier export of the day.

    ``served`` is validated exactly as :func:`safeguard.serving.publish.publish_day` validates it, so the export
    and the database always hold the same rows; pass the publish's ``published_at`` to stamp both alike.
    """
    prepared = prepare_day(served, score_date)
    rows = with_published_at(prepared.history, published_at or utcnow())
    folder = day_folder(prepared.score_date)
    buf = io.BytesIO()
    pq.write_table(rows, buf, compression="zstd")
    data = buf.getvalue()
    store.delete_prefix(folder)  # marker included: the day reads as incomplete until the new marker lands
    store.write_bytes(f"{folder}/{PART_NAME}", data)
    store.write_bytes(f"{folder}/{SUCCESS_MARKER}", b"")
    return ExportResult(prepared.score_date, rows.num_rows, store.full_uri(folder), len(data))


def read_export(store: ObjectStore, score_date: date | str) -> pa.Table:
    """An exported day, refused when its ``_SUCCESS`` marker is missing (the day is incomplete)."""
    folder = day_folder(score_date)
    if not store.exists(f"{folder}/{SUCCESS_MARKER}"):
        raise FileNotFoundError(f"no {SUCCESS_MARKER} at {store.full_uri(folder)}: the export is incomplete")
    return pq.read_table(io.BytesIO(store.read_bytes(f"{folder}/{PART_NAME}")))

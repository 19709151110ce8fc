"""One day of served scores checked and shaped for the risk tables, before any write (``safeguard.serving.publish``):
required columns, types, tiers, arms and reasons validated (a bad day is refused, naming the day, the column and
example accounts), the ``account_risk_history`` rows and the long-form ``risk_reasons`` built, and the content hash
that says whether a re-published day is the same."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from safeguard.dates import as_date
from safeguard.serving.schema import (
    account_risk_history,
    arrow_schema,
)
from safeguard.vocabulary import ARMS, SERVED_TABLE, TIERS

MAX_REASONS = 4
# Rows per batch: of the content hash (a hash is over these batches: keep it, or every stored hash changes), the
# COPY chunks and SQLite's executemany (bounds memory on a million-row day).
INSERT_BATCH_ROWS = 50_000
JSON_BLOCK_BYTES = 16 << 20  # Arrow's JSON reader parses the reasons in blocks of this size, in parallel

# The served columns publishing needs (others, such as bucket or rollout_id, stay in the warehouse).
REQUIRED_COLUMNS = ("score_date", "account_id", "served_model_version", "arm", "probability", "tier", "reasons_json")

# A day's rows as stored in account_risk_history, minus published_at: what the content hash covers.
HISTORY_SCHEMA = arrow_schema(account_risk_history, exclude=("published_at",))
REASON_ITEM = pa.struct(
    [("feature", pa.string()), ("value", pa.float64()), ("contribution", pa.float64()), ("reason", pa.string())]
)


class PublishError(ValueError):
    """The served rows cannot be published; the message names the day, the column and example accounts."""


@dataclass(frozen=True)
class PreparedDay:
    """A validated day, in the shapes the serving tables take."""

    score_date: date
    history: pa.Table  # HISTORY_SCHEMA, sorted by account_id
    reasons: pa.Table  # the columns of risk_reasons

    @property
    def content_sha256(self) -> str:
        return content_sha256(self.history)


def _as_table(served: pa.Table | pd.DataFrame) -> pa.Table:
    if isinstance(served, pd.DataFrame):
        return pa.Table.from_pandas(served, preserve_index=False)
    if isinstance(served, pa.Table):
        return served
    raise PublishError(f"served rows must be a pyarrow.Table or pandas.DataFrame, got {type(served).__name__}")


def _examples(ids: pa.Array, mask) -> list:
    return ids.filter(mask).slice(0, 3).to_pylist()


def _refuse_bad(where: str, ids: pa.Array, bad, what: str) -> None:
    """Raise naming how many rows are bad and which accounts, when ``bad`` (a boolean array) has any true."""
    bad = pc.fill_null(bad, True)
    n = pc.sum(bad).as_py() or 0
    if n:
        raise PublishError(f"{where}: {n} row(s) {what}, e.g. account(s) {_examples(ids, bad)}")


def _ndjson(lines: pa.StringArray) -> bytes:
    """The text of a string array whose every element ends in a newline: its values buffer, no Python loop."""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=4 * lines.offset)
    return lines.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]]


def _first_unreadable(ids: pa.Array, reasons_json: pa.Array) -> str | None:
    """The first account whose reasons JSON does not parse as a list of objects (error path only)."""
    for account, text in zip(ids.to_pylist(), reasons_json.to_pylist()):
        try:
            value = json.loads(text)
        except ValueError:
            return account
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            return account
    return None


def _explode_reasons(where: str, ids: pa.Array, reasons_json: pa.Array) -> tuple[np.ndarray, np.ndarray, pa.Table]:
    """Parse the rows' reasons JSON at once (Arrow's JSON reader over one object per line) and flatten it.

    Returns, per reason: the index of its row, its rank (1 = first in the row's list), and the reason fields.
    Only rows with reasons are parsed: most accounts are not explained and carry ``'[]'``.
    """
    empty = pa.table({item.name: pa.array([], item.type) for item in REASON_ITEM.fields})
    listed = np.flatnonzero(pc.not_equal(reasons_json, "[]").to_numpy(zero_copy_only=False))
    if listed.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int16), empty
    ids, reasons_json = ids.take(pa.array(listed)), reasons_json.take(pa.array(listed))
    # Line breaks between JSON tokens are whitespace (inside a JSON string they would be invalid anyway), so
    # blanking them makes one line per row.
    one_line = pc.replace_substring(pc.replace_substring(reasons_json, "\n", " "), "\r", " ")
    text = _ndjson(pc.binary_join_element_wise('{"r": ', one_line, "}\n", ""))
    try:
        parsed = pajson.read_json(
            io.BytesIO(text),
            read_options=pajson.ReadOptions(block_size=JSON_BLOCK_BYTES),
            parse_options=pajson.ParseOptions(
                explicit_schema=pa.schema([("r", pa.list_(REASON_ITEM))]), unexpected_field_behavior="ignore"
            ),
        )
    except pa.ArrowInvalid as e:
        raise PublishError(
            f"{where}: reasons_json of account {_first_unreadable(ids, reasons_json)!r} is not a JSON list of "
            f"{{feature, value, contribution, reason}} objects ({e})"
        ) from e
    lists = parsed.column("r").combine_chunks()
    _refuse_bad(where, ids, pc.is_null(lists), "with reasons_json that is not a JSON list")
    lengths = pc.list_value_length(lists).to_numpy(zero_copy_only=False)
    _refuse_bad(where, ids, pa.array(lengths > MAX_REASONS), f"with more than {MAX_REASONS} reasons")
    parents = pc.list_parent_indices(lists).to_numpy()
    starts = np.repeat(np.r_[0, np.cumsum(lengths)[:-1]], lengths)
    rank = (np.arange(parents.size) - starts + 1).astype(np.int16)
    items = pc.list_flatten(lists)
    flat = pa.Table.from_struct_array(items) if len(items) else empty
    owners = ids.take(pa.array(parents))
    for column in ("feature", "contribution", "reason"):
        _refuse_bad(where, owners, pc.is_null(flat.column(column)), f"with a reason lacking {column!r}")
    _refuse_bad(
        where,
        owners,
        pc.greater(pc.utf8_length(flat.column("feature")), 128),
        "with a reason's feature name longer than 128 characters",
    )
    return listed[parents], rank, flat


def prepare_day(served: pa.Table | pd.DataFrame, score_date: date | str) -> PreparedDay:
    """Validate one day of served rows and shape them for the serving tables; refuses bad rows, names them."""
    day = as_date(score_date)
    table = _as_table(served)
    where = f"{SERVED_TABLE} for {day}"
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise PublishError(f"{where}: missing column(s) {missing}; got {table.column_names}")
    table = table.select(list(REQUIRED_COLUMNS)).combine_chunks()
    try:
        ids = pc.cast(table.column("account_id"), pa.string()).combine_chunks()
        days = pc.cast(table.column("score_date"), pa.date32()).combine_chunks()
        probability = pc.cast(table.column("probability"), pa.float64()).combine_chunks()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise PublishError(f"{where}: account_id, score_date or probability has the wrong type: {e}") from e
    strings = {
        c: pc.cast(table.column(c), pa.string()).combine_chunks()
        for c in ("served_model_version", "arm", "tier", "reasons_json")
    }

    _refuse_bad(where, ids, pc.is_null(ids), "with a null account_id")
    _refuse_bad(where, ids, pc.greater(pc.utf8_length(ids), 64), "with an account_id longer than 64 characters")
    _refuse_bad(where, ids, pc.not_equal(days, pa.scalar(day, pa.date32())), f"dated another day than {day}")
    finite = pc.and_(
        pc.is_finite(probability), pc.and_(pc.greater_equal(probability, 0.0), pc.less_equal(probability, 1.0))
    )
    _refuse_bad(where, ids, pc.invert(finite), "with a probability outside [0, 1]")
    _refuse_bad(where, ids, pc.invert(pc.is_in(strings["tier"], pa.array(TIERS))), f"with a tier not in {TIERS}")
    _refuse_bad(where, ids, pc.invert(pc.is_in(strings["arm"], pa.array(ARMS))), f"with an arm not in {ARMS}")
    version = strings["served_model_version"]
    _refuse_bad(
        where,
        ids,
        pc.or_(pc.is_null(version), pc.greater(pc.utf8_length(version), 64)),
        "with a null or over-long served_model_version",
    )
    counts = pc.value_counts(ids)
    dup = pc.greater(counts.field("counts"), 1)
    if pc.any(dup).as_py():
        raise PublishError(
            f"{where}: duplicate account_id(s), e.g. {counts.field('values').filter(dup)[:3].to_pylist()}"
        )

    reasons_json = pc.fill_null(strings["reasons_json"], "[]")  # not explained: no reasons
    history = pa.table(
        [ids, days, probability, strings["tier"], version, strings["arm"], reasons_json], schema=HISTORY_SCHEMA
    ).sort_by("account_id")
    parents, rank, flat = _explode_reasons(
        where, history.column("account_id").combine_chunks(), history.column("reasons").combine_chunks()
    )
    owners = pa.array(parents)
    reasons = pa.table(
        {
            "account_id": history.column("account_id").take(owners),
            "score_date": pa.array(np.full(len(parents), np.datetime64(day, "D")), pa.date32()),
            "rank": pa.array(rank, pa.int16()),
            "feature": flat.column("feature"),
            "feature_value": flat.column("value"),
            "contribution": flat.column("contribution"),
            "reason_text": flat.column("reason"),
            "model_version": history.column("model_version").take(owners),
        }
    )
    return PreparedDay(day, history, reasons)


def content_sha256(history: pa.Table) -> str:
    """sha256 of a day's rows in account order, as canonical CSV (``published_at`` excluded)."""
    rows = history.select(HISTORY_SCHEMA.names).cast(HISTORY_SCHEMA).sort_by("account_id")
    digest = hashlib.sha256()
    for batch in rows.to_batches(INSERT_BATCH_ROWS):
        digest.update(csv_bytes(batch))
    return digest.hexdigest()


def csv_bytes(table: pa.Table | pa.RecordBatch) -> bytes:
    """RFC 4180 CSV without header: strings quoted, nulls empty and unquoted (PostgreSQL COPY's CSV format)."""
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False))
    return buf.getvalue()


def with_published_at(history: pa.Table, published_at: datetime) -> pa.Table:
    """The day's rows with their ``published_at`` column: the full account_risk_history row."""
    stamp = pa.array(np.full(history.num_rows, np.datetime64(published_at, "us")), pa.timestamp("us"))
    return history.append_column("published_at", stamp)

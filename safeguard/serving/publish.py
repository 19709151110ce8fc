"""Publish one day of served risk scores into the serving database, atomically (design §3.5).

Input: one day of ``scoring.served_risk_scores`` (the rollout's served score per account; columns in
docs/risk-tables.md). One transaction per day:

1. replace the day in ``account_risk_history`` and ``risk_reasons`` (delete, then bulk insert: PostgreSQL
   through ``COPY ... FROM STDIN`` on the transaction's own connection, SQLite through batched executemany);
2. move ``account_risk_current`` forward: each account of the day whose current row is older than the day (or
   missing) takes the day's row. "Current moves forward only": publishing the newest day moves every account of
   it; publishing an older day during a backfill changes no account that has a newer row. An account absent from
   the newest day keeps its last published row (its ``score_date`` says how old it is), so a downstream lookup
   never loses an account that was scored once;
3. record the day in ``published_days`` (rows, content hash, model versions).

Readers see the previous state or the new one, never a mix: PostgreSQL readers (READ COMMITTED) see the old
snapshot until the commit; SQLite runs in WAL mode, where readers keep their snapshot while the one writer works.
Publishers are serialized (PostgreSQL: a lock on ``published_days``; SQLite: its single writer lock).

Re-publishing a day replaces it exactly: same rows, same ``content_sha256`` (a hash of the day's rows in account
order, ``published_at`` left out). Values only ever travel as bound parameters or COPY data, never as SQL text.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from safeguard.dates import as_date
from safeguard.serving.schema import (
    account_risk_current,
    account_risk_history,
    arrow_schema,
    published_days,
    risk_reasons,
)
from safeguard.vocabulary import ARMS, SERVED_TABLE, TIERS, utcnow

MAX_REASONS = 4
ORPHAN_BATCH = 500  # accounts per bound IN list when restoring accounts a re-published day dropped
JSON_BLOCK_BYTES = 16 << 20  # Arrow's JSON reader parses the reasons in blocks of this size, in parallel
INSERT_BATCH_ROWS = 50_000  # SQLite executemany batch and COPY chunk: bounds memory on a million-row day

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
class PublishResult:
    score_date: date
    rows: int  # accounts in the day
    reason_rows: int  # rows written to risk_reasons
    published_at: datetime  # naive UTC
    content_sha256: str
    current_moved: bool  # the day was the newest published day (or newer), so current moved to it
    current_rows_changed: int  # accounts whose current row was written (moved forward, added, or restored)
    replaced: bool  # the day had been published before
    tier_counts: dict[str, int] = field(default_factory=dict)
    model_versions: dict[str, int] = field(default_factory=dict)  # served model version -> accounts


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


def _copy_rows(conn: sa.Connection, table: sa.Table, rows: pa.Table) -> None:
    """PostgreSQL: stream ``rows`` into ``table`` through COPY on the transaction's own psycopg connection."""
    columns = ", ".join(f'"{name}"' for name in rows.column_names)  # our own column names, not data
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN (FORMAT csv)') as copy:
        for batch in rows.to_batches(INSERT_BATCH_ROWS):
            copy.write(csv_bytes(batch))


def _sqlite_values(rows: pa.Table) -> pa.Table:
    """Dates and timestamps as the text SQLAlchemy's SQLite types store and parse back."""
    columns = []
    for name in rows.column_names:
        column = rows.column(name)
        if pa.types.is_date(column.type) or pa.types.is_timestamp(column.type):
            column = pc.cast(column, pa.string())  # 'YYYY-MM-DD' / 'YYYY-MM-DD HH:MM:SS.ffffff'
        columns.append(column)
    return pa.table(columns, names=rows.column_names)


def _executemany_rows(conn: sa.Connection, table: sa.Table, rows: pa.Table) -> None:
    """SQLite: batched executemany of bound rows (Arrow builds each batch's tuples column-wise)."""
    rows = _sqlite_values(rows)
    names = ", ".join(f'"{name}"' for name in rows.column_names)
    sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join("?" * rows.num_columns)})'
    for batch in rows.to_batches(INSERT_BATCH_ROWS):
        conn.exec_driver_sql(sql, list(zip(*(c.to_pylist() for c in batch.columns))))


def _bulk_insert(conn: sa.Connection, table: sa.Table, rows: pa.Table) -> None:
    if rows.num_rows == 0:
        return
    if conn.dialect.name == "postgresql":
        _copy_rows(conn, table, rows)
    else:
        _executemany_rows(conn, table, rows)


def _dialect_insert(conn: sa.Connection):
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise PublishError(f"publishing supports PostgreSQL and SQLite, not {conn.dialect.name}")
    return insert


def _move_current_forward(conn: sa.Connection, day: date) -> int:
    """Upsert the day's history rows into current where the account's current row is older or missing."""
    insert = _dialect_insert(conn)
    cur, hist = account_risk_current, account_risk_history
    columns = [c.name for c in cur.columns]
    stmt = insert(cur).from_select(columns, sa.select(*(hist.c[c] for c in columns)).where(hist.c.score_date == day))
    stmt = stmt.on_conflict_do_update(
        index_elements=[cur.c.account_id],
        set_={c: stmt.excluded[c] for c in columns if c != "account_id"},
        where=cur.c.score_date <= stmt.excluded.score_date,
    )
    # SQLAlchemy keeps an INSERT's row count only when asked to.
    return conn.execute(stmt.execution_options(preserve_rowcount=True)).rowcount


def _restore_orphans(conn: sa.Connection, day: date, accounts: pa.Array) -> int:
    """After a re-published day dropped some accounts, their current row (from that day) no longer exists in
    history: each goes back to its newest remaining history row, or leaves current if it has none.

    The dropped accounts are found in Arrow (current's rows of the day minus the day's accounts), not by an
    anti-join whose plan depends on statistics a bulk load has just made stale.
    """
    cur, hist = account_risk_current, account_risk_history
    held = pa.array(
        conn.execute(sa.select(cur.c.account_id).where(cur.c.score_date == day)).scalars().all(), pa.string()
    )
    gone = held.filter(pc.invert(pc.is_in(held, accounts))).to_pylist()
    if not gone:
        return 0
    h = hist.alias("h")
    newest = sa.select(sa.func.max(hist.c.score_date)).where(hist.c.account_id == h.c.account_id).scalar_subquery()
    columns = [c.name for c in cur.columns]
    restore = sa.select(*(h.c[c] for c in columns)).where(
        h.c.account_id.in_(sa.bindparam("ids", expanding=True)), h.c.score_date == newest
    )
    for start in range(0, len(gone), ORPHAN_BATCH):
        ids = gone[start : start + ORPHAN_BATCH]
        conn.execute(sa.delete(cur).where(cur.c.account_id.in_(ids)))
        conn.execute(sa.insert(cur).from_select(columns, restore), {"ids": ids})
    return len(gone)


def _enable_wal(engine: Engine) -> None:
    """SQLite: write-ahead logging, so readers keep reading the last committed state while a publish runs.
    The mode is stored in the database file; it must be set outside a transaction."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return
    with engine.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode=WAL").scalar()
        conn.commit()
    if str(mode).lower() != "wal":
        raise PublishError(f"cannot switch SQLite {engine.url.database} to WAL mode (got {mode!r})")


def publish_day(
    engine: Engine,
    served: pa.Table | pd.DataFrame,
    score_date: date | str,
    *,
    published_at: datetime | None = None,
) -> PublishResult:
    """Publish one day of ``scoring.served_risk_scores`` in one transaction (see the module doc)."""
    prepared = prepare_day(served, score_date)
    day = prepared.score_date
    published_at = published_at or utcnow()
    if published_at.tzinfo is not None:
        published_at = published_at.astimezone(UTC).replace(tzinfo=None)
    history = with_published_at(prepared.history, published_at)
    sha = prepared.content_sha256
    tiers = dict.fromkeys(TIERS, 0)
    tiers.update(_counts(prepared.history.column("tier")))
    versions = _counts(prepared.history.column("model_version"))

    _enable_wal(engine)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # One publisher at a time; readers (ACCESS SHARE) are not blocked.
            conn.exec_driver_sql("LOCK TABLE published_days IN EXCLUSIVE MODE")
        # The first write opens SQLite's write transaction before anything is read.
        conn.execute(sa.delete(risk_reasons).where(risk_reasons.c.score_date == day))
        conn.execute(sa.delete(account_risk_history).where(account_risk_history.c.score_date == day))
        replaced = conn.execute(sa.delete(published_days).where(published_days.c.score_date == day)).rowcount > 0
        newest = conn.execute(sa.select(sa.func.max(published_days.c.score_date))).scalar()
        _bulk_insert(conn, account_risk_history, history)
        _bulk_insert(conn, risk_reasons, prepared.reasons)
        changed = _move_current_forward(conn, day)
        if replaced:
            changed += _restore_orphans(conn, day, prepared.history.column("account_id").combine_chunks())
        conn.execute(
            sa.insert(published_days).values(
                score_date=day,
                published_at=published_at,
                rows=prepared.history.num_rows,
                content_sha256=sha,
                model_versions=versions,
            )
        )
    return PublishResult(
        score_date=day,
        rows=prepared.history.num_rows,
        reason_rows=prepared.reasons.num_rows,
        published_at=published_at,
        content_sha256=sha,
        current_moved=newest is None or day >= as_date(newest),
        current_rows_changed=changed,
        replaced=replaced,
        tier_counts=tiers,
        model_versions=versions,
    )


def _counts(column: pa.ChunkedArray) -> dict[str, int]:
    counts = pc.value_counts(column)
    return dict(sorted(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist())))


def published_day_sha256(engine: Engine, score_date: date | str) -> str:
    """The content hash of a day as the database holds it now (same recipe as at publish time)."""
    day = as_date(score_date)
    hist = account_risk_history
    select = sa.select(
        *(sa.cast(hist.c[c], sa.Text) if c == "reasons" else hist.c[c] for c in HISTORY_SCHEMA.names)
    ).where(hist.c.score_date == day)
    with engine.connect() as conn:
        rows = conn.execute(select).all()
    columns = list(zip(*rows)) if rows else [[] for _ in HISTORY_SCHEMA]
    return content_sha256(
        pa.table([pa.array(c, f.type) for c, f in zip(columns, HISTORY_SCHEMA)], schema=HISTORY_SCHEMA)
    )


def newest_published_day(engine: Engine) -> date | None:
    with engine.connect() as conn:
        newest = conn.execute(sa.select(sa.func.max(published_days.c.score_date))).scalar()
    return None if newest is None else as_date(newest)


def read_served_day(con, score_date: date | str) -> pa.Table:
    """One day of ``scoring.served_risk_scores`` from the DuckDB warehouse, in account order."""
    day = as_date(score_date).isoformat()
    return con.execute(
        f"SELECT * FROM {SERVED_TABLE} WHERE score_date = ?::DATE ORDER BY account_id", [day]
    ).to_arrow_table()

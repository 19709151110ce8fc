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

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from safeguard.dates import as_date
from safeguard.serving.bulk_insert import bulk_insert
from safeguard.serving.prepare import HISTORY_SCHEMA, PublishError, content_sha256, prepare_day, with_published_at
from safeguard.serving.risk_tables import (
    account_risk_current,
    account_risk_history,
    published_days,
    risk_reasons,
)
from safeguard.vocabulary import SERVED_TABLE, TIERS, utcnow

ORPHAN_BATCH = 500  # accounts per bound IN list when restoring accounts a re-published day dropped


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
        bulk_insert(conn, account_risk_history, history)
        bulk_insert(conn, risk_reasons, prepared.reasons)
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

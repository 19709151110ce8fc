"""A small hand-made raw world for the dbt tests: the raw.* tables of safeguard.contract, filled row by row.

Rows are written the way ingestion writes them (whole days replaced, lineage columns set), without depending on
the ingestion code. Timestamps are naive UTC, as in the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

import duckdb
import pyarrow as pa

from safeguard.contract import ACCOUNTS, ENFORCEMENT, SOURCES, TS, USAGE_EVENTS, Source, warehouse_ddl

_NAIVE_TS = pa.timestamp("us")


def _arrow_schema(source: Source) -> pa.Schema:
    """The raw table's columns as Arrow types: contract columns (naive UTC timestamps) plus lineage."""
    fields = [pa.field(c.name, _NAIVE_TS if c.type == TS else c.type) for c in source.columns]
    return pa.schema(
        [*fields, ("_partition_date", pa.date32()), ("_source_file", pa.string()), ("_ingested_at", _NAIVE_TS)]
    )


def event(event_id: str, account_id: str, ts: datetime, **overrides) -> dict:
    """A usage event with harmless defaults; ``overrides`` set any contract column."""
    row = {
        "event_id": event_id,
        "account_id": account_id,
        "org_id": None,
        "api_key_id": f"key-{account_id}",
        "event_ts": ts,
        "model": "model-m",
        "input_tokens": 100,
        "output_tokens": 50,
        "ip_hash": "ip-1",
        "country": "US",
        "client": "sdk-python",
        "stop_reason": "end_turn",
        "policy_category": "none",
        "classifier_score": 0.01,
        "prompt_template_hash": "tpl-1",
    }
    return _checked(USAGE_EVENTS, row, overrides)


def account(account_id: str, created_at: datetime, updated_at: datetime | None = None, **overrides) -> dict:
    """An account version (``updated_at`` defaults to ``created_at``: the creation version)."""
    row = {
        "account_id": account_id,
        "org_id": None,
        "created_at": created_at,
        "plan": "free",
        "signup_country": "US",
        "email_domain_kind": "webmail",
        "payment_fingerprint": None,
        "phone_verified": True,
        "signup_ip_hash": f"sip-{account_id}",
        "device_hash": None,
        "updated_at": updated_at or created_at,
    }
    return _checked(ACCOUNTS, row, overrides)


def action(action_id: str, account_id: str, ts: datetime, kind: str, **overrides) -> dict:
    row = {
        "action_id": action_id,
        "account_id": account_id,
        "action_ts": ts,
        "action": kind,
        "category": "cyber",
        "source": "analyst",
    }
    return _checked(ENFORCEMENT, row, overrides)


def _checked(source: Source, row: dict, overrides: dict) -> dict:
    unknown = set(overrides) - set(source.column_names)
    if unknown:
        raise KeyError(f"{source.name}: no column(s) {sorted(unknown)}")
    return {**row, **overrides}


@dataclass
class RawWorld:
    """Rows per source; each row lands on the UTC day of its contract day column."""

    usage_events: list[dict] = field(default_factory=list)
    accounts: list[dict] = field(default_factory=list)
    enforcement_actions: list[dict] = field(default_factory=list)

    def with_rows(self, **rows: list[dict]) -> RawWorld:
        """A copy with ``rows`` added to the named sources."""
        return replace(self, **{name: [*getattr(self, name), *extra] for name, extra in rows.items()})

    def rows(self, source: str) -> list[dict]:
        return getattr(self, source)


def create_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    from safeguard.review.labels import REVIEW_LABELS_DDL

    for statement in (*warehouse_ddl(), REVIEW_LABELS_DDL):
        con.execute(statement)


def load_day(
    con: duckdb.DuckDBPyConnection,
    source_name: str,
    day: date,
    rows: list[dict],
    *,
    ingested_at: datetime | None = None,
) -> None:
    """Replace one day of ``raw.<source>`` with ``rows`` (as ingestion does: the whole day, in one transaction)."""
    source = SOURCES[source_name]
    lineage = {
        "_partition_date": day,
        "_source_file": f"{source.name}/date={day}/part-00000.parquet",
        "_ingested_at": ingested_at or datetime(2030, 1, 1),
    }
    table = pa.Table.from_pylist([{**r, **lineage} for r in rows], schema=_arrow_schema(source))
    con.execute("BEGIN")
    con.execute(f"DELETE FROM {source.raw_table} WHERE _partition_date = ?", [day])
    con.register("day_rows", table)
    con.execute(f"INSERT INTO {source.raw_table} BY NAME SELECT * FROM day_rows")
    con.unregister("day_rows")
    con.execute("COMMIT")


def load_world(path: str, world: RawWorld) -> None:
    """Create the raw tables in the DuckDB file ``path`` and load every day of ``world``."""
    with duckdb.connect(path) as con:
        create_raw_tables(con)
        for source in SOURCES.values():
            by_day: dict[date, list[dict]] = {}
            for row in world.rows(source.name):
                by_day.setdefault(row[source.day_column].date(), []).append(row)
            for day, rows in sorted(by_day.items()):
                load_day(con, source.name, day, rows)


START = datetime(2026, 9, 1)


def at(day: int, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    """Day ``day`` of the world (0 = 2026-09-01) at the given UTC time."""
    return START + timedelta(days=day, hours=hour, minutes=minute, seconds=second)


def small_world() -> RawWorld:
    """Six days (2026-09-01..06) of seven accounts with every feature family exercised.

    - a1..a5 arrive in the first day's snapshot with older created_at; a6 is created on day 3, a7 on day 5.
    - a1 and a2 share a payment fingerprint; a2, a3 and a4 a device; a3 is banned on day 1 and stays banned,
      a4 is suspended on day 2 and reinstated on day 3; a1 changes plan on day 2; a5 never makes a request.
    - a2 bursts at night with flagged cyber requests from several IPs and countries on days 2..4.
    """
    snapshot = at(0, 0, 5)
    accounts = [
        account("a1", at(-40), snapshot, payment_fingerprint="pay-x", email_domain_kind="corporate"),
        account("a1", at(-40), at(2, 9), payment_fingerprint="pay-x", email_domain_kind="corporate", plan="team"),
        account(
            "a2",
            at(-3),
            snapshot,
            payment_fingerprint="pay-x",
            device_hash="dev-1",
            email_domain_kind="disposable",
            phone_verified=False,
        ),
        account("a3", at(-10), snapshot, device_hash="dev-1", plan="api"),
        account("a4", at(-10), snapshot, device_hash="dev-1", plan="pro"),
        account("a5", at(-100), snapshot, plan="enterprise"),
        account("a6", at(3, 8), signup_ip_hash="sip-a1"),
        account("a7", at(5, 23, 59, 59)),
    ]
    events = []
    for day in range(6):
        events += [event(f"e-a1-{day}-{i}", "a1", at(day, 9 + i)) for i in range(3)]
        events += [event(f"e-a3-{day}", "a3", at(day, 15), stop_reason="refusal")]
    for day in (2, 3, 4):
        events += [
            event(
                f"e-a2-{day}-{i}",
                "a2",
                at(day, 2, 5 * i),
                policy_category="cyber",
                classifier_score=0.5 + i / 20,
                ip_hash=f"ip-a2-{i % 3}",
                country=("DE", "FR", None)[i % 3],
                prompt_template_hash=f"tpl-{i % 2}",
                output_tokens=4000,
                stop_reason="max_tokens" if i % 2 else "end_turn",
            )
            for i in range(6)
        ]
    events += [event("e-a6-3", "a6", at(3, 23, 59, 59)), event("e-a6-4", "a6", at(4, 0, 0, 0))]
    actions = [
        action("x1", "a3", at(1, 10), "ban"),
        action("x2", "a4", at(2, 10), "suspend"),
        action("x3", "a4", at(3, 10), "reinstate"),
        action("x4", "a1", at(4, 10), "warn"),
    ]
    return RawWorld(usage_events=events, accounts=accounts, enforcement_actions=actions)

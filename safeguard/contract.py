"""The landing-zone contract (design §3.1): sources, columns, types, enums and row rules.

This module owns the schema of the landing data and of the warehouse's ``raw.*`` tables. The generator writes
it, ingestion validates against it, dbt sources describe it; nobody else spells these columns out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

SUCCESS_MARKER = "_SUCCESS"
QUARANTINE_TABLE = "raw.quarantine"

STOP_REASONS = ("end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal")
POLICY_CATEGORIES = (
    "cyber",
    "cbrn",
    "weapons",
    "violent_extremism",
    "fraud_scams",
    "harassment",
    "self_harm",
    "sexual",
    "deception",
    "none",
)
PLANS = ("free", "pro", "team", "enterprise", "api")
EMAIL_DOMAIN_KINDS = ("corporate", "webmail", "disposable")
ENFORCEMENT_ACTIONS = ("warn", "suspend", "ban", "reinstate")
ENFORCEMENT_SOURCES = ("analyst", "automated", "user_report")

TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    nullable: bool = False
    enum: tuple[str, ...] | None = None  # allowed values (nulls governed by ``nullable``)
    min_value: float | None = None
    max_value: float | None = None
    length: int | None = None  # exact string length (country codes)


@dataclass(frozen=True)
class Source:
    name: str
    columns: tuple[Column, ...]
    key: str  # unique id of a row within the source
    day_column: str  # timestamp that must fall inside the folder's UTC day
    raw_table: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "raw_table", f"raw.{self.name}")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns])


USAGE_EVENTS = Source(
    name="usage_events",
    key="event_id",
    day_column="event_ts",
    columns=(
        Column("event_id", pa.string()),
        Column("account_id", pa.string()),
        Column("org_id", pa.string(), nullable=True),
        Column("api_key_id", pa.string()),
        Column("event_ts", TS),
        Column("model", pa.string()),
        Column("input_tokens", pa.int64(), min_value=0),
        Column("output_tokens", pa.int64(), min_value=0),
        Column("ip_hash", pa.string()),
        Column("country", pa.string(), nullable=True, length=2),
        Column("client", pa.string()),
        Column("stop_reason", pa.string(), enum=STOP_REASONS),
        Column("policy_category", pa.string(), nullable=True, enum=POLICY_CATEGORIES),
        Column("classifier_score", pa.float64(), min_value=0.0, max_value=1.0),
        Column("prompt_template_hash", pa.string()),
    ),
)

ACCOUNTS = Source(
    name="accounts",
    # accounts are upserts: (account_id, updated_at) identifies a version; account_id alone repeats across days
    key="account_id",
    day_column="updated_at",
    columns=(
        Column("account_id", pa.string()),
        Column("org_id", pa.string(), nullable=True),
        Column("created_at", TS),
        Column("plan", pa.string(), enum=PLANS),
        Column("signup_country", pa.string(), nullable=True, length=2),
        Column("email_domain_kind", pa.string(), enum=EMAIL_DOMAIN_KINDS),
        Column("payment_fingerprint", pa.string(), nullable=True),
        Column("phone_verified", pa.bool_()),
        Column("signup_ip_hash", pa.string()),
        Column("device_hash", pa.string(), nullable=True),
        Column("updated_at", TS),
    ),
)

ENFORCEMENT = Source(
    name="enforcement_actions",
    key="action_id",
    day_column="action_ts",
    columns=(
        Column("action_id", pa.string()),
        Column("account_id", pa.string()),
        Column("action_ts", TS),
        Column("action", pa.string(), enum=ENFORCEMENT_ACTIONS),
        Column("category", pa.string()),  # free text: a policy category or another reason
        Column("source", pa.string(), enum=ENFORCEMENT_SOURCES),
    ),
)

SOURCES: dict[str, Source] = {s.name: s for s in (USAGE_EVENTS, ACCOUNTS, ENFORCEMENT)}

# Columns ingestion adds to every raw.* row.
LINEAGE_COLUMNS = (
    ("_partition_date", "DATE"),
    ("_source_file", "VARCHAR"),
    ("_ingested_at", "TIMESTAMP"),
)

_DUCKDB_TYPES = {
    pa.string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    TS: "TIMESTAMP",  # the warehouse stores naive UTC timestamps
}


def day_path(source: str, day: str) -> str:
    """Relative folder of one source's day in the landing zone: ``SOURCE/date=YYYY-MM-DD``."""
    return f"{source}/date={day}"


def raw_table_ddl(source: Source) -> str:
    cols = [f'"{c.name}" {_DUCKDB_TYPES[c.type]}' for c in source.columns]
    cols += [f"{name} {typ}" for name, typ in LINEAGE_COLUMNS]
    return f"CREATE TABLE IF NOT EXISTS {source.raw_table} (\n  " + ",\n  ".join(cols) + "\n)"


QUARANTINE_DDL = f"""CREATE TABLE IF NOT EXISTS {QUARANTINE_TABLE} (
  source VARCHAR NOT NULL,
  partition_date DATE NOT NULL,
  reason VARCHAR NOT NULL,
  detail VARCHAR,
  row_json VARCHAR NOT NULL,
  source_file VARCHAR,
  ingested_at TIMESTAMP NOT NULL
)"""


def warehouse_ddl() -> list[str]:
    """Statements that create the ``raw`` schema; idempotent."""
    return ["CREATE SCHEMA IF NOT EXISTS raw", *(raw_table_ddl(s) for s in SOURCES.values()), QUARANTINE_DDL]

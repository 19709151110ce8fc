"""The contract's row rules and the DuckDB SQL that applies them (``safeguard.ingest``): why a row is quarantined,
which columns identify it, and how a landed value is cast to its contract type or found unreadable."""

from __future__ import annotations

from datetime import date, datetime

import pyarrow as pa

from safeguard.contract import Source
from safeguard.vocabulary import utcnow

# Every reason a row can be quarantined for. ``<col>`` is the column at fault, ``<key>`` the row's identity
# (``+``-joined when it has several columns). A row gets the first reason that applies, in this order.
QUARANTINE_REASONS: dict[str, str] = {
    "wrong_type:<col>": "the value cannot be read as the column's contract type (e.g. 'abc' or 1.5 for a count)",
    "null_key:<col>": "an identity column of the row is null (see IDENTITY_COLUMNS)",
    "null_value:<col>": "another column that the contract does not allow to be null is null",
    "negative_tokens:<col>": "a token count is below zero",
    "out_of_range:<col>": "a bounded number (classifier_score) is outside its range [0, 1], or NaN",
    "bad_length:<col>": "a country code is not exactly two letters",
    "unknown_enum:<col>": "a value outside the column's allowed set (contract enums are case-sensitive)",
    "timestamp_outside_day:<col>": "the row's day timestamp is not in [day, day + 1) UTC of its folder "
    "(a skewed producer clock, or a file in the wrong folder)",
    "created_after_updated": "an account version whose created_at is later than its updated_at",
    "duplicate_id:<key>": "the identity was already seen: earlier in the batch (first occurrence wins) or "
    "loaded for another day of the raw table; the detail says where",
}

# The columns that identify a row. Accounts are upserts: one account has a version per change, so its identity is
# (account_id, updated_at). A null in one of these is ``null_key``; a repeat of the tuple is ``duplicate_id``.
IDENTITY_COLUMNS: dict[str, tuple[str, ...]] = {
    "usage_events": ("event_id",),
    "accounts": ("account_id", "updated_at"),
    "enforcement_actions": ("action_id",),
}

# Row rules across two columns, (earlier, later, reason): quarantined when earlier > later.
ORDER_RULES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "accounts": (("created_at", "updated_at", "created_after_updated"),),
}

QUARANTINE_COLUMNS = (
    "source",
    "partition_date",
    "reason",
    "detail",
    "row_json",
    "source_file",
    "ingested_at",
)

_INTEGER_TYPES = {
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
    "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
}  # fmt: skip
_FLOAT_TYPES = {"FLOAT", "DOUBLE"}
# A timestamp written as text carries its own offset ("...Z", "...+02:00", "... -0500"): honour it.
_TEXT_OFFSET = r"\d\d:\d\d(:\d\d(\.\d+)?)?\s*([zZ]|[+-]\d\d(:?\d\d)?)$"
_ROW_ORDINAL = "_ingest_row_ordinal"


def cast_expr(col: str, physical: str, target: str) -> str:
    """SQL giving ``col`` in the warehouse type ``target``, or NULL where the value cannot be read losslessly."""
    if physical == target:
        return col
    if target == "TIMESTAMP":
        if physical == "TIMESTAMP WITH TIME ZONE":
            return f"timezone('UTC', {col})"
        if physical.startswith("TIMESTAMP"):  # other units; a timestamp without a zone is taken as UTC
            return f"CAST({col} AS TIMESTAMP)"
        text = as_text(col, physical)
        return (
            f"CASE WHEN regexp_matches({text}, '{_TEXT_OFFSET}') "
            f"THEN timezone('UTC', TRY_CAST({text} AS TIMESTAMPTZ)) ELSE TRY_CAST({text} AS TIMESTAMP) END"
        )
    numeric = physical in _INTEGER_TYPES or physical in _FLOAT_TYPES or physical.startswith("DECIMAL")
    if target == "BIGINT":  # never round: 1.5 tokens is a wrong type, not 2 tokens
        if physical in _INTEGER_TYPES:
            return f"TRY_CAST({col} AS BIGINT)"
        value = col if numeric else f"TRY_CAST({as_text(col, physical)} AS DOUBLE)"
        return f"CASE WHEN {value} = trunc({value}) THEN TRY_CAST({value} AS BIGINT) END"
    if target == "DOUBLE" and numeric:
        return f"TRY_CAST({col} AS DOUBLE)"
    return f"TRY_CAST({as_text(col, physical)} AS {target})"


def utc_naive(table: pa.Table) -> pa.Table:
    """Zone-aware microsecond timestamps as naive UTC, the warehouse convention.

    Arrow stores every zoned timestamp as UTC microseconds, so dropping the zone is a free change of type that
    keeps the instant; DuckDB would otherwise convert them row by row through ICU.
    """
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type) and f.type.tz is not None and f.type.unit == "us":
            table = table.set_column(i, f.name, table.column(i).cast(pa.timestamp("us")))
    return table


def struct_sql(columns: list[str], *, alias: str | None = None) -> str:
    """``struct_pack`` of ``columns`` under their own names (a JSON object once passed to ``to_json``)."""
    ref = f"{alias}." if alias else ""
    return "struct_pack(" + ", ".join(f"{quote_ident(c)} := {ref}{quote_ident(c)}" for c in columns) + ")"


def as_text(col: str, physical: str) -> str:
    return col if physical == "VARCHAR" else f"CAST({col} AS VARCHAR)"


def naive_arrow_schema(source: Source) -> pa.Schema:
    """The contract's Arrow schema with naive (UTC) timestamps, as the warehouse holds them."""
    return pa.schema(
        [f.with_type(pa.timestamp("us")) if pa.types.is_timestamp(f.type) else f for f in source.arrow_schema]
    )


def column_list(source: Source) -> str:
    return ", ".join(quote_ident(c) for c in source.column_names)


def iso_day(day: str) -> str:
    try:
        return date.fromisoformat(day).isoformat()
    except (TypeError, ValueError) as e:
        raise ValueError(f"not a day 'YYYY-MM-DD': {day!r}") from e


def now_utc() -> datetime:
    """Naive UTC, the warehouse convention."""
    return utcnow()


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"

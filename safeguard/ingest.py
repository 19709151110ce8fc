"""Validated ingestion: landing-zone days -> ``raw.<source>`` plus ``raw.quarantine`` (design §3.1).

Every input row ends in exactly one place: loaded into ``raw.<source>`` cast to the contract types, or put in
``raw.quarantine`` with one reason (see :data:`QUARANTINE_REASONS`), the offending value and the original row as
JSON. Nothing is dropped silently. The work happens in DuckDB SQL over each file's Arrow table (vectorized, no
Python per row), staged in a temporary table so that a month of a large world never sits in Python memory.

A day is published only whole: every file of every requested day is read and judged first, then exactly those
days are replaced in ``raw.<source>`` and in ``raw.quarantine`` (for that source) in one transaction. A failure
anywhere leaves the warehouse as it was; re-running a day replaces it exactly.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa

from safeguard.contract import QUARANTINE_TABLE, SOURCES, Source
from safeguard.landing import LandingError, LandingZone
from safeguard.load_log import record_loads
from safeguard.vocabulary import utcnow
from safeguard.warehouse import ensure_raw_schema, table_columns

log = logging.getLogger(__name__)

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


class MissingColumnError(LandingError):
    """A file lacks a column the contract requires; the file is refused and nothing of the batch is loaded."""


class IngestInvariantError(RuntimeError):
    """Rows read, loaded and quarantined do not add up: a bug, never a data problem; nothing was published."""


@dataclass(frozen=True)
class Validated:
    """One file's rows, judged: ``valid`` in contract types (naive UTC timestamps) and ``quarantine``."""

    valid: pa.Table
    quarantine: pa.Table  # QUARANTINE_COLUMNS
    extra_columns: tuple[str, ...]  # ignored columns not in the contract (kept in the quarantine's row_json)
    retyped_columns: dict[str, str]  # contract column -> Arrow type it arrived in, when not the contract's

    @property
    def rows_read(self) -> int:
        return self.valid.num_rows + self.quarantine.num_rows


@dataclass
class DayStats:
    day: str
    files: int
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def quarantine_share(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0


@dataclass
class IngestResult:
    """What one ``ingest_days`` call read, loaded and quarantined, per day and per reason."""

    source: str
    days: list[DayStats]
    files_read: list[str]  # full URIs
    extra_columns: tuple[str, ...]
    retyped_columns: dict[str, str]

    def day(self, day: str) -> DayStats:
        return next(d for d in self.days if d.day == day)

    @property
    def rows_read(self) -> int:
        return sum(d.rows_read for d in self.days)

    @property
    def rows_loaded(self) -> int:
        return sum(d.rows_loaded for d in self.days)

    @property
    def rows_quarantined(self) -> int:
        return sum(d.rows_quarantined for d in self.days)

    @property
    def quarantined_by_reason(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for d in self.days:
            total.update(d.quarantined_by_reason)
        return dict(sorted(total.items()))

    @property
    def quarantine_share(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0

    @property
    def worst_day(self) -> DayStats | None:
        """The day with the largest quarantine share (the one a threshold check looks at)."""
        return max(self.days, key=lambda d: d.quarantine_share, default=None)


def validate(source: Source, table: pa.Table, day: str, *, source_file: str) -> Validated:
    """Judge one file's rows against the contract for ``day`` (duplicates only within this table).

    Raises :class:`MissingColumnError` when a required column is absent.
    """
    day = _iso_day(day)
    con = duckdb.connect()
    try:
        stage = _Stage(con, source)
        stage.add(table, day, source_file)
        stage.mark_duplicates(replaced_days=None)
        valid = con.execute(
            f"SELECT {_column_list(source)} FROM {stage.name} WHERE _reason IS NULL ORDER BY _file_seq, _row"
        ).to_arrow_table()
        quarantine = con.execute(stage.quarantine_select(_now())).to_arrow_table()
        validated = Validated(
            valid=valid.cast(_naive_arrow_schema(source)),
            quarantine=quarantine,
            extra_columns=tuple(sorted(stage.extra_columns)),
            retyped_columns=dict(stage.retyped_columns),
        )
    finally:
        con.close()
    if validated.rows_read != table.num_rows:
        raise IngestInvariantError(
            f"{source_file}: read {table.num_rows} rows but judged {validated.rows_read} "
            f"({validated.valid.num_rows} valid, {validated.quarantine.num_rows} quarantined)"
        )
    return validated


def ingest_days(con: duckdb.DuckDBPyConnection, zone: LandingZone, source_name: str, days: list[str]) -> IngestResult:
    """Load ``days`` of one source from the landing zone, replacing exactly those days in the warehouse.

    Refuses the whole batch, touching nothing, when a day lacks ``_SUCCESS`` (``IncompleteDayError``), a file is
    not Parquet (``UnreadableFileError``) or lacks a contract column (:class:`MissingColumnError`).
    ``con`` must not be inside a transaction: the publish is its own.
    """
    if source_name not in SOURCES:
        raise KeyError(f"unknown source {source_name!r}; the contract has {sorted(SOURCES)}")
    source = SOURCES[source_name]
    days = sorted({_iso_day(d) for d in days})
    if not days:
        return IngestResult(source.name, [], [], (), {})
    listings = [zone.day_files(source.name, d) for d in days]  # every day must be complete before any read
    stage = _Stage(con, source)
    digests: dict[str, dict[str, str]] = {listing.day: {} for listing in listings}  # day -> file name -> sha256
    try:
        for listing in listings:
            for rel in listing.files:
                table, digest = zone.read_file_digest(rel)
                digests[listing.day][rel.rsplit("/", 1)[-1]] = digest
                stage.add(table, listing.day, zone.store.full_uri(rel))
        stage.mark_duplicates(replaced_days=days)
        result = stage.result({listing.day: len(listing.files) for listing in listings})
        stage.publish(days, result, digests)
    finally:
        stage.drop()
    for name in result.extra_columns:
        log.warning("%s: ignored column %r not in the contract (days %s)", source.name, name, days)
    return result


class _Stage:
    """A temporary table on ``con`` holding a batch's rows, typed and judged, before they are published.

    Columns: the contract columns in warehouse types, the lineage columns of ``raw.<source>``, and
    ``_file_seq``/``_row`` (input order, for "first occurrence wins"), ``_reason``, ``_detail``, ``_row_json``
    (the original row, kept only for rows a per-row rule rejects: a JSON copy of every row would double the
    stage) and ``_extra_json`` (the columns outside the contract, only for files that have some). A row found to be
    a duplicate later passed every per-row rule, so its typed values are its values: its JSON is rebuilt from them
    and ``_extra_json``.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, source: Source):
        self.con = con
        self.source = source
        self.identity = IDENTITY_COLUMNS.get(source.name, (source.key,))
        self.name = f"_ingest_stage_{source.name}"
        ensure_raw_schema(con)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {self.name} AS SELECT *, NULL::INTEGER AS _file_seq, "
            "NULL::BIGINT AS _row, NULL::VARCHAR AS _reason, NULL::VARCHAR AS _detail, NULL::VARCHAR AS _row_json, "
            "NULL::VARCHAR AS _extra_json "
            f"FROM {source.raw_table} LIMIT 0"
        )
        warehouse_types = table_columns(con, source.raw_table)
        self.types = {c: warehouse_types[c] for c in source.column_names}
        self.file_seq = itertools.count()
        self.rows_read: Counter[str] = Counter()  # per day, counted from the Arrow tables as they arrive
        self.files_read: list[str] = []
        self.extra_columns: set[str] = set()
        self.retyped_columns: dict[str, str] = {}

    def add(self, table: pa.Table, day: str, source_file: str) -> None:
        """Type and judge one file's rows into the stage; refuses a file missing a contract column."""
        missing = [c for c in self.source.column_names if c not in table.column_names]
        if missing:
            raise MissingColumnError(
                f"{source_file}: missing required column(s) {', '.join(missing)} of {self.source.name}; "
                "the file was refused and nothing of this batch was loaded"
            )
        extra = [c for c in table.column_names if c not in self.types]
        self.extra_columns.update(extra)
        contract_types = self.source.arrow_schema
        for name in self.source.column_names:
            if table.schema.field(name).type != contract_types.field(name).type:
                self.retyped_columns[name] = str(table.schema.field(name).type)
        view = f"_ingest_file_{self.source.name}"
        ordinal = pa.array(np.arange(table.num_rows, dtype=np.int64))
        self.con.register(view, _utc_naive(table).append_column(_ROW_ORDINAL, ordinal))
        try:
            physical = {c: t for c, t in table_columns(self.con, view).items() if c in self.types}
            self.con.execute(self._judge_sql(view, physical, day, extra, next(self.file_seq)), [source_file])
        finally:
            self.con.unregister(view)
        self.rows_read[day] += table.num_rows
        self.files_read.append(source_file)

    def _judge_sql(self, view: str, physical: dict[str, str], day: str, extra: list[str], file_seq: int) -> str:
        """``INSERT`` of one registered file into the stage: typed columns, first failing rule, original row."""
        cols = self.source.columns
        typed = {c.name: _q(f"_typed_{i}") for i, c in enumerate(cols)}
        casts = ", ".join(
            f"{_cast_expr(_q(c.name), physical[c.name], self.types[c.name])} AS {typed[c.name]}" for c in cols
        )
        rules: list[tuple[str, str, str]] = []  # (condition, reason, detail)
        for c in cols:
            if physical[c.name] != self.types[c.name]:
                raw = _q(c.name)
                rules.append(
                    (
                        f"{raw} IS NOT NULL AND {typed[c.name]} IS NULL",
                        f"wrong_type:{c.name}",
                        f"CAST({raw} AS VARCHAR)",
                    )
                )
        for c in cols:
            if not c.nullable:
                kind = "null_key" if c.name in self.identity else "null_value"
                rules.append((f"{_q(c.name)} IS NULL", f"{kind}:{c.name}", "NULL"))
        for c in cols:
            t, text = typed[c.name], f"CAST({typed[c.name]} AS VARCHAR)"
            if c.min_value is not None or c.max_value is not None:
                bounds = [f"{t} >= {c.min_value!r}"] * (c.min_value is not None)
                bounds += [f"{t} <= {c.max_value!r}"] * (c.max_value is not None)
                nan = f" OR isnan({t})" if self.types[c.name] == "DOUBLE" else ""
                kind = "negative_tokens" if c.name.endswith("_tokens") else "out_of_range"
                rules.append((f"NOT ({' AND '.join(bounds)}){nan}", f"{kind}:{c.name}", text))
            if c.length is not None:
                rules.append((f"NOT regexp_full_match({t}, '[A-Za-z]{{{c.length}}}')", f"bad_length:{c.name}", t))
            if c.enum is not None:
                rules.append((f"{t} NOT IN ({', '.join(map(_lit, c.enum))})", f"unknown_enum:{c.name}", t))
        start = date.fromisoformat(day)
        t = typed[self.source.day_column]
        rules.append(
            (
                f"{t} < TIMESTAMP '{start}' OR {t} >= TIMESTAMP '{start + timedelta(days=1)}'",
                f"timestamp_outside_day:{self.source.day_column}",
                f"CAST({t} AS VARCHAR)",
            )
        )
        for earlier, later, reason in ORDER_RULES.get(self.source.name, ()):
            a, b = typed[earlier], typed[later]
            rules.append((f"{a} > {b}", reason, f"CAST({a} AS VARCHAR) || ' > ' || CAST({b} AS VARCHAR)"))

        which = " ".join(f"WHEN {cond} THEN {i}" for i, (cond, _, _) in enumerate(rules, start=1))
        reasons = "[" + ", ".join(_lit(reason) for _, reason, _ in rules) + "]"
        detail = " ".join(f"WHEN {i} THEN {d}" for i, (_, _, d) in enumerate(rules, start=1))
        original = _struct([c.name for c in cols] + extra)
        extra_json = f"to_json({_struct(extra)})" if extra else "NULL"
        outputs = ", ".join(f"{typed[c.name]} AS {_q(c.name)}" for c in cols)
        return f"""
            INSERT INTO {self.name} BY NAME
            SELECT {outputs},
                   DATE '{day}' AS _partition_date, $1 AS _source_file,
                   {file_seq} AS _file_seq, {_ROW_ORDINAL} AS _row,
                   {reasons}[_rule] AS _reason,
                   CASE _rule {detail} END AS _detail,
                   CASE WHEN _rule IS NOT NULL THEN to_json({original}) END AS _row_json,
                   {extra_json} AS _extra_json
            FROM (SELECT *, CASE {which} END AS _rule FROM (SELECT *, {casts} FROM {view}))
        """

    def mark_duplicates(self, replaced_days: list[str] | None) -> None:
        """Quarantine repeated identities: those already in ``raw.<source>`` for a day this batch does not
        replace (when ``replaced_days`` is given), then repeats within the batch after the first occurrence."""
        keys = [_q(k) for k in self.identity]
        reason = _lit("duplicate_id:" + "+".join(self.identity))

        def shown(alias: str) -> str:  # the identity as text, for the detail
            return " || ', ' || ".join(f"CAST({alias}.{k} AS VARCHAR)" for k in keys)

        def same(a: str, b: str) -> str:
            return " AND ".join(f"{a}.{k} = {b}.{k}" for k in keys)

        row_json = (
            f"CAST(json_merge_patch(to_json({_struct(self.source.column_names, alias='s')}), "
            "coalesce(s._extra_json, '{}')) AS VARCHAR)"
        )

        if replaced_days is not None:
            replaced = ", ".join(f"DATE '{d}'" for d in replaced_days)
            self.con.execute(f"""
                UPDATE {self.name} AS s SET _reason = {reason}, _row_json = {row_json},
                       _detail = {shown("s")} || ' (already loaded for ' || r.loaded || ')'
                FROM (SELECT {", ".join(f"r.{k}" for k in keys)}, CAST(min(r._partition_date) AS VARCHAR) AS loaded
                      FROM {self.source.raw_table} AS r
                      SEMI JOIN (SELECT {", ".join(keys)} FROM {self.name} WHERE _reason IS NULL) AS b
                           ON {same("r", "b")}
                      WHERE r._partition_date NOT IN ({replaced})
                      GROUP BY ALL) AS r
                WHERE s._reason IS NULL AND {same("s", "r")}
            """)
        self.con.execute(f"""
            UPDATE {self.name} AS s SET _reason = {reason}, _detail = d.detail, _row_json = {row_json}
            FROM (SELECT _file_seq, _row,
                         {shown("t")} || ' (first seen in ' || first_value(_source_file) OVER w || ')' AS detail,
                         row_number() OVER w AS n
                  FROM {self.name} AS t
                  SEMI JOIN (SELECT {", ".join(keys)} FROM {self.name} WHERE _reason IS NULL
                             GROUP BY ALL HAVING count(*) > 1) AS repeated ON {same("t", "repeated")}
                  WHERE t._reason IS NULL
                  WINDOW w AS (PARTITION BY {", ".join(f"t.{k}" for k in keys)} ORDER BY _file_seq, _row)) AS d
            WHERE d.n > 1 AND s._file_seq = d._file_seq AND s._row = d._row
        """)

    def result(self, files_per_day: dict[str, int]) -> IngestResult:
        """Per-day counts from the stage, checked against the rows read from the files."""
        counts = {
            day: (total, loaded)
            for day, total, loaded in self.con.execute(
                f"SELECT CAST(_partition_date AS VARCHAR), count(*), count(*) FILTER (WHERE _reason IS NULL) "
                f"FROM {self.name} GROUP BY ALL"
            ).fetchall()
        }
        reasons: dict[str, dict[str, int]] = {}
        for day, reason, n in self.con.execute(
            f"SELECT CAST(_partition_date AS VARCHAR), _reason, count(*) FROM {self.name} "
            "WHERE _reason IS NOT NULL GROUP BY ALL ORDER BY ALL"
        ).fetchall():
            reasons.setdefault(day, {})[reason] = n
        days = []
        for day, files in files_per_day.items():
            total, loaded = counts.get(day, (0, 0))
            if total != self.rows_read[day]:
                raise IngestInvariantError(
                    f"{self.source.name} {day}: read {self.rows_read[day]} rows from the files "
                    f"but staged {total}; nothing was published"
                )
            days.append(DayStats(day, files, total, loaded, total - loaded, reasons.get(day, {})))
        return IngestResult(
            self.source.name,
            days,
            list(self.files_read),
            tuple(sorted(self.extra_columns)),
            dict(self.retyped_columns),
        )

    def quarantine_select(self, ingested_at: datetime) -> str:
        return (
            f"SELECT {_lit(self.source.name)} AS source, _partition_date AS partition_date, _reason AS reason, "
            f"_detail AS detail, _row_json AS row_json, _source_file AS source_file, "
            f"TIMESTAMP '{ingested_at.isoformat(sep=' ')}' AS ingested_at "
            f"FROM {self.name} WHERE _reason IS NOT NULL"
        )

    def publish(self, days: list[str], result: IngestResult, digests: dict[str, dict[str, str]]) -> None:
        """Replace exactly ``days`` of ``raw.<source>``, of this source's quarantine and of its load log
        (``raw.landing_loads``, with the files' digests), in one transaction."""
        raw, cols = self.source.raw_table, _column_list(self.source)
        in_days = f"IN ({', '.join(f'DATE {_lit(d)}' for d in days)})"
        now = _now()
        self.con.execute("BEGIN TRANSACTION")
        try:
            self.con.execute(f"DELETE FROM {raw} WHERE _partition_date {in_days}")
            self.con.execute(
                f"DELETE FROM {QUARANTINE_TABLE} WHERE source = ? AND partition_date {in_days}",
                [self.source.name],
            )
            self.con.execute(
                f"INSERT INTO {raw} ({cols}, _partition_date, _source_file, _ingested_at) "
                f"SELECT {cols}, _partition_date, _source_file, TIMESTAMP '{now.isoformat(sep=' ')}' "
                f"FROM {self.name} WHERE _reason IS NULL"  # a scan keeps the stage's (input) order
            )
            self.con.execute(f"INSERT INTO {QUARANTINE_TABLE} {self.quarantine_select(now)}")
            (loaded,) = self.con.execute(f"SELECT count(*) FROM {raw} WHERE _partition_date {in_days}").fetchone()
            (quarantined,) = self.con.execute(
                f"SELECT count(*) FROM {QUARANTINE_TABLE} WHERE source = ? AND partition_date {in_days}",
                [self.source.name],
            ).fetchone()
            if (loaded, quarantined) != (result.rows_loaded, result.rows_quarantined) or (
                loaded + quarantined != result.rows_read
            ):
                raise IngestInvariantError(
                    f"{self.source.name} {days}: read {result.rows_read} rows but would publish {loaded} loaded "
                    f"+ {quarantined} quarantined (expected {result.rows_loaded} + {result.rows_quarantined}); "
                    "rolled back"
                )
            record_loads(
                self.con,
                self.source.name,
                digests,
                {d.day: (d.rows_read, d.rows_loaded, d.rows_quarantined) for d in result.days},
                now,
            )
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def drop(self) -> None:
        self.con.execute(f"DROP TABLE IF EXISTS {self.name}")


def _cast_expr(col: str, physical: str, target: str) -> str:
    """SQL giving ``col`` in the warehouse type ``target``, or NULL where the value cannot be read losslessly."""
    if physical == target:
        return col
    if target == "TIMESTAMP":
        if physical == "TIMESTAMP WITH TIME ZONE":
            return f"timezone('UTC', {col})"
        if physical.startswith("TIMESTAMP"):  # other units; a timestamp without a zone is taken as UTC
            return f"CAST({col} AS TIMESTAMP)"
        text = _as_text(col, physical)
        return (
            f"CASE WHEN regexp_matches({text}, '{_TEXT_OFFSET}') "
            f"THEN timezone('UTC', TRY_CAST({text} AS TIMESTAMPTZ)) ELSE TRY_CAST({text} AS TIMESTAMP) END"
        )
    numeric = physical in _INTEGER_TYPES or physical in _FLOAT_TYPES or physical.startswith("DECIMAL")
    if target == "BIGINT":  # never round: 1.5 tokens is a wrong type, not 2 tokens
        if physical in _INTEGER_TYPES:
            return f"TRY_CAST({col} AS BIGINT)"
        value = col if numeric else f"TRY_CAST({_as_text(col, physical)} AS DOUBLE)"
        return f"CASE WHEN {value} = trunc({value}) THEN TRY_CAST({value} AS BIGINT) END"
    if target == "DOUBLE" and numeric:
        return f"TRY_CAST({col} AS DOUBLE)"
    return f"TRY_CAST({_as_text(col, physical)} AS {target})"


def _utc_naive(table: pa.Table) -> pa.Table:
    """Zone-aware microsecond timestamps as naive UTC, the warehouse convention.

    Arrow stores every zoned timestamp as UTC microseconds, so dropping the zone is a free change of type that
    keeps the instant; DuckDB would otherwise convert them row by row through ICU.
    """
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type) and f.type.tz is not None and f.type.unit == "us":
            table = table.set_column(i, f.name, table.column(i).cast(pa.timestamp("us")))
    return table


def _struct(columns: list[str], *, alias: str | None = None) -> str:
    """``struct_pack`` of ``columns`` under their own names (a JSON object once passed to ``to_json``)."""
    ref = f"{alias}." if alias else ""
    return "struct_pack(" + ", ".join(f"{_q(c)} := {ref}{_q(c)}" for c in columns) + ")"


def _as_text(col: str, physical: str) -> str:
    return col if physical == "VARCHAR" else f"CAST({col} AS VARCHAR)"


def _naive_arrow_schema(source: Source) -> pa.Schema:
    """The contract's Arrow schema with naive (UTC) timestamps, as the warehouse holds them."""
    return pa.schema(
        [f.with_type(pa.timestamp("us")) if pa.types.is_timestamp(f.type) else f for f in source.arrow_schema]
    )


def _column_list(source: Source) -> str:
    return ", ".join(_q(c) for c in source.column_names)


def _iso_day(day: str) -> str:
    try:
        return date.fromisoformat(day).isoformat()
    except (TypeError, ValueError) as e:
        raise ValueError(f"not a day 'YYYY-MM-DD': {day!r}") from e


def _now() -> datetime:
    """Naive UTC, the warehouse convention."""
    return utcnow()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"

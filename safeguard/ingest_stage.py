"""The staging table of an ingestion batch (``safeguard.ingest``): every file's rows typed and judged in DuckDB SQL,
duplicates marked, then exactly the batch's days replaced in ``raw.<source>`` and ``raw.quarantine`` in one
transaction, with the load log."""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from datetime import date, datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa

from safeguard.contract import QUARANTINE_TABLE, Source
from safeguard.ingest_result import DayStats, IngestInvariantError, IngestResult, MissingColumnError
from safeguard.ingest_rules import (
    _ROW_ORDINAL,
    IDENTITY_COLUMNS,
    ORDER_RULES,
    cast_expr,
    column_list,
    now_utc,
    quote_ident,
    quote_literal,
    struct_sql,
    utc_naive,
)
from safeguard.load_log import record_loads
from safeguard.warehouse import ensure_raw_schema, table_columns

log = logging.getLogger(__name__)


class Stage:
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
        self.con.register(view, utc_naive(table).append_column(_ROW_ORDINAL, ordinal))
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
        typed = {c.name: quote_ident(f"_typed_{i}") for i, c in enumerate(cols)}
        casts = ", ".join(
            f"{cast_expr(quote_ident(c.name), physical[c.name], self.types[c.name])} AS {typed[c.name]}" for c in cols
        )
        rules: list[tuple[str, str, str]] = []  # (condition, reason, detail)
        for c in cols:
            if physical[c.name] != self.types[c.name]:
                raw = quote_ident(c.name)
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
                rules.append((f"{quote_ident(c.name)} IS NULL", f"{kind}:{c.name}", "NULL"))
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
                rules.append((f"{t} NOT IN ({', '.join(map(quote_literal, c.enum))})", f"unknown_enum:{c.name}", t))
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
        reasons = "[" + ", ".join(quote_literal(reason) for _, reason, _ in rules) + "]"
        detail = " ".join(f"WHEN {i} THEN {d}" for i, (_, _, d) in enumerate(rules, start=1))
        original = struct_sql([c.name for c in cols] + extra)
        extra_json = f"to_json({struct_sql(extra)})" if extra else "NULL"
        outputs = ", ".join(f"{typed[c.name]} AS {quote_ident(c.name)}" for c in cols)
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
        keys = [quote_ident(k) for k in self.identity]
        reason = quote_literal("duplicate_id:" + "+".join(self.identity))

        def shown(alias: str) -> str:  # the identity as text, for the detail
            return " || ', ' || ".join(f"CAST({alias}.{k} AS VARCHAR)" for k in keys)

        def same(a: str, b: str) -> str:
            return " AND ".join(f"{a}.{k} = {b}.{k}" for k in keys)

        row_json = (
            f"CAST(json_merge_patch(to_json({struct_sql(self.source.column_names, alias='s')}), "
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
            f"SELECT {quote_literal(self.source.name)} AS source, _partition_date AS partition_date, _reason AS reason, "
            f"_detail AS detail, _row_json AS row_json, _source_file AS source_file, "
            f"TIMESTAMP '{ingested_at.isoformat(sep=' ')}' AS ingested_at "
            f"FROM {self.name} WHERE _reason IS NOT NULL"
        )

    def publish(self, days: list[str], result: IngestResult, digests: dict[str, dict[str, str]]) -> None:
        """Replace exactly ``days`` of ``raw.<source>``, of this source's quarantine and of its load log
        (``raw.landing_loads``, with the files' digests), in one transaction."""
        raw, cols = self.source.raw_table, column_list(self.source)
        in_days = f"IN ({', '.join(f'DATE {quote_literal(d)}' for d in days)})"
        now = now_utc()
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

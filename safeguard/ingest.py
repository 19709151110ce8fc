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

import logging

import duckdb
import pyarrow as pa

from safeguard.contract import SOURCES, Source
from safeguard.ingest_result import DayStats, IngestInvariantError, IngestResult, MissingColumnError, Validated
from safeguard.ingest_rules import (
    IDENTITY_COLUMNS,
    ORDER_RULES,
    QUARANTINE_COLUMNS,
    QUARANTINE_REASONS,
    column_list,
    iso_day,
    naive_arrow_schema,
    now_utc,
)
from safeguard.ingest_stage import Stage
from safeguard.landing import LandingZone

log = logging.getLogger(__name__)

__all__ = [  # the module's public face; the rules, the results and the stage live in their own modules
    "IDENTITY_COLUMNS",
    "ORDER_RULES",
    "QUARANTINE_COLUMNS",
    "QUARANTINE_REASONS",
    "DayStats",
    "IngestInvariantError",
    "IngestResult",
    "MissingColumnError",
    "Validated",
    "ingest_days",
    "validate",
]


def validate(source: Source, table: pa.Table, day: str, *, source_file: str) -> Validated:
    """Judge one file's rows against the contract for ``day`` (duplicates only within this table).

    Raises :class:`MissingColumnError` when a required column is absent.
    """
    day = iso_day(day)
    con = duckdb.connect()
    try:
        stage = Stage(con, source)
        stage.add(table, day, source_file)
        stage.mark_duplicates(replaced_days=None)
        valid = con.execute(
            f"SELECT {column_list(source)} FROM {stage.name} WHERE _reason IS NULL ORDER BY _file_seq, _row"
        ).to_arrow_table()
        quarantine = con.execute(stage.quarantine_select(now_utc())).to_arrow_table()
        validated = Validated(
            valid=valid.cast(naive_arrow_schema(source)),
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
    days = sorted({iso_day(d) for d in days})
    if not days:
        return IngestResult(source.name, [], [], (), {})
    listings = [zone.day_files(source.name, d) for d in days]  # every day must be complete before any read
    stage = Stage(con, source)
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

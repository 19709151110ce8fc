"""What ingestion loaded, day by day and source by source; owns ``raw.landing_loads`` (issue 16).

One row per (source, day) loaded into the warehouse, replaced each time the day is loaded again, written in the
same transaction as the day's rows (:meth:`safeguard.ingest_stage.Stage.publish`), so it says exactly what the raw
tables hold:

- ``content_sha256``: the day's content digest (:func:`day_digest`): the SHA-256 of every data file's name and
  the SHA-256 of its bytes, as read. A re-landed day with other bytes has another digest; the landing-zone
  sensor computes the same digest of what the landing zone holds now (:mod:`safeguard.landing_changes`).
- ``file_sha256_json``: each file's own SHA-256, by name, so an operator can tell which file changed;
- ``files``, ``rows_read``, ``rows_loaded``, ``rows_quarantined``, ``loaded_at``.

A day folder with ``_SUCCESS`` and no data file is loaded as an empty day and recorded here with zero rows: the
day is *present* (the volume checks judge whether empty is plausible), which is what the feature-window
completeness check (:mod:`safeguard.completeness`) reads.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime

import duckdb

LOADS_TABLE = "raw.landing_loads"

LOADS_DDL = f"""CREATE TABLE IF NOT EXISTS {LOADS_TABLE} (
  source VARCHAR NOT NULL,
  day DATE NOT NULL,
  content_sha256 VARCHAR NOT NULL,
  file_sha256_json VARCHAR NOT NULL,
  files INTEGER NOT NULL,
  rows_read BIGINT NOT NULL,
  rows_loaded BIGINT NOT NULL,
  rows_quarantined BIGINT NOT NULL,
  loaded_at TIMESTAMP NOT NULL,
  volume_check VARCHAR
)"""
# volume_check: the verdict of ingestion's volume check on the day (safeguard.volume): 'passed', 'accepted' (an
# operator's override) or 'failed'; NULL until judged. A failed day is loaded but not usable: feature windows
# treat it as missing until it is re-landed or accepted.
VOLUME_FAILED = "failed"


def file_digest(data: bytes) -> str:
    """The SHA-256 of a file's bytes, hex."""
    return hashlib.sha256(data).hexdigest()


def day_digest(file_digests: Mapping[str, str]) -> str:
    """A day's content digest from its data files' digests, keyed by file name (not path: the same files under
    another root have the same digest). Order-free; an empty day has the digest of nothing."""
    h = hashlib.sha256()
    for name in sorted(file_digests):
        h.update(f"{name}\t{file_digests[name]}\n".encode())
    return h.hexdigest()


def record_loads(
    con: duckdb.DuckDBPyConnection,
    source: str,
    digests: Mapping[str, Mapping[str, str]],
    stats: Mapping[str, tuple[int, int, int]],
    loaded_at: datetime,
) -> None:
    """Replace the rows of ``source`` for the days of ``digests`` (day -> {file name: sha256}); ``stats`` gives
    (rows_read, rows_loaded, rows_quarantined) per day. Runs inside the caller's transaction."""
    days = sorted(digests)
    if not days:
        return
    con.execute(
        f"DELETE FROM {LOADS_TABLE} WHERE source = ? AND day IN ({', '.join('?::DATE' for _ in days)})",
        [source, *days],
    )
    con.executemany(
        f"INSERT INTO {LOADS_TABLE} VALUES (?, ?::DATE, ?, ?, ?, ?, ?, ?, ?, NULL)",
        [
            [
                source,
                day,
                day_digest(digests[day]),
                json.dumps(dict(sorted(digests[day].items()))),
                len(digests[day]),
                *stats[day],
                loaded_at,
            ]
            for day in days
        ],
    )


def record_volume_checks(con: duckdb.DuckDBPyConnection, source: str, verdicts: Mapping[str, str]) -> None:
    """Record the volume check's verdict (day -> 'passed' | 'accepted' | 'failed') on the days' loads."""
    for day, verdict in verdicts.items():
        con.execute(
            f"UPDATE {LOADS_TABLE} SET volume_check = ? WHERE source = ? AND day = ?::DATE", [verdict, source, day]
        )


def loaded_days(con: duckdb.DuckDBPyConnection, sources: list[str]) -> dict[str, set[str]]:
    """The days each source has a usable load of: recorded (an empty day included) and not failed by the volume
    check."""
    loaded: dict[str, set[str]] = {s: set() for s in sources}
    for source, day in con.execute(
        f"SELECT source, CAST(day AS VARCHAR) FROM {LOADS_TABLE} WHERE volume_check IS DISTINCT FROM ?",
        [VOLUME_FAILED],
    ).fetchall():
        if source in loaded:
            loaded[source].add(day)
    return loaded


def recorded_digests(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, str]:
    """day -> content digest of every recorded load of ``source``."""
    return dict(
        con.execute(
            f"SELECT CAST(day AS VARCHAR), content_sha256 FROM {LOADS_TABLE} WHERE source = ?", [source]
        ).fetchall()
    )

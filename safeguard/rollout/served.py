"""The served scores: which model's score each account gets each day; owns ``scoring.served_risk_scores``.

Both models score every account every day (``scoring.account_risk_scores``); serving only chooses. For a day with a
rollout in a live stage (:meth:`safeguard.rollout.state.RolloutStore.state_for_day`):
- shadow: everyone is served the champion, arm ``shadow`` (the candidate is scored, never served);
- a canary stage at p %: accounts with ``bucket <= p`` (the rollout id salts the bucket) are served the
  candidate, arm ``candidate``; everyone else the champion, arm ``champion``.
Without one (none started, or it ended: rolled back, aborted or completed), every account is served the day's
champion-role score with arm ``champion``. The stage comes from the audit log, so serving a day again gives the same
rows. Bucketing is vectorized in :func:`safeguard.rollout.bucketing.buckets`, the rest is one DuckDB statement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from time import monotonic, sleep

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from safeguard.dates import as_date
from safeguard.rollout.bucketing import buckets
from safeguard.rollout.state import RolloutState
from safeguard.scoring import SCORES_TABLE
from safeguard.vocabulary import CHAMPION, SERVED_TABLE, SHADOW
from safeguard.warehouse import table_exists, transaction

# One row per (score_date, account_id); serve_day keeps that by replacing whole days.
SERVED_DDL = f"""CREATE TABLE IF NOT EXISTS {SERVED_TABLE} (
  score_date DATE NOT NULL,
  account_id VARCHAR NOT NULL,
  served_model_version VARCHAR NOT NULL,
  arm VARCHAR NOT NULL,
  probability DOUBLE NOT NULL,
  tier VARCHAR NOT NULL,
  reasons_json VARCHAR NOT NULL,
  explained BOOLEAN NOT NULL,
  champion_version VARCHAR NOT NULL,
  candidate_version VARCHAR,
  rollout_id VARCHAR,
  stage VARCHAR,
  bucket UTINYINT
)"""

# The day's rows, from the champion's scores (every account it scored), its bucket and the candidate's scores.
_SERVE_SQL = f"""
WITH champion AS (
  SELECT * FROM {SCORES_TABLE} WHERE score_date = $day::DATE AND model_version = $champion
), candidate AS (
  SELECT * FROM {SCORES_TABLE} WHERE score_date = $day::DATE AND model_version = $candidate
), assigned AS (
  SELECT ch.*, b.bucket, coalesce(b.bucket <= $percent, FALSE) AS in_arm
  FROM champion AS ch JOIN _served_buckets AS b USING (account_id)
)
SELECT
  $day::DATE AS score_date,
  a.account_id,
  CASE WHEN a.in_arm THEN cd.model_version ELSE a.model_version END AS served_model_version,
  CASE WHEN a.in_arm THEN 'candidate' ELSE $base_arm END AS arm,
  CASE WHEN a.in_arm THEN cd.probability ELSE a.probability END AS probability,
  CASE WHEN a.in_arm THEN cd.tier ELSE a.tier END AS tier,
  coalesce(CASE WHEN a.in_arm THEN cd.reasons_json ELSE a.reasons_json END, '[]') AS reasons_json,
  CASE WHEN a.in_arm THEN cd.explained ELSE a.explained END AS explained,
  a.model_version AS champion_version,
  $candidate AS candidate_version,
  $rollout_id AS rollout_id,
  $stage AS stage,
  a.bucket,
  a.in_arm AND cd.account_id IS NULL AS candidate_missing
FROM assigned AS a LEFT JOIN candidate AS cd USING (account_id)
"""


class ServingError(ValueError):
    """A day cannot be served; the message names the day and what is missing."""


@dataclass
class ServedDay:
    day: str
    rows: int
    rollout_id: str | None
    stage: str | None
    arms: dict[str, int] = field(default_factory=dict)  # arm -> accounts
    versions: dict[str, int] = field(default_factory=dict)  # served model version -> accounts
    tiers: dict[str, int] = field(default_factory=dict)  # served tier -> accounts


def ensure_served_table(con) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS scoring")
    con.execute(SERVED_DDL)


def last_served_day(con) -> date | None:
    """The latest day in ``scoring.served_risk_scores`` (None before anything was served).

    Rollout decisions take effect after it, so no day already served ever changes its assignment.
    """
    if not table_exists(con, SERVED_TABLE):
        return None
    return con.execute(f"SELECT max(score_date) FROM {SERVED_TABLE}").fetchone()[0]


def last_served_day_in(warehouse_path: str, *, wait_seconds: float = 60.0) -> date | None:
    """:func:`last_served_day` of the warehouse file, opened read-only; for a process outside Dagster.

    DuckDB lets no other process open a file while a run writes it, so this waits (up to ``wait_seconds``) for
    the writer to finish rather than guess: a wrong answer would let an action change an already served day.
    """
    if not Path(warehouse_path).exists():
        return None
    deadline = monotonic() + wait_seconds
    while True:
        try:
            with duckdb.connect(warehouse_path, read_only=True) as con:
                return last_served_day(con)
        except duckdb.IOException as e:
            if monotonic() >= deadline:
                raise ServingError(
                    f"the warehouse {warehouse_path} stayed locked by another process for {wait_seconds:.0f}s "
                    f"({e}); retry when the running step ends, or launch the rollout job from Dagster"
                ) from e
            sleep(1.0)


def _champion_version(con, day: str) -> str:
    versions = [
        v
        for (v,) in con.execute(
            f"SELECT DISTINCT model_version FROM {SCORES_TABLE} WHERE score_date = ?::DATE AND model_role = ?",
            [day, CHAMPION],
        ).fetchall()
    ]
    if not versions:
        raise ServingError(f"{day}: no champion scores in {SCORES_TABLE}; materialize account_risk_scores first")
    if len(versions) > 1:
        raise ServingError(f"{day}: several champion versions {sorted(versions)} in {SCORES_TABLE}; re-score the day")
    return versions[0]


def _counts(con, column: str) -> dict[str, int]:
    return dict(con.execute(f"SELECT {column}, count(*) FROM _served_day GROUP BY 1 ORDER BY 1").fetchall())


def serve_day(con, day: date | str, rollout_state: RolloutState | None) -> ServedDay:
    """Replace ``day`` of ``scoring.served_risk_scores`` with the day's served rows (see the module docstring).

    ``rollout_state``: the rollout in effect that day (``RolloutStore.state_for_day``), or None for champion only.
    Fails, writing nothing, when the scores it needs are missing or duplicated.
    """
    day = as_date(day).isoformat()
    if not table_exists(con, SCORES_TABLE):
        raise ServingError(f"{day}: {SCORES_TABLE} does not exist; materialize account_risk_scores first")
    state = rollout_state
    champion = state.champion_version if state else _champion_version(con, day)
    ids = (
        con.execute(
            f"SELECT account_id FROM {SCORES_TABLE} WHERE score_date = ?::DATE AND model_version = ?",
            [day, champion],
        )
        .to_arrow_table()
        .column("account_id")
    )
    if len(ids) == 0:
        raise ServingError(
            f"{day}: no scores of champion {champion} in {SCORES_TABLE}; materialize account_risk_scores"
        )
    duplicated = len(ids) - pc.count_distinct(ids).as_py()
    if duplicated:
        raise ServingError(f"{day}: {duplicated} duplicate account row(s) of model {champion} in {SCORES_TABLE}")
    bucket_values = (
        pa.array(buckets(ids, salt=state.rollout_id), type=pa.uint8()) if state else pa.nulls(len(ids), pa.uint8())
    )
    params = {
        "day": day,
        "champion": champion,
        "candidate": state.candidate_version if state else None,
        "percent": state.stage.percent if state else 0,
        "base_arm": SHADOW if state and state.is_shadow else CHAMPION,
        "rollout_id": state.rollout_id if state else None,
        "stage": state.stage.name if state else None,
    }
    con.register("_served_buckets", pa.table({"account_id": ids, "bucket": bucket_values}))
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _served_day AS {_SERVE_SQL}", params)
        missing = con.execute("SELECT count(*), min(account_id) FROM _served_day WHERE candidate_missing").fetchone()
        if missing[0]:
            raise ServingError(
                f"{day}: {missing[0]} account(s) of the candidate arm of rollout {state.rollout_id} ({state.stage.name})"
                f" have no score of candidate {state.candidate_version} in {SCORES_TABLE} (e.g. {missing[1]}); "
                "re-score the day, or abort the rollout"
            )
        ensure_served_table(con)
        with transaction(con):
            con.execute(f"DELETE FROM {SERVED_TABLE} WHERE score_date = ?::DATE", [day])
            con.execute(f"INSERT INTO {SERVED_TABLE} BY NAME SELECT * EXCLUDE (candidate_missing) FROM _served_day")
        return ServedDay(
            day=day,
            rows=len(ids),
            rollout_id=params["rollout_id"],
            stage=params["stage"],
            arms=_counts(con, "arm"),
            versions=_counts(con, "served_model_version"),
            tiers=_counts(con, "tier"),
        )
    finally:
        con.unregister("_served_buckets")
        con.execute("DROP TABLE IF EXISTS _served_day")

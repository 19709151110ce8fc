"""Idempotence (issue 8 §3): running a day again, or a backfill again, writes exactly the same data.

The world: a generated landing zone of 300 accounts over 3 days (plus one bad row, so the quarantine holds
something), a registry with a champion and a candidate (small real models over the real feature catalog: the
daily pipeline does not train), and a staged rollout started before the first day, so each day serves, evaluates
guardrails and records decisions. Then, through the code location's own ``daily_pipeline`` job (ingestion, dbt,
scoring, serving, rollout evaluation, publishing, exports):

1. the 3 days as one backfill run, then the same backfill again: every table identical;
2. then the last day alone, as the daily schedule runs it: every table still identical.

"Every table" is found, not listed: every table and view of the DuckDB warehouse (raw, quarantine, staging,
intermediate, marts, scoring), every table of the serving database (SQLite here; on PostgreSQL a republished
day is checked against the content hash of its first publish in tests/faults/test_publish_kill.py, and replaced
exactly in tests/integration/test_publish_postgres.py), and every exported day. Compared by :mod:`safeguard.content_hash`, leaving out only the
columns of :data:`RUN_TIME_COLUMNS`.

``rollout_events`` is an audit log: by design it gains a row per decision. It is still compared whole, because a
re-run must decide nothing new ("a day that was decided already is re-measured, never re-decided"); the test also
checks the property behind that: at most one automatic decision per rollout and score day.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance

from safeguard import contract
from safeguard.content_hash import TableDigest, arrow_sha256, database_digests
from safeguard.landing import ObjectStore
from safeguard.registry import ModelRegistry
from safeguard.review.export import QUEUE_DATASET
from safeguard.rollout import RolloutPlan, controls
from safeguard.rollout.state import POLICY_ACTOR, RolloutStore
from safeguard.serving import schema as serving_schema
from safeguard.serving.db import engine_for
from safeguard.serving.exports import EXPORT_DATASET, read_export
from safeguard.vocabulary import REJECTED
from safeguard.world import generate_world
from tests.idempotence.pipeline import Locations, definitions, register_models, run
from tests.landing_factory import usage_events, with_value

START = "2026-09-01"
DAYS = ["2026-09-01", "2026-09-02", "2026-09-03"]
ACCOUNTS = 300
PLAN = RolloutPlan(min_days_per_stage=1, min_arm_accounts=1)

# The columns that record *when* something ran, the only ones left out of the comparison: the wall-clock time
# ingestion loaded a row (raw.* and the quarantine) and the time a day was published or queued (serving tables and
# exports).
# Everything else, registry and rollout timestamps included, must come out the same.
RUN_TIME_COLUMNS: dict[str, tuple[str, ...]] = {
    "raw.usage_events": ("_ingested_at",),
    "raw.accounts": ("_ingested_at",),
    "raw.enforcement_actions": ("_ingested_at",),
    "raw.quarantine": ("ingested_at",),
    "raw.landing_loads": ("loaded_at",),
    "account_risk_current": ("published_at",),
    "account_risk_history": ("published_at",),
    "published_days": ("published_at",),
    "review_queue": ("queued_at",),
}
EXPORT_RUN_TIME_COLUMNS = {EXPORT_DATASET: ("published_at",), QUEUE_DATASET: ("queued_at",)}
WAREHOUSE_SCHEMAS = {"raw", "staging", "intermediate", "marts", "scoring"}
# every table safeguard.serving.schema owns, and Alembic's version table
SERVING_TABLES = set(serving_schema.metadata.tables) | {"alembic_version"}


def _add_bad_row(landing: Path, day: str) -> None:
    """One more file in the day: a valid event but for its negative token count (quarantined, not loaded)."""
    bad = with_value(usage_events(day, 1, seed=99), 0, "input_tokens", -5)
    bad = bad.set_column(0, "event_id", pa.array([f"bad-{day}"]))
    pq.write_table(bad, landing / contract.day_path("usage_events", day) / "late-bad.parquet")


def _start_rollout(loc: Locations) -> None:
    """A rollout of the candidate started at the end of the day before the world: shadow from its first day."""
    engine = engine_for(loc.serving_url)
    try:
        registry = ModelRegistry(engine, ObjectStore(loc.model_uri))
        controls.start(RolloutStore(engine), registry, "ada", plan=PLAN, last_served=date(2026, 8, 31), force=True)
    finally:
        engine.dispose()


def _split(digests: dict[str, TableDigest], prefix: str) -> dict[str, TableDigest]:
    return {f"{prefix}{name}": d for name, d in digests.items()}


def snapshot(loc: Locations) -> dict[str, TableDigest]:
    """The content digest of every table the pipeline writes: warehouse, serving database, exported days."""
    with duckdb.connect(loc.warehouse, read_only=True) as con:
        warehouse = database_digests(con, {t: c for t, c in RUN_TIME_COLUMNS.items() if "." in t})
    engine = engine_for(loc.serving_url)
    try:
        serving = database_digests(engine, {t: c for t, c in RUN_TIME_COLUMNS.items() if "." not in t})
    finally:
        engine.dispose()
    return {**_split(warehouse, "warehouse:"), **_split(serving, "serving:"), **export_digests(loc)}


def export_digests(loc: Locations) -> dict[str, TableDigest]:
    store = ObjectStore(loc.export_uri)
    digests = {}
    for day in DAYS:
        for dataset, run_time in EXPORT_RUN_TIME_COLUMNS.items():
            table = read_export(store, day, dataset).drop_columns(list(run_time))
            name = f"export:{dataset}/date={day}"
            digests[name] = TableDigest(
                name, table.num_rows, tuple(sorted(table.column_names)), run_time, arrow_sha256(table)
            )
    return digests


def assert_same(before: dict[str, TableDigest], after: dict[str, TableDigest]) -> None:
    """Every table identical; else name each changed table with its row counts before and after."""
    assert sorted(after) == sorted(before), "the set of tables changed"
    changed = {
        name: f"{before[name].rows} -> {after[name].rows} rows" for name in before if before[name] != after[name]
    }
    assert not changed, f"tables changed by running again: {changed}"


def test_a_backfill_run_twice_writes_identical_tables(backfilled):
    _, first, second = backfilled
    schemas = {name.split(":")[1].split(".")[0] for name in first if name.startswith("warehouse:")}
    assert schemas == WAREHOUSE_SCHEMAS
    assert {name.split(":")[1] for name in first if name.startswith("serving:")} == SERVING_TABLES
    assert len([n for n in first if n.startswith("export:")]) == len(DAYS) * len(EXPORT_RUN_TIME_COLUMNS)
    for table in (
        "warehouse:raw.quarantine",
        "warehouse:scoring.served_risk_scores",
        "serving:rollout_events",
        "serving:account_risk_history",
        "serving:risk_reasons",
        "warehouse:marts.fct_account_features",
    ):
        assert first[table].rows > 0, f"{table} is empty: the comparison would prove little"
    # Exactly the listed columns were left out, nothing else.
    excluded = {name.split(":")[1]: d.excluded for name, d in first.items() if d.excluded}
    assert excluded == {
        **RUN_TIME_COLUMNS,
        **{f"{dataset}/date={d}": columns for d in DAYS for dataset, columns in EXPORT_RUN_TIME_COLUMNS.items()},
    }
    assert_same(first, second)


def test_a_day_materialized_again_alone_writes_identical_tables(backfilled, tmp_path):
    loc, _, second = backfilled
    defs = definitions(loc.resources())
    run(defs, "daily_pipeline", DAYS[-1], instance=DagsterInstance.ephemeral())
    assert_same(second, snapshot(loc))


def test_the_rollout_log_holds_one_decision_per_day(backfilled):
    loc, _, _ = backfilled
    engine = engine_for(loc.serving_url)
    try:
        store = RolloutStore(engine)
        rollout = store.latest()
        events = store.events(rollout.rollout_id)
    finally:
        engine.dispose()
    automatic = [e.score_date for e in events if e.actor == POLICY_ACTOR]
    assert automatic, "no automatic decision was recorded: the rollout part of the world is not exercised"
    assert len(automatic) == len(set(automatic)), f"a score day was decided twice: {automatic}"
    assert events[0].decision == "start"


def test_days_run_again_after_a_rollback_keep_the_models_that_served_them(backfilled):
    """After the candidate is rolled back (out of traffic, status rejected), re-running the rollout's days scores,
    serves and publishes them exactly as before: each day keeps the models its stage served. Only the rollout's
    own records change (the decision, the candidate's status). Runs last: it ends the module's rollout."""
    loc, _, second = backfilled
    engine = engine_for(loc.serving_url)
    try:
        rollout = RolloutStore(engine).current()
        controls.abort(
            RolloutStore(engine), "ada", "rolled back for the test", last_served=date.fromisoformat(DAYS[-1])
        )
        ModelRegistry(engine, ObjectStore(loc.model_uri)).set_status(rollout.candidate_version, REJECTED)
    finally:
        engine.dispose()
    rollout_records = {"serving:rollouts", "serving:rollout_events", "serving:model_versions"}
    run(definitions(loc.resources()), "daily_pipeline", DAYS[0], DAYS[-1], instance=DagsterInstance.ephemeral())
    after = snapshot(loc)
    assert {name for name in second if second[name] != after[name]} == rollout_records
    assert_same(
        {k: v for k, v in second.items() if k not in rollout_records},
        {k: v for k, v in after.items() if k not in rollout_records},
    )


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory):
    """The world, then the 3-day backfill run twice: (locations, snapshot after the first, after the second)."""
    root = tmp_path_factory.mktemp("idempotence")
    loc = Locations.under(root)
    generate_world(
        accounts=ACCOUNTS, days=len(DAYS), start=START, seed=5, out_uri=loc.landing_uri,
        truth_path=root / "truth.parquet", progress=False,
    )  # fmt: skip
    _add_bad_row(Path(loc.landing_uri), DAYS[-1])
    register_models(loc.serving_url, loc.model_uri)
    _start_rollout(loc)
    defs = definitions(loc.resources())
    instance = DagsterInstance.ephemeral()
    run(defs, "daily_pipeline", DAYS[0], DAYS[-1], instance=instance)
    first = snapshot(loc)
    run(defs, "daily_pipeline", DAYS[0], DAYS[-1], instance=instance)
    return loc, first, snapshot(loc)

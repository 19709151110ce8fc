"""Security of a small full run (issue 8 §4): no raw personal data in any output; secrets never in logs or metadata.

One production-shaped run, configured the production way, through environment variables only (design §4), read by
the code location's own resources (``assets.resources.build_resources``, Dagster ``EnvVar``): the landing
zone, model store and exports on S3 (moto's server on 127.0.0.1) with a distinctive ``AWS_SECRET_ACCESS_KEY``; the
serving database on PostgreSQL, reached as a role whose distinctive password is only in ``SERVING_DB_URL``; and a
distinctive ``SERVING_READONLY_PASSWORD`` for the read-only role the migrations create. A generated world of 300
accounts over 20 days goes through ``full_graph`` in one run: ingestion, dbt, training (the real ``risk_model``
asset, its gate relaxed for a world this small, label windows of 2 days for the time split), scoring with SHAP
reasons, serving, rollout evaluation, publishing and exports.

Then:
- every output (every warehouse table and view, every serving table, every exported day, every materialization's
  metadata including the model card) holds no value that looks like an email, an IPv4/IPv6 address, a phone or a
  card number; identifier columns are only the hashes the landing zone delivers, and none reaches the serving
  database or the exports;
- none of the three secrets appears anywhere Dagster or dbt wrote: the event log (every record, serialized with its
  metadata), every file of the Dagster instance (run storage, event log, compute logs), the process's stdout and
  stderr (file descriptors 1 and 2, so subprocesses too), Python logging, and dbt's logs and target folder.
"""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import uuid
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from datetime import date, timedelta
from pathlib import Path

import boto3
import duckdb
import pyarrow as pa
import pytest
import sqlalchemy as sa
from dagster import DagsterInstance
from dagster._serdes import serialize_value

from assets.dbt_project import dbt_project, dbt_resource
from assets.resources import build_resources
from safeguard.content_hash import list_tables, read_table
from safeguard.landing import ObjectStore
from safeguard.serving.db import engine_for
from safeguard.serving.exports import read_export
from safeguard.world import generate_world
from tests.idempotence.pipeline import definitions, run
from tests.pg_scratch import scratch_database
from tests.security.scan import IDENTIFIER_NAME, personal_data

START = date(2026, 9, 1)
DAYS = 20
LAST = (START + timedelta(days=DAYS - 1)).isoformat()
# A world this small cannot meet the production floors; every other part of training is the production one.
RELAXED_TRAINING = {
    "ops": {
        "risk_model": {
            "config": {"min_auc_pr": 0.0, "min_recall_at_1pct_fpr": 0.0, "max_ece": 1.0, "label_horizon_days": 2}
        }
    }
}
# The identifiers the landing zone delivers are hashes or opaque ids (design §3.1): these columns may carry them.
RECEIVED_HASHES = {"ip_hash", "signup_ip_hash", "device_hash", "payment_fingerprint", "prompt_template_hash"}
# Features derived from them: counts, shares and flags, never the values themselves.
DERIVED_FROM_IDENTIFIERS = re.compile(
    r"^(distinct_ips_\d+d|linked_(payment|signup_ip|device)_(accounts|enforced_accounts|enforced_share)|email_domain_kind|"
    r"email_(corporate|webmail|disposable)|phone_verified|"
    # novelty, rings and shared infrastructure (issue 14): shares, ages and counts of accounts, never values
    r"new_ip_share_\d+d|newest_ip_age_days|linked_ip_(accounts_max|accounts_sum|enforced_share)_28d|shared_ips_28d|"
    r"created_together_(signup_ip|payment)_accounts)$"
)


@contextmanager
def captured_output(path: Path):
    """Send stdout and stderr to ``path`` while the block runs: ``sys.stdout``/``sys.stderr`` (which pytest replaces
    with its own capture) and file descriptors 1 and 2 (which subprocesses such as dbt inherit)."""
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with open(path, "w", buffering=1, errors="replace") as sink:
        for fd in (1, 2):
            os.dup2(sink.fileno(), fd)
        try:
            with redirect_stdout(sink), redirect_stderr(sink):
                yield
        finally:
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)


@contextmanager
def captured_logging():
    """Every Python log record of the run (root logger, DEBUG and up), as text."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def _owned_role_database(server_url: str, scratch, password: str) -> sa.URL:
    """A login role with ``password`` that owns the scratch database (CREATEROLE, to create the read-only role)."""
    role = f"{scratch.url.database}_owner"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            # CREATE ROLE takes no bound parameter: bind the password into a setting, let the server quote it.
            conn.execute(sa.text("SELECT set_config('safeguard_test.password', :p, false)"), {"p": password})
            conn.execute(
                sa.text(
                    "DO $$ BEGIN EXECUTE format('CREATE ROLE %I LOGIN CREATEROLE PASSWORD %L', "
                    f"'{role}', current_setting('safeguard_test.password')); END $$"
                )
            )
            conn.exec_driver_sql(f'GRANT "{role}" TO CURRENT_USER')
            conn.exec_driver_sql(f'ALTER DATABASE "{scratch.url.database}" OWNER TO "{role}"')
    finally:
        admin.dispose()
    return scratch.url.set(username=role, password=password)


def _drop_role(server_url: str, role: str) -> None:
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
    finally:
        admin.dispose()


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, postgres_url, s3_endpoint):
    root = tmp_path_factory.mktemp("security")
    token = uuid.uuid4().hex[:12]
    secrets = {
        "SERVING_DB_URL password": f"DbPw-{token}-x9",
        "AWS_SECRET_ACCESS_KEY": f"AwsSk-{token}-q7",
        "SERVING_READONLY_PASSWORD": f"RoPw-{token}-k3",
    }
    bucket = f"security-{token}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    owner = None  # the role owns the database: dropped after it
    try:
        with scratch_database(postgres_url, "security") as scratch, pytest.MonkeyPatch.context() as env:
            serving_url = _owned_role_database(postgres_url, scratch, secrets["SERVING_DB_URL password"])
            owner = serving_url.username
            yield from _run_and_collect(root, secrets, scratch, serving_url, env, bucket, s3_endpoint)
    finally:
        if owner:
            _drop_role(postgres_url, owner)


def _run_and_collect(root, secrets, scratch, serving_url, env, bucket, s3_endpoint):
    """Configure through the environment, run ``full_graph`` with every output captured, yield what it left."""
    dagster_home = root / "dagster_home"
    dagster_home.mkdir()
    settings = {
        "LANDING_URI": f"s3://{bucket}/landing",
        "MODEL_STORE_URI": f"s3://{bucket}/models",
        "EXPORT_URI": f"s3://{bucket}/exports",
        "S3_ENDPOINT_URL": s3_endpoint,
        "WAREHOUSE_PATH": str(root / "warehouse.duckdb"),
        "SERVING_DB_URL": serving_url.render_as_string(hide_password=False),
        "SERVING_READONLY_ROLE": scratch.reader_role,
        "SERVING_READONLY_PASSWORD": secrets["SERVING_READONLY_PASSWORD"],
        "AWS_ACCESS_KEY_ID": f"AKIA{bucket.upper()}",
        "AWS_SECRET_ACCESS_KEY": secrets["AWS_SECRET_ACCESS_KEY"],
    }
    for name, value in settings.items():
        env.setenv(name, value)
    generate_world(
        accounts=300, days=DAYS, start=START, seed=11, out_uri=settings["LANDING_URI"],
        truth_path=root / "truth.parquet", s3_endpoint_url=s3_endpoint, progress=False,
    )  # fmt: skip
    defs = definitions({**build_resources(), "dbt": dbt_resource()})
    instance = DagsterInstance.local_temp(str(dagster_home))
    output = root / "fds.log"
    try:
        with captured_logging() as logs, captured_output(output):
            result = run(defs, "full_graph", START.isoformat(), LAST, instance=instance,
                         run_config=RELAXED_TRAINING)  # fmt: skip
        runs = instance.get_runs()
        records = [serialize_value(r) for r in runs]  # run config and tags included
        records += [serialize_value(e) for r in runs for e in instance.all_logs(r.run_id)]
        run_ids = [r.run_id for r in runs]
    finally:
        instance.dispose()
    dbt_dirs = [p for rid in run_ids for p in Path(dbt_project.project_dir, "target").glob(f"*-{rid[:7]}-*")]
    outputs = collect_outputs(settings, serving_url, result)
    yield {
        "secrets": secrets,
        "records": records,
        "files": [p for p in dagster_home.rglob("*") if p.is_file()],
        "stdout_stderr": output.read_text(errors="replace"),
        "logging": logs.getvalue(),
        "dbt_files": [p for d in dbt_dirs for p in d.rglob("*") if p.is_file()],
        "outputs": outputs,
        "result": result,
    }
    for d in dbt_dirs:
        shutil.rmtree(d, ignore_errors=True)


def collect_outputs(settings: dict, serving_url: sa.URL, result) -> dict:
    """Every output table as Arrow, keyed ``where:table``, plus every materialization's metadata as text."""
    tables = {}
    with duckdb.connect(settings["WAREHOUSE_PATH"], read_only=True) as con:
        for name in list_tables(con):
            tables[f"warehouse:{name}"] = read_table(con, name)[0]
    engine = engine_for(serving_url.render_as_string(hide_password=False))
    try:
        for name in list_tables(engine):
            tables[f"serving:{name}"] = read_table(engine, name)[0]
    finally:
        engine.dispose()
    store = ObjectStore(settings["EXPORT_URI"], s3_endpoint_url=settings["S3_ENDPOINT_URL"])
    days = sorted({e.partition for e in result.asset_materializations_for_node("risk_tables")})
    for day in days:
        tables[f"export:{day}"] = read_export(store, day)
    metadata = {
        f"{e.asset_key.to_user_string()}:{e.partition}": serialize_value(
            e.step_materialization_data.materialization.metadata
        )
        for e in result.get_asset_materialization_events()
    }
    return {"tables": tables, "metadata": metadata}


def test_no_output_holds_raw_personal_data(full_run):
    tables = full_run["outputs"]["tables"]
    assert {
        "warehouse:raw.usage_events",
        "warehouse:marts.fct_account_features",
        "serving:account_risk_history",
        "serving:risk_reasons",
        "serving:model_versions",
    } <= set(tables)
    assert any(name.startswith("export:") for name in tables)
    found = {name: hits for name, table in tables.items() if (hits := personal_data(table))}
    assert not found, f"values that look like personal data: {found}"
    metadata = full_run["outputs"]["metadata"]
    assert "## Tier thresholds" in metadata["risk_model:None"]  # the model card is among them
    for key, text in metadata.items():
        for kind, examples in personal_data(_one_text_table(text)).get("text", {}).items():
            pytest.fail(f"{key}: metadata holds a value that looks like {kind}: {examples}")


def _one_text_table(text: str) -> pa.Table:
    return pa.table({"text": [text]})


def test_identifiers_are_only_the_received_hashes_and_never_reach_the_serving_side(full_run):
    identifier_columns = {
        (name, column)
        for name, table in full_run["outputs"]["tables"].items()
        for column in table.column_names
        if IDENTIFIER_NAME.search(column)
    }
    unexpected = {
        (name, column)
        for name, column in identifier_columns
        if column not in RECEIVED_HASHES and not DERIVED_FROM_IDENTIFIERS.match(column)
    }
    assert not unexpected, (
        f"identifier-like columns that are neither received hashes nor derived features: {unexpected}"
    )
    downstream = {(n, c) for n, c in identifier_columns if not n.startswith("warehouse:") and c in RECEIVED_HASHES}
    assert not downstream, f"identifier hashes reach the serving database or the exports: {downstream}"
    assert ("warehouse:raw.usage_events", "ip_hash") in identifier_columns  # the check does see them


def test_no_secret_in_logs_event_log_metadata_or_dbt_files(full_run):
    secrets = full_run["secrets"]
    texts = {
        "event log and run records": "\n".join(full_run["records"]),
        "stdout/stderr": full_run["stdout_stderr"],
        "python logging": full_run["logging"],
        "materialization metadata": "\n".join(full_run["outputs"]["metadata"].values()),
    }
    # The captures are real: they hold the run's own words.
    assert "risk_tables" in texts["event log and run records"] and "STEP_SUCCESS" in texts["stdout/stderr"]
    assert full_run["files"] and full_run["dbt_files"]
    assert any(p.name == "dbt.log" for p in full_run["dbt_files"])
    files = {str(p): p.read_bytes() for p in [*full_run["files"], *full_run["dbt_files"]]}
    leaks = [
        f"{what} in {where}" for what, secret in secrets.items() for where, text in texts.items() if secret in text
    ] + [
        f"{what} in {path}"
        for what, secret in secrets.items()
        for path, data in files.items()
        if secret.encode() in data
    ]
    assert not leaks, f"secrets leaked: {leaks}"

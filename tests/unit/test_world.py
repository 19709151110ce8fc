"""The synthetic world generator: deterministic, true to the landing contract, and worth detecting in.

Everything is read back from the written landing zone (through :class:`LandingZone`) and joined with the
ground-truth file, the way the pipeline and an evaluation would see it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import boto3
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from safeguard import contract
from safeguard.cli import main
from safeguard.landing import LandingZone
from safeguard.world import ARCHETYPES, DEFAULT_ARCHETYPES, TRUTH_SCHEMA, WorldArgumentError, generate_world

START = date(2026, 9, 1)
WORLD = {"accounts": 3000, "days": 21, "start": START, "seed": 11}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _read_source(zone: LandingZone, source: str) -> pa.Table:
    """Every day of a source, with the folder's day as an extra ``_day`` column."""
    tables = []
    for day in zone.list_days(source):
        for rel in zone.day_files(source, day).files:
            t = zone.read_file(rel)
            tables.append(t.append_column("_day", pa.array([day] * t.num_rows, pa.string())))
    return pa.concat_tables(tables)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A small world written once, loaded into DuckDB views e (events), a (accounts), x (enforcement), t (truth)."""
    root = tmp_path_factory.mktemp("world")
    summary = generate_world(**WORLD, out_uri=str(root / "landing"), truth_path=root / "truth.parquet", progress=False)
    zone = LandingZone(str(root / "landing"))
    db = duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")  # landing timestamps are UTC; days are UTC days
    for view, source in (("e", "usage_events"), ("a", "accounts"), ("x", "enforcement_actions")):
        db.register(view, _read_source(zone, source))
    db.register("t", pq.read_table(root / "truth.parquet"))
    return summary, zone, db, root


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path):
    args = {"accounts": 400, "days": 4, "start": "2026-09-01", "progress": False}
    for name, seed in (("one", 5), ("two", 5), ("other", 6)):
        generate_world(
            **args, seed=seed, out_uri=str(tmp_path / name / "landing"), truth_path=tmp_path / name / "truth.parquet"
        )
    one, two, other = (_files(tmp_path / n) for n in ("one", "two", "other"))
    assert len(one) == 3 * 4 * 2 + 1  # a Parquet file and _SUCCESS per source and day, plus the truth
    assert one == two
    assert one.keys() == other.keys()
    differing = [k for k in one if k.endswith(".parquet") and one[k] != other[k]]
    assert any(k.startswith("landing/usage_events/") for k in differing)
    assert "truth.parquet" in differing


def _contract_violations(table: pa.Table, source: contract.Source, day: str) -> list[str]:
    """Every rule of the landing contract a day's table breaks, as readable messages."""
    problems = []
    if table.schema != source.arrow_schema:
        problems.append(f"schema {table.schema} != contract {source.arrow_schema}")
    for col in source.columns:
        values = table.column(col.name)
        if not col.nullable and values.null_count:
            problems.append(f"{col.name}: {values.null_count} nulls")
        if col.enum is not None and pc.all(pc.is_in(values.drop_null(), pa.array(col.enum))).as_py() not in (
            True,
            None,
        ):
            problems.append(f"{col.name}: values outside {col.enum}")
        if col.min_value is not None and table.num_rows and pc.min(values).as_py() < col.min_value:
            problems.append(f"{col.name}: below {col.min_value}")
        if col.max_value is not None and table.num_rows and pc.max(values).as_py() > col.max_value:
            problems.append(f"{col.name}: above {col.max_value}")
        if (
            col.length is not None
            and table.num_rows
            and set(pc.utf8_length(values.drop_null()).to_pylist()) - {col.length}
        ):
            problems.append(f"{col.name}: not {col.length} characters")
    lo = datetime.fromisoformat(day).replace(tzinfo=UTC)
    ts = table.column(source.day_column).to_pylist()
    if any(not (lo <= v < lo + timedelta(days=1)) for v in ts):
        problems.append(f"{source.day_column} outside {day}")
    return problems


def test_every_day_of_every_source_follows_the_contract(world):
    summary, zone, db, _ = world
    days = [(START + timedelta(days=i)).isoformat() for i in range(WORLD["days"])]
    for name, source in contract.SOURCES.items():
        assert zone.list_days(name) == days
        for day in days:
            assert zone.is_complete(name, day)
            files = zone.day_files(name, day).files
            assert len(files) == 1
            assert _contract_violations(zone.read_file(files[0]), source, day) == []
    assert db.sql("select count(*) = count(distinct event_id) from e").fetchone()[0]
    assert db.sql("select count(*) from a where created_at > updated_at").fetchone()[0] == 0
    assert db.sql("select count(*) from x").fetchone()[0] == summary.rows["enforcement_actions"] > 0
    assert summary.rows["usage_events"] > 50_000


def test_empty_days_still_get_a_typed_file_and_success(tmp_path):
    zone = LandingZone(str(tmp_path / "landing"))
    summary = generate_world(
        accounts=1, days=3, start=START, seed=1, out_uri=zone.uri, truth_path=tmp_path / "truth.parquet", progress=False
    )
    assert summary.rows["enforcement_actions"] == 0
    for name, source in contract.SOURCES.items():
        for day in zone.list_days(name):
            table = zone.read_file(zone.day_files(name, day).files[0])
            assert table.schema == source.arrow_schema
    assert len(zone.list_days("enforcement_actions")) == 3


def test_identifiers_and_hashes_look_real_and_name_no_archetype(world):
    _, _, db, _ = world
    patterns = {
        "e": {
            "event_id": "^evt_[0-9a-f]{16}$",
            "account_id": "^acct_[0-9]{7}$",
            "org_id": "^org_[0-9]{7}$",
            "api_key_id": "^key_[0-9a-f]{16}$",
            "ip_hash": "^[0-9a-f]{16}$",
            "prompt_template_hash": "^[0-9a-f]{16}$",
        },
        "a": {
            "payment_fingerprint": "^[0-9a-f]{16}$",
            "signup_ip_hash": "^[0-9a-f]{16}$",
            "device_hash": "^[0-9a-f]{16}$",
        },
        "x": {"action_id": "^act_[0-9a-f]{16}$"},
    }
    for view, columns in patterns.items():
        for column, pattern in columns.items():
            bad = db.sql(f"select count(*) from {view} where not regexp_matches({column}, '{pattern}')").fetchone()
            assert bad[0] == 0, (view, column)
    assert db.sql("select count(distinct action_id) = count(*) from x").fetchone()[0]
    assert set(db.sql("select distinct model from e").fetchnumpy()["model"]) == {
        "claude-3-5-haiku",
        "claude-sonnet-4",
        "claude-opus-4",
    }
    texts = set()
    for view, column in (("e", "client"), ("e", "model"), ("x", "category"), ("x", "source"), ("a", "plan")):
        texts |= set(db.sql(f"select distinct {column} from {view}").fetchnumpy()[column])
    # the contract's own words ("enterprise" plan, "account_takeover" reason) are not labels; nothing else is
    assert (texts - set(contract.PLANS) - {"account_takeover"}).isdisjoint(ARCHETYPES)


def test_ground_truth_lies_outside_the_landing_zone_and_covers_every_account(world):
    summary, _, db, root = world
    truth = pq.read_table(root / "truth.parquet")
    assert truth.schema == TRUTH_SCHEMA
    assert not (root / "landing" / "truth.parquet").exists()
    assert db.sql("select count(distinct account_id) from a").fetchone()[0] == truth.num_rows == WORLD["accounts"]
    assert 0.03 <= summary.abuser_share <= 0.06
    # the demo mix: every archetype with a share of its own (the robustness-only ones have none here)
    assert set(summary.archetypes) == set(DEFAULT_ARCHETYPES) and all(summary.archetypes.values())
    assert set(ARCHETYPES) - set(DEFAULT_ARCHETYPES) == {"behaviour_change", "evasive_abuse"}
    assert db.sql("select bool_and(abuse_start is null) from t where not is_abuser").fetchone()[0]
    # abuse starts both before the window and inside it
    before, inside = db.sql(f"""select count(*) filter (abuse_start < '{START}'), count(*) filter (abuse_start >=
        '{START}') from t where is_abuser""").fetchone()
    assert before > 0 and inside > 0
    with pytest.raises(WorldArgumentError, match="outside the landing zone"):
        generate_world(**WORLD, out_uri=str(root / "landing"), truth_path=root / "landing" / "t.parquet")
    with pytest.raises(WorldArgumentError, match="accounts"):
        generate_world(**(WORLD | {"accounts": 0}), out_uri=str(root / "x"), truth_path=root / "t.parquet")


def test_accounts_are_upserts_snapshot_signups_and_changes(world):
    _, _, db, _ = world
    first = START.isoformat()
    versions = """(select * from (select *, row_number() over (partition by account_id order by updated_at) as v
                                 from a) where v = 1)"""
    # the first day carries every older account with its true created_at; signups appear on their own day
    old = db.sql(f"""select count(*), bool_and(_day = '{first}') from {versions} where created_at < '{first}'
                    """).fetchone()
    assert old[0] > 0 and old[1]
    new = db.sql(f"""select count(*), bool_and(updated_at = created_at and _day = created_at::date::varchar)
                     from {versions} where created_at >= '{first}'""").fetchone()
    assert new[0] > 0 and new[1]
    changes = db.sql("""
        with v as (select *, row_number() over (partition by account_id order by updated_at) as version from a)
        select count(*),
               count(*) filter (n.plan <> o.plan),
               count(*) filter (n.phone_verified and not o.phone_verified),
               count(*) filter (n.payment_fingerprint is distinct from o.payment_fingerprint)
        from v n join v o on n.account_id = o.account_id and n.version = o.version + 1""").fetchone()
    assert all(c > 0 for c in changes)


def test_rings_share_payment_signup_ip_and_device_and_sign_up_in_bursts(world):
    _, _, db, _ = world

    def sharing(archetype: str) -> float:
        """Share of the archetype's accounts whose card, signup IP or device another account also has."""
        return db.sql(f"""
            with acc as (select distinct on (account_id) * from a order by account_id, updated_at),
            shared as (
                select account_id from acc where payment_fingerprint in (
                    select payment_fingerprint from acc group by 1 having count(*) > 1)
                union select account_id from acc where signup_ip_hash in (
                    select signup_ip_hash from acc group by 1 having count(*) > 1)
                union select account_id from acc where device_hash in (
                    select device_hash from acc group by 1 having count(*) > 1))
            select avg((account_id in (select account_id from shared))::int)
            from t where archetype = '{archetype}'""").fetchone()[0]

    assert sharing("coordinated_ring") > 0.8
    assert sharing("hobbyist") < 0.1
    assert 0.1 < sharing("startup") < sharing("coordinated_ring")  # colleagues share too: overlap, not a rule
    # accounts of one ring sharing a card were created within hours of each other
    spread = db.sql("""
        with acc as (select distinct on (account_id) * from a order by account_id, updated_at)
        select epoch(max(created_at) - min(created_at)) from acc join t using (account_id)
        where archetype = 'coordinated_ring' and payment_fingerprint is not null
        group by payment_fingerprint having count(*) > 1""").fetchall()
    assert spread and np.median([s[0] for s in spread]) < 6 * 3600


def test_takeovers_change_country_client_and_ip_after_abuse_start(world):
    _, _, db, _ = world
    per_account = db.sql("""
        with recovered as (select account_id, min(action_ts) as at from x where action = 'reinstate' group by 1),
        ev as (select e.*, event_ts >= t.abuse_start as after from e join t using (account_id)
               left join recovered r using (account_id)
               where archetype = 'account_takeover' and country is not null
                 and event_ts < coalesce(r.at, timestamptz '9999-01-01'))  -- the owner is back after that
        select account_id,
               mode(country) filter (not after) as country_before, mode(country) filter (after) as country_after,
               mode(client) filter (not after) as client_before, mode(client) filter (after) as client_after,
               count(distinct ip_hash) filter (not after and ip_hash in (select ip_hash from ev where after))
                 as ips_in_common
        from ev group by 1 having count(*) filter (not after) >= 3 and count(*) filter (after) >= 3""").fetchall()
    assert len(per_account) >= 5
    assert np.mean([r[1] != r[2] for r in per_account]) > 0.8  # travel and VPNs blur a few
    assert all(r[5] == 0 for r in per_account)
    assert np.mean([r[3] != r[4] for r in per_account]) > 0.5


def _per_account_features(db) -> dict[str, np.ndarray]:
    rows = db.sql("""
        with daily as (select account_id, _day, count(*) as n from e group by 1, 2),
        tpl as (select account_id, prompt_template_hash, count(*) as n from e group by 1, 2),
        top3 as (select account_id, sum(n) as n from (
            select *, row_number() over (partition by account_id order by n desc) as r from tpl) where r <= 3 group by 1)
        select t.is_abuser, t.archetype,
               (select median(n) from daily d where d.account_id = t.account_id) as events_per_day,
               avg(classifier_score) as mean_score,
               avg((stop_reason = 'refusal')::int) as refusal_rate,
               avg((stop_reason = 'max_tokens')::int) as max_tokens_rate,
               any_value(top3.n) / count(*) as top3_template_share,
               count(distinct prompt_template_hash) as templates,
               count(distinct country) as countries
        from e join t using (account_id) join top3 using (account_id)
        group by t.account_id, t.is_abuser, t.archetype having count(*) >= 10""").fetchnumpy()
    return rows


def test_archetype_signals_are_there_but_no_single_feature_separates_abuse(world):
    _, _, db, _ = world
    f = _per_account_features(db)
    arch = f["archetype"]

    def median(feature: str, archetype: str) -> float:
        return float(np.median(f[feature][arch == archetype]))

    assert median("events_per_day", "distillation_scraping") > 10 * median("events_per_day", "hobbyist")
    assert median("events_per_day", "distillation_scraping") > 3 * median("events_per_day", "startup")
    assert median("templates", "distillation_scraping") > 5 * median("templates", "templated_spam")
    assert median("top3_template_share", "templated_spam") > max(0.4, 2 * median("top3_template_share", "hobbyist"))
    assert median("refusal_rate", "jailbreak_probing") > 3 * median("refusal_rate", "startup")
    assert median("max_tokens_rate", "distillation_scraping") > 3 * median("max_tokens_rate", "hobbyist")
    for feature in (
        "events_per_day",
        "mean_score",
        "refusal_rate",
        "max_tokens_rate",
        "top3_template_share",
        "templates",
        "countries",
    ):
        auc = roc_auc_score(f["is_abuser"], f[feature])
        assert 0.05 < auc < 0.95, (feature, auc)


def test_enforcement_lags_abuse_misses_some_and_reinstates_mistakes(world):
    summary, _, db, _ = world
    end = START + timedelta(days=WORLD["days"])
    lags = db.sql("""
        select epoch(min(action_ts) - any_value(abuse_start)) / 86400 from x join t using (account_id)
        where is_abuser and action in ('suspend', 'ban') group by account_id""").fetchnumpy()
    lag_days = next(iter(lags.values()))
    assert len(lag_days) == summary.abusers_enforced > 10
    assert lag_days.min() > 1 and 3 <= np.median(lag_days) <= 30
    never = db.sql(f"""select count(*) from t where is_abuser and abuse_start < timestamp '{end}' - interval 20 day
        and account_id not in (select account_id from x where action in ('suspend', 'ban'))""").fetchone()[0]
    assert never > 0
    reinstated = db.sql("""
        select count(*) filter (not t.is_abuser), count(*) filter (r.action_ts > b.action_ts)
        from x b join x r using (account_id) join t using (account_id)
        where b.action in ('suspend', 'ban') and r.action = 'reinstate'""").fetchone()
    assert reinstated[0] > 0 and reinstated[1] > 0
    assert db.sql("select count(*) from x where action = 'warn'").fetchone()[0] > 0
    assert "account_takeover" in set(db.sql("select distinct category from x").fetchnumpy()["category"])
    # a blocked account is silent until its reinstatement (banned for good: silent to the end)
    after_block = db.sql("""
        with blocks as (select b.account_id, b.action_ts as blocked_at,
                               coalesce(min(r.action_ts), timestamptz '9999-01-01') as until
                        from x b left join x r on r.account_id = b.account_id and r.action = 'reinstate'
                        where b.action in ('suspend', 'ban') group by 1, 2)
        select count(*) from e join blocks using (account_id) where event_ts >= blocked_at and event_ts < until
        """).fetchone()[0]
    assert after_block == 0


def test_event_times_follow_a_day_and_night_rhythm(world):
    _, _, db, _ = world
    hours = db.sql("""select hour(event_ts) as h, count(*) as n from e join t using (account_id)
                      where archetype = 'hobbyist' and country = 'US' group by 1 order by 1""").fetchnumpy()
    by_hour = dict(zip(hours["h"], hours["n"]))
    # US daytime (~10-18 local, UTC-5) is far busier than US night (~2-5 local)
    assert sum(by_hour.get(h, 0) for h in range(15, 23)) > 4 * sum(by_hour.get(h, 0) for h in range(7, 11))


def test_writing_to_s3_gives_the_same_objects_as_a_local_folder(tmp_path, s3_endpoint):
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    bucket = f"landing-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    args = {"accounts": 300, "days": 3, "start": START, "seed": 4, "progress": False}
    generate_world(**args, out_uri=str(tmp_path / "local"), truth_path=tmp_path / "truth-local.parquet")
    generate_world(
        **args,
        out_uri=f"s3://{bucket}/zone",
        truth_path=f"s3://{bucket}/truth/accounts.parquet",
        s3_endpoint_url=s3_endpoint,
    )
    local = _files(tmp_path / "local")
    remote = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="zone/"):
        for obj in page["Contents"]:
            remote[obj["Key"].removeprefix("zone/")] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    assert remote == local
    truth = s3.get_object(Bucket=bucket, Key="truth/accounts.parquet")["Body"].read()
    assert truth == (tmp_path / "truth-local.parquet").read_bytes()
    zone = LandingZone(f"s3://{bucket}/zone", s3_endpoint_url=s3_endpoint)
    assert zone.is_complete("usage_events", "2026-09-03")


def test_cli_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for option in (
        "--accounts",
        "--days",
        "--start",
        "--seed",
        "--out",
        "--truth",
        "--no-progress",
        "5000",
        "60",
        "2026-09-01",
        "LANDING_URI",
        "S3_ENDPOINT_URL",
    ):
        assert option in out


def test_cli_generates_a_world_and_rejects_bad_input(tmp_path, capsys):
    out, truth = tmp_path / "landing", tmp_path / "gt" / "accounts.parquet"
    code = main(
        [
            "generate",
            "--accounts",
            "200",
            "--days",
            "2",
            "--start",
            "2026-10-01",
            "--seed",
            "3",
            "--out",
            str(out),
            "--truth",
            str(truth),
            "--no-progress",
        ]
    )
    assert code == 0
    assert "wrote 2 days from 2026-10-01" in capsys.readouterr().out
    assert LandingZone(str(out)).list_days("accounts") == ["2026-10-01", "2026-10-02"]
    assert pq.read_table(truth).num_rows == 200

    assert (
        main(
            [
                "generate",
                "--accounts",
                "5",
                "--days",
                "1",
                "--out",
                str(out),
                "--truth",
                str(out / "t.parquet"),
                "--no-progress",
            ]
        )
        == 2
    )
    assert "outside the landing zone" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "--start", "2026-13-01"])
    assert exit_.value.code == 2
    assert "'2026-13-01' is not a date" in capsys.readouterr().err


def test_world_rings_are_the_truth_s_ring_members_and_share_cards_signup_ips_or_devices(world):
    from safeguard.world.generate import world_rings

    _, _, db, _ = world
    db.register("rings", world_rings(**WORLD))
    ring_members = {r[0] for r in db.sql("SELECT account_id FROM rings").fetchall()}
    truth_members = {r[0] for r in db.sql("SELECT account_id FROM t WHERE archetype = 'coordinated_ring'").fetchall()}
    assert ring_members == truth_members
    assert db.sql("SELECT count(DISTINCT ring) FROM rings").fetchone()[0] > 1
    # each ring is one operator's: its members share a card, a signup IP or a device with another member
    lonely = db.sql("""
        WITH latest AS (SELECT account_id, any_value(payment_fingerprint) AS p, any_value(signup_ip_hash) AS s,
                               any_value(device_hash) AS d FROM a GROUP BY account_id)
        SELECT count(*) FROM rings AS r JOIN latest AS l USING (account_id)
        WHERE NOT EXISTS (SELECT 1 FROM rings AS o JOIN latest AS m USING (account_id)
                          WHERE o.ring = r.ring AND o.account_id <> r.account_id
                            AND (m.p = l.p OR m.s = l.s OR m.d = l.d))""").fetchone()[0]
    assert lonely == 0

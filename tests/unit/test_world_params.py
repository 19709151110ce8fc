"""Robustness worlds (safeguard.world.params): presets give valid worlds with their mix and new archetypes."""

import duckdb
import pyarrow.parquet as pq
import pytest

from safeguard import contract
from safeguard.world import ROBUST_TRUTH_SCHEMA, WorldParams, WorldParamsError, generate_world, preset
from safeguard.world.params import ROBUSTNESS_PRESETS

SHARE_RANGE = {"robust-a": (0.01, 0.045), "robust-b": (0.06, 0.095), "robust-c": (0.03, 0.065)}


@pytest.fixture(scope="module", params=ROBUSTNESS_PRESETS)
def world(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(request.param)
    summary = generate_world(
        accounts=1500,
        days=8,
        start="2026-09-01",
        seed=3,
        out_uri=str(root / "landing"),
        truth_path=root / "truth.parquet",
        progress=False,
        params=preset(request.param),
    )
    return request.param, summary, root


def test_each_preset_writes_the_contract_and_lands_in_its_abuser_share(world):
    name, summary, root = world
    for source in (contract.USAGE_EVENTS, contract.ACCOUNTS, contract.ENFORCEMENT):
        for day in sorted((root / "landing" / source.name).iterdir()):
            assert (day / "_SUCCESS").exists()
            table = pq.read_table(next(day.glob("*.parquet")))
            assert table.schema == source.arrow_schema
    lo, hi = SHARE_RANGE[name]
    assert lo <= summary.abuser_share <= hi
    assert summary.archetypes["behaviour_change"] > 0 and summary.archetypes["account_takeover"] > 0
    assert summary.lookalikes["traveller"] > 0 and summary.lookalikes["class_member"] > 0
    truth = pq.read_table(root / "truth.parquet")
    assert truth.schema == ROBUST_TRUTH_SCHEMA


def test_behaviour_change_accounts_are_old_and_their_near_threshold_share_jumps(world):
    _, _, root = world
    db = duckdb.connect()
    db.sql(f"create view e as select * from read_parquet('{root}/landing/usage_events/*/*.parquet')")
    db.sql(f"create view t as select * from read_parquet('{root}/truth.parquet')")
    db.sql(f"create view a as select * from read_parquet('{root}/landing/accounts/*/*.parquet')")
    before, after, over = db.sql("""
        select coalesce(avg((e.classifier_score between 0.3 and 0.5)::int) filter (where e.event_ts < t.abuse_start),
                        0),
               avg((e.classifier_score between 0.3 and 0.5)::int) filter (where e.event_ts >= t.abuse_start),
               avg((e.classifier_score >= 0.5)::int) filter (where e.event_ts >= t.abuse_start)
        from e join t using (account_id) where t.archetype = 'behaviour_change'""").fetchone()
    assert after > 0.15 and after > 5 * before and over < 0.05  # under 0.5, never over
    young = db.sql("""select count(*) from a join t using (account_id)
                      where t.archetype = 'behaviour_change' and a.created_at > timestamp '2026-09-01' - interval 100 day
                   """).fetchone()[0]
    assert young == 0
    # takeovers are of old accounts too
    assert db.sql("""select min(timestamp '2026-09-01' - a.created_at) >= interval 59 day from a join t
                     using (account_id) where t.archetype = 'account_takeover'""").fetchone()[0]


def test_a_preset_is_deterministic_for_a_seed(tmp_path):
    def run(name):
        generate_world(
            accounts=300,
            days=3,
            start="2026-09-01",
            seed=9,
            out_uri=str(tmp_path / name / "l"),
            truth_path=tmp_path / name / "t.parquet",
            progress=False,
            params=preset("robust-b"),
        )
        return {p.relative_to(tmp_path / name): p.read_bytes() for p in (tmp_path / name).rglob("*") if p.is_file()}

    assert run("one") == run("two")


def test_bad_world_parameters_are_refused_with_the_field_named():
    with pytest.raises(WorldParamsError, match="abuser_share"):
        WorldParams(abuser_share=0.7)
    with pytest.raises(WorldParamsError, match="unknown archetype"):
        WorldParams(share_factors={"wizard": 2.0})
    with pytest.raises(WorldParamsError, match="unknown world parameter"):
        WorldParams.from_json('{"abusers": 0.1}')
    assert WorldParams.from_json('{"abuser_share": 0.03}').abuser_share == 0.03
    assert WorldParams().is_default and not preset("robust-a").is_default

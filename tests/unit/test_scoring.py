"""Scoring a day: every account by every model, reasons for exactly the explained set, days replaced exactly."""

from __future__ import annotations

import dataclasses
import json

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from safeguard import explain
from safeguard.examples import TrainingDataError
from safeguard.scoring import (
    SCORES_SCHEMA,
    SCORES_TABLE,
    ScoringError,
    read_day_features,
    score_accounts,
    write_scores,
)
from safeguard.tiers import assign_tiers
from tests.model_factory import synthetic_frame, trained_model

DAY = "2026-09-01"


@pytest.fixture(scope="module")
def models():
    champion = trained_model()
    return [("champion", champion), ("candidate", dataclasses.replace(champion, version="candidate-v"))]


@pytest.fixture(scope="module")
def features():
    return synthetic_frame(3000, [DAY], seed=9, with_label=False)


@pytest.fixture(scope="module")
def scored(models, features):
    return score_accounts(features, models, DAY, sample_rate=0.02, requested=["acct-0000007"])


def test_every_account_is_scored_by_every_model(scored, features, models):
    t = scored.table
    assert t.schema == SCORES_SCHEMA
    assert t.num_rows == 2 * len(features)
    df = t.to_pandas()
    for role, model in models:
        part = df[df["model_role"] == role]
        assert part["model_version"].unique().tolist() == [model.version]
        assert sorted(part["account_id"]) == sorted(features["account_id"])
        X = model.matrix(features)
        np.testing.assert_allclose(part["probability"], model.probability(X), rtol=0, atol=0)
        np.testing.assert_allclose(part["raw_margin"], model.raw_margin(X), rtol=0, atol=0)
        assert part["tier"].tolist() == assign_tiers(part["probability"], model.thresholds).tolist()
    assert (df["score_date"].astype(str) == DAY).all()


def test_exactly_elevated_and_sampled_and_requested_accounts_are_explained(scored, features):
    df = scored.table.to_pandas()
    sample = explain.monitoring_sample(df["account_id"].to_numpy(), DAY, 0.02)
    alert = df["tier"] != "low"
    requested = df["account_id"] == "acct-0000007"
    assert (df["explained"] == (alert | sample | requested)).all()
    assert alert.any() and (sample & ~alert).any()
    assert (df.loc[alert, "explain_reason"] == "tier").all()
    assert (df.loc[sample & ~alert, "explain_reason"] == "monitoring_sample").all()
    assert (df.loc[requested & ~alert & ~sample, "explain_reason"] == "requested").all()
    assert df.loc[~df["explained"], ["explain_reason", "reasons_json"]].isna().all().all()
    assert scored.explained_rows == int(df["explained"].sum())
    assert scored.additivity_error <= explain.ADDITIVITY_TOLERANCE


def test_reasons_json_of_explained_rows(scored, models):
    df = scored.table.to_pandas()
    catalog = {f.name: f.reason for f in models[0][1].features}
    alerts = df[df["tier"] != "low"]
    for text in alerts["reasons_json"]:
        reasons = json.loads(text)
        assert 1 <= len(reasons) <= explain.DEFAULT_TOP_REASONS  # an elevated account has something pushing it up
        contributions = [r["contribution"] for r in reasons]
        assert contributions == sorted(contributions, reverse=True) and min(contributions) > 0
        assert all(r["reason"] == catalog[r["feature"]] for r in reasons)


def test_tier_counts(scored):
    counts = scored.tier_counts()
    assert set(counts) == {"candidate-v", trained_model().version}
    assert sum(counts["candidate-v"].values()) == 3000
    assert list(counts["candidate-v"]) == ["low", "elevated", "high", "critical"]


def test_bad_feature_frames_are_refused(models, features):
    with pytest.raises(ScoringError, match="duplicate account_id"):
        score_accounts(features.iloc[[0, 0, 1]], models, DAY)
    with pytest.raises(ScoringError, match="other as_of_date"):
        score_accounts(features.assign(as_of_date=np.datetime64("2026-09-02")), models, DAY)
    with pytest.raises(ScoringError, match="unknown model role"):
        score_accounts(features, [("shadow", models[0][1])], DAY)
    with pytest.raises(TrainingDataError, match=r"features for 2026-09-01: missing feature column\(s\) \['feat_03'\]"):
        score_accounts(features.drop(columns="feat_03"), models, DAY)


def test_write_scores_replaces_exactly_the_given_days(scored, models, features):
    con = duckdb.connect()
    other_day = "2026-09-02"
    second = score_accounts(features.assign(as_of_date=np.datetime64(other_day)), models[:1], other_day)
    write_scores(con, scored.table, [DAY])
    write_scores(con, second.table, [other_day])
    before_other = con.execute(f"SELECT * FROM {SCORES_TABLE} WHERE score_date = '{other_day}' ORDER BY ALL").fetchall()

    smaller = scored.table.slice(0, 100)
    assert write_scores(con, smaller, [DAY]) == 100
    counts = dict(con.execute(f"SELECT score_date::VARCHAR, count(*) FROM {SCORES_TABLE} GROUP BY 1").fetchall())
    assert counts == {DAY: 100, other_day: 3000}
    after_other = con.execute(f"SELECT * FROM {SCORES_TABLE} WHERE score_date = '{other_day}' ORDER BY ALL").fetchall()
    assert after_other == before_other

    with pytest.raises(ScoringError, match=r"day\(s\) \['2026-09-02'\] outside"):
        write_scores(con, second.table, [DAY])
    assert con.execute(f"SELECT count(*) FROM {SCORES_TABLE}").fetchone()[0] == 3100  # nothing lost

    write_scores(con, SCORES_SCHEMA.empty_table(), [DAY])
    assert con.execute(f"SELECT count(*) FROM {SCORES_TABLE} WHERE score_date = '{DAY}'").fetchone()[0] == 0


def test_read_day_features_returns_one_day(features):
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    two_days = pa.concat_tables(
        [
            pa.Table.from_pandas(features.assign(as_of_date=np.datetime64(d, "D")), preserve_index=False)
            for d in (DAY, "2026-09-02")
        ]
    )
    con.register("two_days", two_days)
    con.execute("CREATE TABLE marts.fct_account_features AS SELECT * FROM two_days")
    day = read_day_features(con, DAY)
    assert len(day) == len(features) and day["account_id"].is_monotonic_increasing
    assert score_accounts(day, [("champion", trained_model())], DAY).table.num_rows == len(features)


def test_a_day_is_scored_by_its_rollouts_models_then_by_the_models_that_scored_it_then_by_the_registry():
    from safeguard.scoring import versions_for_day
    from safeguard.vocabulary import CANDIDATE, CHAMPION

    registry_now = {"champion": "v3", "candidates": ["v4"]}
    # a rollout served the day: its two models, even after a promotion or a rollback changed the registry
    assert versions_for_day(rollout_versions=("v1", "v2"), scored_before=[(CHAMPION, "v1")], **registry_now) == [
        (CHAMPION, "v1"),
        (CANDIDATE, "v2"),
    ]
    # a re-run of a day scored before: the same models again
    before = [(CHAMPION, "v1"), (CANDIDATE, "v2")]
    assert versions_for_day(rollout_versions=None, scored_before=before, **registry_now) == before
    # a new day: the registry's champion and candidates
    assert versions_for_day(rollout_versions=None, scored_before=[], **registry_now) == [
        (CHAMPION, "v3"),
        (CANDIDATE, "v4"),
    ]


def test_scored_versions_reads_the_days_models_champion_first(tmp_path):
    from safeguard.scoring import SCORES_TABLE, scored_versions
    from safeguard.vocabulary import CANDIDATE, CHAMPION

    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        assert scored_versions(con, "2026-09-01") == []  # no scores table yet
        con.execute("CREATE SCHEMA scoring")
        con.execute(
            f"CREATE TABLE {SCORES_TABLE} (score_date DATE, account_id VARCHAR, model_role VARCHAR, "
            "model_version VARCHAR)"
        )
        con.execute(
            f"INSERT INTO {SCORES_TABLE} VALUES ('2026-09-01', 'a', ?, 'v2'), ('2026-09-01', 'b', ?, 'v2'), "
            "('2026-09-01', 'a', ?, 'v1'), ('2026-09-02', 'a', ?, 'v9')",
            [CANDIDATE, CANDIDATE, CHAMPION, CHAMPION],
        )
        assert scored_versions(con, "2026-09-01") == [(CHAMPION, "v1"), (CANDIDATE, "v2")]
        assert scored_versions(con, "2026-09-03") == []

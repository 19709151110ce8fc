"""The rollout plan, guardrails, decisions and the stage in effect for a day (design §3.4)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from safeguard.rollout import (
    ABORTED,
    NOT_STARTED,
    ROLLED_BACK,
    GuardrailConfig,
    GuardrailReport,
    RolloutEvent,
    RolloutPlan,
    Stage,
    abort,
    decide,
    evaluate_guardrails,
    pause,
    promote,
    resume,
    stage_in_effect,
    start,
)
from safeguard.rollout.guardrails import psi, quantile_edges
from safeguard.rollout.policy import waiting_for

N = 5000
PLAN = RolloutPlan()


def tiers_of(scores: np.ndarray) -> np.ndarray:
    """Tiers as a model's thresholds would assign them."""
    return np.array(["low", "elevated", "high", "critical"])[np.searchsorted([0.1, 0.3, 0.6], scores, side="right")]


def risk_scores(seed: int, n: int = N) -> np.ndarray:
    """Skewed like real risk probabilities: most accounts near 0, a tail of risky ones."""
    return np.random.default_rng(seed).beta(1.0, 12.0, n)


def compare(champion: np.ndarray, candidate: np.ndarray, **kwargs) -> GuardrailReport:
    return evaluate_guardrails(champion, candidate, tiers_of(champion), tiers_of(candidate), **kwargs)


def labels_for(scores: np.ndarray, seed: int) -> np.ndarray:
    """Labels that the champion's scores predict well: an account is bad with probability ~ its score."""
    return (np.random.default_rng(seed).random(len(scores)) < scores * 2).astype(float)


def equal_with_labels() -> GuardrailReport:
    """A candidate equal to the champion, judged on matured labels: every guardrail passes."""
    scores = risk_scores(1)
    return compare(scores, scores, labels=labels_for(scores, 2))


@pytest.fixture(scope="module")
def passing_report() -> GuardrailReport:
    return equal_with_labels()


@pytest.fixture(scope="module")
def breaching_report() -> GuardrailReport:
    scores = risk_scores(1)
    return compare(scores, 1.0 - scores)


# --- plan ---------------------------------------------------------------------------------------------------------


def test_default_plan_and_json_round_trip():
    assert [s.percent for s in PLAN.stages] == [0, 1, 5, 25, 50, 100]
    assert PLAN.stages[0] == Stage("shadow", 0)
    assert (PLAN.min_days_per_stage, PLAN.min_arm_accounts, PLAN.max_auto_stage) == (2, 200, 25)
    custom = RolloutPlan(
        stages=(Stage("shadow", 0), Stage("ten", 10), Stage("all", 100)),
        min_days_per_stage=1,
        min_arm_accounts=50,
        max_auto_stage=100,
        guardrails=GuardrailConfig(alert_tier="high", score_psi_max=0.1),
    )
    for plan in (PLAN, custom):
        text = plan.to_json()
        assert json.loads(text)["stages"][0] == {"name": "shadow", "percent": 0}
        assert RolloutPlan.from_json(text) == plan
    assert custom.next_stage("ten") == Stage("all", 100)
    assert custom.next_stage("all") is None


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ((Stage("canary", 1), Stage("all", 100)), "start with Stage"),
        ((Stage("shadow", 0), Stage("half", 50)), "end at 100"),
        ((Stage("shadow", 0), Stage("a", 50), Stage("b", 25), Stage("c", 100)), "strictly increase"),
        ((Stage("shadow", 0), Stage("a", 50), Stage("a2", 50), Stage("c", 100)), "strictly increase"),
        ((Stage("shadow", 0), Stage("rolled_back", 50), Stage("c", 100)), "reserved"),
        ((), "start with Stage"),
    ],
)
def test_invalid_plans_are_refused(stages, message):
    with pytest.raises(ValueError, match=message):
        RolloutPlan(stages=stages)


def test_invalid_plan_fields_are_named():
    with pytest.raises(ValueError, match="percent"):
        Stage("x", 150)
    with pytest.raises(ValueError, match="min_days_per_stage"):
        RolloutPlan(min_days_per_stage=-1)
    with pytest.raises(ValueError, match="unknown RolloutPlan field"):
        RolloutPlan.from_dict({"stagez": []})
    with pytest.raises(ValueError, match="unknown GuardrailConfig field"):
        RolloutPlan.from_dict({"guardrails": {"psi": 1}})
    with pytest.raises(ValueError, match="list of"):
        RolloutPlan.from_dict({"stages": [{"name": "shadow"}]})
    with pytest.raises(ValueError, match="alert_tier"):
        GuardrailConfig(alert_tier="severe")
    with pytest.raises(ValueError, match="unknown rollout stage 'canary_2'"):
        PLAN.stage("canary_2")


# --- guardrails ---------------------------------------------------------------------------------------------------


def test_identical_models_pass_every_guardrail(passing_report):
    assert passing_report.metric("alert_rate_ratio").value == pytest.approx(1.0)
    assert passing_report.metric("score_psi").value == pytest.approx(0.0, abs=1e-12)
    assert passing_report.status == "pass"
    assert not passing_report.with_status("breach")


def test_two_draws_of_one_distribution_have_small_psi_and_a_shift_has_large_psi():
    champion = risk_scores(1, 20_000)
    assert psi(champion, risk_scores(2, 20_000), quantile_edges(champion)) < 0.01
    assert psi(champion, np.minimum(champion * 3, 1), quantile_edges(champion)) > 0.25


def test_inverted_candidate_breaches(breaching_report):
    assert breaching_report.status == "breach"
    assert breaching_report.metric("alert_rate_ratio").status == "breach"
    assert breaching_report.metric("alert_rate_ratio").value > 2.0
    assert breaching_report.metric("score_psi").status == "breach"


def test_alert_ratio_stays_finite_when_the_champion_raises_no_alerts():
    champion = np.full(1000, 0.01)
    candidate = np.where(np.arange(1000) < 50, 0.5, 0.01)
    metric = compare(champion, candidate).metric("alert_rate_ratio")
    assert np.isfinite(metric.value) and metric.value > 2.0
    assert metric.status == "breach"
    assert metric.details["champion_alerts"] == 0 and metric.details["candidate_alerts"] == 50


def test_few_alerts_are_insufficient_not_a_breach():
    champion = np.full(1000, 0.01)
    candidate = np.where(np.arange(1000) < 3, 0.5, 0.01)
    assert compare(champion, candidate).metric("alert_rate_ratio").status == "insufficient_data"


def test_precision_and_recall_on_matured_labels():
    champion = risk_scores(3)
    labels = labels_for(champion, 4)
    worse = np.random.default_rng(5).permutation(champion)  # same distribution, no skill
    same = compare(champion, champion, labels=labels)
    assert same.metric("precision_drop").status == "pass" and same.metric("precision_drop").value == 0
    bad = compare(champion, worse, labels=labels)
    assert bad.metric("score_psi").status == "pass"  # the distribution alone cannot see it
    assert bad.metric("precision_drop").status == "breach"
    assert bad.metric("recall_drop").status == "breach"
    details = bad.metric("precision_drop").details
    assert details["champion"] - details["candidate"] > 0.1
    assert details["labelled_positives"] == int(labels.sum())


def test_labels_not_matured_are_insufficient_not_a_breach():
    champion = risk_scores(3)
    worse = np.random.default_rng(5).permutation(champion)
    labels = np.full(N, np.nan)
    labels[:40] = labels_for(champion[:40], 4)  # too few labelled positives to judge
    for report in (compare(champion, worse), compare(champion, worse, labels=labels)):
        positives = 0 if report.metric("recall_drop").details["labelled_positives"] == 0 else int(labels[:40].sum())
        for name in ("precision_drop", "recall_drop"):
            assert report.metric(name).status == "insufficient_data"
            assert report.metric(name).details["note"] == f"{positives} of 20 labelled positives"


def test_feature_drift_warns_and_names_the_feature():
    rng = np.random.default_rng(6)
    reference = pd.DataFrame(
        {
            "requests_7d": rng.lognormal(3, 1, 4000),
            "flag_share": rng.beta(1, 30, 4000),
            "plan": rng.choice(["free", "pro", "team"], 4000, p=[0.7, 0.2, 0.1]),
        }
    )
    stable = pd.DataFrame(
        {
            "requests_7d": rng.lognormal(3, 1, 3000),
            "flag_share": rng.beta(1, 30, 3000),
            "plan": rng.choice(["free", "pro", "team"], 3000, p=[0.7, 0.2, 0.1]),
        }
    )
    drifted = stable.assign(flag_share=rng.beta(1, 5, 3000))
    scores = risk_scores(1, 3000)
    ok = compare(scores, scores, arm_features=stable, reference_features=reference).metric("feature_drift")
    assert ok.status == "pass" and ok.value < 0.05
    assert set(ok.details["per_feature"]) == {"requests_7d", "flag_share", "plan"}
    bad = compare(scores, scores, arm_features=pa.Table.from_pandas(drifted), reference_features=reference)
    assert bad.metric("feature_drift").status == "warn"
    assert bad.metric("feature_drift").details["feature"] == "flag_share"
    assert bad.status == "warn"
    with pytest.raises(ValueError, match=r"flag_share \(in arm\)"):
        compare(scores, scores, arm_features=stable.drop(columns="flag_share"), reference_features=reference)


def test_feature_drift_counts_missing_values_as_their_own_bin():
    reference = {"x": np.arange(1000, dtype=float)}
    arm = {"x": np.where(np.arange(1000) < 500, np.nan, np.arange(1000.0))}
    scores = risk_scores(1, 1000)
    metric = compare(scores, scores, arm_features=arm, reference_features=reference).metric("feature_drift")
    assert np.isfinite(metric.value) and metric.status == "warn"


def test_empty_arm_is_insufficient_everywhere():
    report = evaluate_guardrails([], [], [], [])
    assert report.n_accounts == 0
    assert all(m.status == "insufficient_data" for m in report.metrics)
    assert report.status == "insufficient_data"


def test_report_json_round_trip(breaching_report):
    text = breaching_report.to_json()
    assert json.loads(text)["status"] == "breach"
    assert GuardrailReport.from_json(text) == breaching_report


def test_bad_guardrail_input_is_named():
    scores = risk_scores(1, 10)
    with pytest.raises(ValueError, match="candidate_scores has 9"):
        evaluate_guardrails(scores, scores[:9], tiers_of(scores), tiers_of(scores))
    with pytest.raises(ValueError, match=r"candidate_scores\[2\] is nan"):
        evaluate_guardrails(scores, np.where(np.arange(10) == 2, np.nan, scores), tiers_of(scores), tiers_of(scores))
    bad_tiers = tiers_of(scores).astype(object)
    bad_tiers[4] = "severe"
    with pytest.raises(ValueError, match=r"candidate_tiers\[4\] is 'severe'"):
        evaluate_guardrails(scores, scores, tiers_of(scores), bad_tiers)
    with pytest.raises(ValueError, match=r"labels\[0\] is 2.0"):
        evaluate_guardrails(scores, scores, tiers_of(scores), tiers_of(scores), labels=np.full(10, 2.0))


# --- decisions ----------------------------------------------------------------------------------------------------


def test_breach_rolls_back_at_the_first_canary_evaluation(breaching_report):
    decision = decide(PLAN, "canary_1", 1, N, breaching_report, paused=False)
    assert (decision.action, decision.from_stage, decision.to_stage) == (
        "rollback",
        "canary_1",
        "rolled_back",
    )
    assert any("alert_rate_ratio" in r for r in decision.reasons)
    assert decision.actor is None


def test_breach_rolls_back_even_when_paused(breaching_report):
    assert decide(PLAN, "canary_5", 3, N, breaching_report, paused=True).action == "rollback"


def test_pass_and_min_days_advance(passing_report):
    decision = decide(PLAN, "canary_1", 2, N, passing_report, paused=False)
    assert (decision.action, decision.to_stage) == ("advance", "canary_5")
    assert decide(PLAN, "shadow", 2, N, passing_report, paused=False).to_stage == "canary_1"
    assert decide(PLAN, "canary_5", 5, N, passing_report, paused=False).to_stage == "canary_25"


def test_pass_before_min_days_holds(passing_report):
    decision = decide(PLAN, "canary_1", 1, N, passing_report, paused=False)
    assert (decision.action, decision.to_stage) == ("hold", "canary_1")
    assert any("min_days_per_stage=2" in r for r in decision.reasons)


def test_a_small_arm_holds_but_a_judged_breach_rolls_back_whatever_the_arm(passing_report, breaching_report):
    decision = decide(PLAN, "canary_1", 5, 150, passing_report, paused=False)
    assert decision.action == "hold"
    assert "fewer than min_arm_accounts=200" in decision.reasons[0]
    assert decide(PLAN, "canary_1", 5, 150, breaching_report, paused=False).action == "rollback"


def test_max_auto_stage_holds_awaiting_promotion(passing_report):
    decision = decide(PLAN, "canary_25", 10, N, passing_report, paused=False)
    assert (decision.action, decision.to_stage) == ("hold", "canary_25")
    assert "awaiting manual promotion beyond 25%" in decision.reasons
    last = decide(PLAN, "full_100", 10, N, passing_report, paused=False)
    assert last.action == "hold" and any("last stage" in r for r in last.reasons)


def test_paused_holds(passing_report):
    decision = decide(PLAN, "canary_1", 5, N, passing_report, paused=True)
    assert decision.action == "hold"
    assert decision.reasons[0] == "paused by an operator"


def test_shared_drift_is_reported_and_never_decides():
    rng = np.random.default_rng(7)
    reference = {"f": rng.normal(0, 1, 2000)}
    scores = risk_scores(1)
    labels = labels_for(scores, 2)
    drifted = compare(
        scores, scores, labels=labels, arm_features={"f": rng.normal(2, 1, N)}, reference_features=reference
    )
    assert drifted.metric("feature_drift").status == "warn"
    noted = decide(PLAN, "canary_1", 5, N, drifted, paused=False)
    assert noted.action == "advance"
    assert any("feature_drift" in r and "never decides" in r for r in noted.reasons)
    unjudged = compare(scores, scores, arm_features={"f": rng.normal(2, 1, N)}, reference_features=reference)
    assert decide(PLAN, "canary_1", 5, N, unjudged, paused=False).action == "hold"  # drift cannot stand in


def test_no_advance_without_a_judged_outcome_and_the_reason_says_what_is_missing():
    scores = risk_scores(1)
    unlabelled = compare(scores, scores)  # distributions agree perfectly, but no matured labels yet
    assert {m.name for m in unlabelled.with_status("pass")} >= {
        "alert_rate_ratio",
        "alert_agreement",
        "score_psi",
    }
    decision = decide(PLAN, "canary_1", 5, N, unlabelled, paused=False)
    assert decision.action == "hold"
    assert any(
        "0 of 1 outcome guardrail(s) judged on matured labels" in r and "0 of 20 labelled positives" in r
        for r in decision.reasons
    ), decision.reasons
    # the day line's short form names only the deciding guardrails still missing: here the outcomes
    assert waiting_for({m.name: m.status for m in unlabelled.metrics}) == ["precision_drop", "recall_drop"]
    few = np.full(N, np.nan)
    few[:60] = labels_for(scores[:60], 3)
    partly = decide(PLAN, "canary_1", 5, N, compare(scores, scores, labels=few), paused=False)
    assert partly.action == "hold"
    assert any(f"{int(np.nansum(few))} of 20 labelled positives" in r for r in partly.reasons), partly.reasons


def test_an_undecided_interval_holds_and_records_n_estimate_and_bound():
    scores = risk_scores(4, n=400)
    candidate = np.clip(scores * np.random.default_rng(9).lognormal(0, 0.6, 400), 0, 1)
    labels = labels_for(scores, 5)
    report = compare(scores, candidate, labels=labels)
    recall = report.metric("recall_drop")
    interval = recall.details["interval"]
    assert interval["n"] == int(labels.sum()) and interval["low"] < interval["estimate"] < interval["high"]
    assert recall.threshold == -0.1
    if recall.status == "insufficient_data":  # wide interval over the margin: more evidence needed
        assert interval["low"] < -0.1 <= interval["high"] and "does not settle" in recall.details["note"]
    assert f"n={interval['n']}" in recall.describe()


def test_shuffled_scores_pass_the_distribution_checks_but_breach_the_paired_agreement():
    champion = risk_scores(3)
    shuffled = np.random.default_rng(5).permutation(champion)  # no skill, same distribution
    report = compare(champion, shuffled)
    assert report.metric("score_psi").status == "pass" and report.metric("alert_rate_ratio").status == "pass"
    agreement = report.metric("alert_agreement")
    assert agreement.status == "breach"
    assert agreement.details["kept"] + agreement.details["dropped"] == agreement.details["champion_alerts"]
    assert abs(agreement.details["rank_agreement"]) < 0.1
    assert compare(champion, champion).metric("alert_agreement").details["rank_agreement"] == pytest.approx(1.0)
    migration = agreement.details["tier_migration"]
    assert sum(sum(row.values()) for row in migration.values()) == N
    assert decide(PLAN, "shadow", 3, N, report, paused=False).action == "rollback"


def test_decisions_on_an_ended_rollout_are_refused(passing_report):
    with pytest.raises(ValueError, match="has ended"):
        decide(PLAN, "rolled_back", 5, N, passing_report, paused=False)
    with pytest.raises(ValueError, match="not running"):
        abort("aborted", "ana", "again")


def test_manual_actions_need_a_named_actor():
    for action in (lambda a: promote(PLAN, "canary_25", a), lambda a: abort("canary_5", a, "bad reasons")):
        for nobody in (None, "", "   "):
            with pytest.raises(ValueError, match="named actor"):
                action(nobody)
    with pytest.raises(ValueError, match="reason"):
        abort("canary_5", "ana", " ")


def test_manual_actions():
    promoted = promote(PLAN, "canary_25", "ana")
    assert (promoted.action, promoted.from_stage, promoted.to_stage, promoted.actor) == (
        "promote",
        "canary_25",
        "canary_50",
        "ana",
    )
    assert promote(PLAN, "full_100", "ana").to_stage == "completed"
    aborted = abort("canary_50", "bo", "false positives on enterprise accounts")
    assert (aborted.to_stage, aborted.actor) == ("aborted", "bo")
    assert "false positives on enterprise accounts" in aborted.reasons[0]
    paused = pause("canary_5", "cy", "investigating")
    assert (paused.action, paused.to_stage) == ("pause", "canary_5")
    assert resume("canary_5", "cy").action == "resume"
    started = start(PLAN, "dee")
    assert (started.from_stage, started.to_stage) == ("not_started", "shadow")
    assert json.loads(json.dumps(promoted.to_dict()))["actor"] == "ana"


# --- stage in effect ----------------------------------------------------------------------------------------------

T0 = datetime(2026, 9, 1, 6, 0)


def history() -> list[RolloutEvent]:
    """Started on 09-01, advanced by automation on the morning of 09-03, rolled back at noon on 09-06."""
    return [
        start(PLAN, "ana").event(T0),
        decide(PLAN, "shadow", 2, N, equal_with_labels(), paused=False).event(datetime(2026, 9, 3, 7, 0)),
        RolloutEvent(datetime(2026, 9, 6, 12, 0), "canary_1", "rolled_back", "rollback"),
    ]


@pytest.mark.parametrize(
    ("day", "stage"),
    [
        ("2026-09-01", NOT_STARTED),  # started during 09-01: takes effect on 09-02
        ("2026-09-02", Stage("shadow", 0)),
        ("2026-09-03", Stage("shadow", 0)),  # advanced on 09-03 itself
        ("2026-09-04", Stage("canary_1", 1)),
        ("2026-09-06", Stage("canary_1", 1)),
        ("2026-09-07", ROLLED_BACK),  # rollback before 09-07 00:00: champion only
    ],
)
def test_stage_in_effect(day, stage):
    assert stage_in_effect(history(), day, plan=PLAN) == stage
    assert stage_in_effect(reversed(history()), day, plan=PLAN) == stage  # log order does not matter


def test_later_decisions_do_not_change_an_earlier_day():
    before = stage_in_effect(history(), "2026-09-05", plan=PLAN)
    later = [*history(), abort("canary_1", "bo", "re-run").event(datetime(2026, 9, 5, 1, 0))]
    assert stage_in_effect(later, "2026-09-05", plan=PLAN) == before == Stage("canary_1", 1)
    assert stage_in_effect(later, "2026-09-06", plan=PLAN) == ABORTED
    assert ABORTED.percent == 0 and ABORTED.is_terminal


def test_stage_in_effect_edges():
    assert stage_in_effect([], "2026-09-01", plan=PLAN) == NOT_STARTED
    just_before = [{"time": datetime(2026, 9, 1, 23, 59, 59, 999999), "to_stage": "canary_5"}]
    assert stage_in_effect(just_before, "2026-09-02", plan=PLAN) == Stage("canary_5", 5)
    at_midnight = [{"time": datetime(2026, 9, 2), "to_stage": "canary_5"}]
    assert stage_in_effect(at_midnight, "2026-09-02", plan=PLAN) == NOT_STARTED
    # 01:00 at UTC+2 is 23:00 UTC the day before.
    aware = [{"time": datetime(2026, 9, 2, 1, 0, tzinfo=timezone(timedelta(hours=2))), "to_stage": "canary_5"}]
    assert stage_in_effect(aware, "2026-09-02", plan=PLAN) == Stage("canary_5", 5)
    same_time = [
        {"time": T0, "to_stage": "canary_1"},
        {"time": T0, "to_stage": "rolled_back"},
    ]
    assert stage_in_effect(same_time, "2026-09-02", plan=PLAN) == ROLLED_BACK
    with pytest.raises(ValueError, match="unknown rollout stage 'mystery'"):
        stage_in_effect([{"time": T0, "to_stage": "mystery"}], "2026-09-02", plan=PLAN)
    with pytest.raises(ValueError, match="lacks 'to_stage'"):
        stage_in_effect([{"time": T0}], "2026-09-02", plan=PLAN)
    with pytest.raises(TypeError, match="must be a datetime"):
        stage_in_effect([{"time": "2026-09-01", "to_stage": "shadow"}], "2026-09-02", plan=PLAN)


def test_score_psi_counts_distinct_accounts_not_pooled_account_days():
    """Four days of the same 60 accounts are 60 draws of the score distribution: too few to judge a PSI, however
    many rows the pooling gives; 240 distinct accounts are enough."""
    champion = risk_scores(5, 240)
    candidate = np.minimum(champion * 3, 1)  # a shift the PSI sees
    same_accounts = np.tile(np.arange(60), 4)
    pooled = evaluate_guardrails(
        champion, candidate, tiers_of(champion), tiers_of(candidate), accounts=same_accounts
    ).metric("score_psi")
    assert pooled.status == "insufficient_data" and pooled.details["accounts"] == 60
    assert pooled.value > 0.25  # measured and shown, not judged
    distinct = evaluate_guardrails(
        champion, candidate, tiers_of(champion), tiers_of(candidate), accounts=np.arange(240)
    ).metric("score_psi")
    assert distinct.status == "breach"

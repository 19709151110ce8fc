"""The daily rollout evaluation: guardrails on the stage's pooled evidence, then the automatic decision (§3.4).

For score day D with a rollout in a live stage S (read from the audit log, as serving does), started on day S0:
1. the arm: accounts with ``bucket <= percent`` of S; in shadow every account both models scored;
2. both models' probabilities and tiers on the arm for **every day of the stage**, S0..D, pooled (rows are
   account-days; the intervals count accounts, see :mod:`safeguard.rollout.sequential`);
3. the labels matured since the stage began: ``marts.fct_training_examples`` rows of the arm whose label window
   closed on or after S0 and by D (``as_of_date`` in [S0 - H, D - H]), with both models' tiers on that
   ``as_of_date``. A candidate registered less than H days ago has no live scores for those days: its tiers come
   from the offline backtest's replay (``scoring.backtest_scores``: the candidate on the point-in-time features of
   those days), so outcome guardrails can be judged from the first days of a rollout;
4. feature drift: the arm's features on D against a sample of the candidate's validation window
   (``marts.fct_account_features``), over the candidate's features (reported, shared by both models);
5. :func:`safeguard.rollout.guardrails.evaluate_guardrails` with the plan's thresholds, then
   :func:`safeguard.rollout.policy.decide`, recorded as a ``rollout_events`` row with the metrics. Outcome
   guardrails without enough labels say when more mature; the day's new alerts (raised by the candidate, not by
   the champion) are listed with the candidate's reasons for a person to look at.

When a decision is recorded, and when not:
- one automatic decision per rollout and score day: re-evaluating a day that has one (a re-run or a backfill)
  recomputes the metrics and records nothing; neither does a day older than the latest decided day;
- the decision's ``event_time`` is the end of D, or the end of the last served day if later, so the new stage
  applies from the first day not served yet and no served day ever changes its assignment;
- when the rollout already moved on from the stage in effect on D (a decision waits for its first day), only a
  breach acts (roll back); anything else waits for the new stage's own evaluations;
- the decision is written only on the rollout version it was made on: when an operator (or another run) changed
  the rollout meanwhile, the write is refused as stale and the day is evaluated again on the new state (an abort
  is then seen and nothing is recorded); an abort is never overwritten.
A rollback marks the candidate ``rejected`` in the registry: production evidence says it is worse, so it is never
scored again. (An abort by a person leaves it ``candidate``: the reason may be operational, and a new rollout may
follow.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from safeguard.dates import as_date
from safeguard.examples import EXAMPLES_TABLE
from safeguard.registry import ModelRegistry
from safeguard.rollout.backtest_replay import BACKTEST_SCORES_TABLE
from safeguard.rollout.bucketing import buckets, in_candidate_arm
from safeguard.rollout.guardrails import OUTCOME_GUARDRAILS, GuardrailReport, evaluate_guardrails
from safeguard.rollout.policy import decide, waiting_for
from safeguard.rollout.served import last_served_day
from safeguard.rollout.state import EventRecord, RolloutState, RolloutStore, StaleRolloutError, end_of_day
from safeguard.scoring import FEATURES_TABLE, SCORES_TABLE
from safeguard.serving.state_tables import model_versions
from safeguard.vocabulary import REJECTED, TIERS, utcnow
from safeguard.warehouse import table_exists

# Feature drift compares samples: a PSI over 10 bins is stable far below these sizes, and memory stays bounded.
REFERENCE_SAMPLE_ROWS = 20_000
ARM_SAMPLE_ROWS = 20_000
NEW_ALERTS_LISTED = 20


class EvaluationError(ValueError):
    """A day cannot be evaluated; the message names the day and what is missing."""


@dataclass(frozen=True)
class TrainingFacts:
    """What the evaluation needs of a registered model: its features, the days feature drift is measured
    against, and its label horizon."""

    version: str
    features: list[str]
    reference_start: date
    reference_end: date
    label_horizon_days: int


def training_facts(engine: Engine, version: str) -> TrainingFacts:
    """The model's facts; drift is measured against its validation window: the newest days it was judged on
    (its thresholds were chosen there), and days late enough for every 28-day window to be full. The oldest
    training days of a young history have half-empty 28-day windows, which read as drift (PSI 1.4 on the demo
    world's events_28d) where there is none."""
    query = sa.select(
        model_versions.c.features,
        model_versions.c.validation_start,
        model_versions.c.validation_end,
        model_versions.c.label_horizon_days,
    ).where(model_versions.c.version == version)
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        raise EvaluationError(f"model {version} is not in the registry (model_versions)")
    return TrainingFacts(version, list(row.features), row.validation_start, row.validation_end, row.label_horizon_days)


@dataclass
class DayEvaluation:
    """The outcome of evaluating one score day."""

    day: str
    state: RolloutState | None
    arm_accounts: int = 0  # accounts of the arm on the day itself
    pooled_rows: int = 0  # account-days of the stage pooled by the guardrails
    labelled_rows: int = 0
    report: GuardrailReport | None = None
    label_outlook: str = ""
    next_label_maturity: date | None = None  # the next day more labels mature
    new_alerts: list[dict[str, Any]] = field(default_factory=list)
    decision: EventRecord | None = None  # recorded by this evaluation
    previous_decision: EventRecord | None = None  # recorded for this day by an earlier evaluation
    note: str = ""  # why no decision was recorded

    def summary(self) -> dict[str, Any]:
        """One line of the day's outcome for people: the stage in effect, the guardrails, the decision and why."""
        event = self.decision or self.previous_decision
        return {
            "rollout_id": self.state.rollout_id if self.state else None,
            "stage_in_effect": self.state.stage.name if self.state else None,
            "arm_accounts": self.arm_accounts,
            "guardrails": self.report.status if self.report else None,
            "decision": event.decision if event else None,
            "to_stage": event.to_stage if event else None,
            "recorded_now": self.decision is not None,
            "reason": event.reason if event else self.note,
            # the day line's short form: which deciding guardrails have not passed yet
            "waiting_for": waiting_for({m.name: m.status for m in self.report.metrics}) if self.report else [],
        }

    def metrics(self) -> dict[str, Any]:
        """The metrics stored with a decision and shown as metadata."""
        return {
            "score_date": self.day,
            "rollout_id": self.state.rollout_id if self.state else None,
            "stage_in_effect": self.state.stage.name if self.state else None,
            "days_in_stage": self.state.days_in_stage(self.day) if self.state else None,
            "arm_accounts": self.arm_accounts,
            "pooled_rows": self.pooled_rows,
            "labelled_rows": self.labelled_rows,
            "label_outlook": self.label_outlook,
            "next_label_maturity": self.next_label_maturity.isoformat() if self.next_label_maturity else None,
            "new_alerts": self.new_alerts,
            "guardrails": self.report.to_dict() if self.report else None,
        }


def _arm_mask(account_ids: pa.Array | pa.ChunkedArray, state: RolloutState) -> np.ndarray:
    """The candidate arm among ``account_ids``: everyone in shadow, else the stage's bucket share."""
    if state.is_shadow:
        return np.ones(len(account_ids), dtype=bool)
    return in_candidate_arm(buckets(account_ids, salt=state.rollout_id), state.stage.percent)


def _on_arm(frame: pd.DataFrame, state: RolloutState) -> pd.DataFrame:
    if frame.empty:
        return frame
    ids = pa.array(frame["account_id"].to_numpy(dtype=object), type=pa.string())
    return frame[_arm_mask(ids, state)].reset_index(drop=True)


def arm_scores(con, day: str, state: RolloutState) -> pd.DataFrame:
    """Both models' probability and tier for the arm's accounts that both scored, on every day of the stage up to
    ``day`` (the stage's pooled evidence)."""
    frame = con.execute(
        f"""SELECT ch.account_id, ch.score_date, ch.probability AS champion_probability, ch.tier AS champion_tier,
                   cd.probability AS candidate_probability, cd.tier AS candidate_tier
            FROM {SCORES_TABLE} AS ch
            JOIN {SCORES_TABLE} AS cd ON cd.account_id = ch.account_id AND cd.score_date = ch.score_date
            WHERE ch.score_date BETWEEN ?::DATE AND ?::DATE AND ch.model_version = ? AND cd.model_version = ?
            ORDER BY ch.score_date, ch.account_id""",
        [state.stage_started_on.isoformat(), day, state.champion_version, state.candidate_version],
    ).df()
    return _on_arm(frame, state)


def _candidate_scores_source(con) -> str:
    """The candidate's tiers per (account, day): live scores, else the backtest's replay of that day."""
    if not table_exists(con, BACKTEST_SCORES_TABLE):
        return f"SELECT account_id, score_date, model_version, tier FROM {SCORES_TABLE}"
    return f"""SELECT account_id, score_date, model_version, tier FROM {SCORES_TABLE}
               UNION ALL
               SELECT b.account_id, b.score_date, b.model_version, b.tier FROM {BACKTEST_SCORES_TABLE} AS b
               WHERE NOT EXISTS (SELECT 1 FROM {SCORES_TABLE} AS s WHERE s.model_version = b.model_version
                                 AND s.score_date = b.score_date AND s.account_id = b.account_id)"""


def label_window(day: str, state: RolloutState, horizon_days: int) -> tuple[date, date]:
    """The score days whose labels matured since the stage began, as of ``day``: [S0 - H, D - H]."""
    return state.stage_started_on - timedelta(days=horizon_days), as_date(day) - timedelta(days=horizon_days)


def matured_labels(con, day: str, state: RolloutState, horizon_days: int) -> pd.DataFrame:
    """Labels of arm accounts that matured since the stage began, with both models' tiers on their as_of_date."""
    first, last = label_window(day, state, horizon_days)
    if last < first:
        return pd.DataFrame(columns=["account_id", "as_of_date", "label", "champion_tier", "candidate_tier"])
    frame = con.execute(
        f"""WITH candidate AS ({_candidate_scores_source(con)})
            SELECT ex.account_id, ex.as_of_date, ex.label, ch.tier AS champion_tier, cd.tier AS candidate_tier
            FROM {EXAMPLES_TABLE} AS ex
            JOIN {SCORES_TABLE} AS ch
              ON ch.account_id = ex.account_id AND ch.score_date = ex.as_of_date AND ch.model_version = ?
            JOIN candidate AS cd
              ON cd.account_id = ex.account_id AND cd.score_date = ex.as_of_date AND cd.model_version = ?
            WHERE ex.as_of_date BETWEEN ?::DATE AND ?::DATE
            ORDER BY ex.as_of_date, ex.account_id""",
        [state.champion_version, state.candidate_version, first.isoformat(), last.isoformat()],
    ).df()
    return _on_arm(frame, state)


def label_outlook(con, day: str, state: RolloutState, horizon_days: int) -> tuple[str, date]:
    """When more labelled evidence arrives: a sentence for the reasons, and the next date labels mature."""
    first, last = label_window(day, state, horizon_days)
    source = _candidate_scores_source(con)
    scored = con.execute(
        f"SELECT min(score_date) FROM ({source}) WHERE model_version = ? AND score_date >= ?::DATE",
        [state.candidate_version, first.isoformat()],
    ).fetchone()[0]
    if scored is None or as_date(scored) > last:
        start = max(as_date(scored) if scored is not None else as_date(day), first)
        maturity = start + timedelta(days=horizon_days)
        text = (
            f"the candidate has no scores for score days {first}..{last} (no backtest replay of them); "
            f"its first labels mature on {maturity}"
        )
        return text, maturity
    maturity = max(first, last + timedelta(days=1)) + timedelta(days=horizon_days)
    text = (
        f"labels of score days {max(first, as_date(scored))}..{last} counted; labels mature {horizon_days} days "
        f"after their score day, the next on {maturity}"
    )
    return text, maturity


def new_alerts(con, day: str, state: RolloutState, limit: int = NEW_ALERTS_LISTED) -> list[dict[str, Any]]:
    """The arm's accounts the candidate alerts on and the champion does not, on ``day``, riskiest first, with the
    candidate's reasons: the alerts a person should look at before the candidate serves more traffic."""
    alert = state.plan.guardrails.alert_tier
    alerting = list(TIERS[TIERS.index(alert) :])
    frame = con.execute(
        f"""SELECT cd.account_id, cd.probability AS candidate_probability, cd.tier AS candidate_tier,
                   ch.probability AS champion_probability, ch.tier AS champion_tier, cd.reasons_json
            FROM {SCORES_TABLE} AS cd
            JOIN {SCORES_TABLE} AS ch ON ch.account_id = cd.account_id AND ch.score_date = cd.score_date
            WHERE cd.score_date = ?::DATE AND cd.model_version = ? AND ch.model_version = ?
              AND list_contains(?::VARCHAR[], cd.tier) AND NOT list_contains(?::VARCHAR[], ch.tier)
            ORDER BY cd.probability DESC, cd.account_id""",
        [day, state.candidate_version, state.champion_version, alerting, alerting],
    ).df()
    frame = _on_arm(frame, state).head(limit)
    out = []
    for row in frame.itertuples(index=False):
        reasons = json.loads(row.reasons_json) if isinstance(row.reasons_json, str) else []
        out.append(
            {
                "account_id": row.account_id,
                "candidate": f"{row.candidate_tier} {row.candidate_probability:.3f}",
                "champion": f"{row.champion_tier} {row.champion_probability:.3f}",
                "reasons": [r.get("reason", r.get("feature")) for r in reasons[:3]],
            }
        )
    return out


def _quoted(names: list[str]) -> str:
    return ", ".join('"' + n.replace('"', '""') + '"' for n in names)


def feature_samples(
    con, day: str, arm_account_ids: pa.Array, facts: TrainingFacts
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The arm's features on ``day`` and a reference sample of the model's reference window (deterministic
    samples: the rows with the smallest hash)."""
    columns = _quoted(facts.features)
    con.register("_evaluated_arm", pa.table({"account_id": arm_account_ids}))
    try:
        arm = con.execute(
            f"""SELECT {columns} FROM {FEATURES_TABLE} JOIN _evaluated_arm USING (account_id)
                WHERE as_of_date = ?::DATE ORDER BY hash(account_id) LIMIT {ARM_SAMPLE_ROWS}""",
            [day],
        ).df()
    finally:
        con.unregister("_evaluated_arm")
    reference = con.execute(
        f"""SELECT {columns} FROM {FEATURES_TABLE} WHERE as_of_date BETWEEN ?::DATE AND ?::DATE
            ORDER BY hash(account_id, as_of_date) LIMIT {REFERENCE_SAMPLE_ROWS}""",
        [facts.reference_start.isoformat(), facts.reference_end.isoformat()],
    ).df()
    return arm, reference


def evaluate_metrics(con, day: date | str, state: RolloutState, facts: TrainingFacts) -> DayEvaluation:
    """The guardrail report of ``day`` for the rollout in ``state``, on the stage's pooled evidence (no decision)."""
    day = as_date(day).isoformat()
    try:
        scores = arm_scores(con, day, state)
        labels = matured_labels(con, day, state, facts.label_horizon_days)
        today = scores[scores["score_date"] == pd.Timestamp(day)] if len(scores) else scores
        arm_features, reference = feature_samples(
            con, day, pa.array(today["account_id"].to_numpy(dtype=object), type=pa.string()), facts
        )
        outlook, next_maturity = label_outlook(con, day, state, facts.label_horizon_days)
        fresh = new_alerts(con, day, state)
    except duckdb.Error as e:  # a missing table or column: name the day and the rollout
        raise EvaluationError(f"{day}: cannot evaluate rollout {state.rollout_id}: {e}") from e
    report = evaluate_guardrails(
        scores["champion_probability"].to_numpy(dtype=float),
        scores["candidate_probability"].to_numpy(dtype=float),
        scores["champion_tier"].to_numpy(dtype=object),
        scores["candidate_tier"].to_numpy(dtype=object),
        accounts=scores["account_id"].to_numpy(dtype=object),
        labels=labels["label"].to_numpy(dtype=float) if len(labels) else None,
        label_tiers=(
            labels["champion_tier"].to_numpy(dtype=object),
            labels["candidate_tier"].to_numpy(dtype=object),
        ),
        label_accounts=labels["account_id"].to_numpy(dtype=object),
        arm_features=arm_features,
        reference_features=reference,
        feature_names=facts.features,
        config=state.plan.guardrails,
    )
    report = with_label_outlook(report, outlook)
    return DayEvaluation(
        day,
        state,
        arm_accounts=int(today["account_id"].nunique()) if len(today) else 0,
        pooled_rows=len(scores),
        labelled_rows=len(labels),
        report=report,
        label_outlook=outlook,
        next_label_maturity=next_maturity,
        new_alerts=fresh,
    )


def with_label_outlook(report: GuardrailReport, outlook: str) -> GuardrailReport:
    """The report with the labels' outlook added to the note of each outcome guardrail that is not judged yet."""
    metrics = tuple(
        replace(m, details={**m.details, "note": f"{m.details.get('note', 'not judged')}; {outlook}"})
        if m.name in OUTCOME_GUARDRAILS and m.status == "insufficient_data"
        else m
        for m in report.metrics
    )
    return replace(report, metrics=metrics)


def decision_time(day: date | str, last_served: date | None) -> datetime:
    """When a decision on score day ``day`` takes effect: after ``day`` and after every day already served."""
    return end_of_day(max(as_date(day), last_served) if last_served else day)


def evaluate_day(
    con, day: date | str, store: RolloutStore, registry: ModelRegistry, *, stale_retries: int = 3
) -> DayEvaluation:
    """Evaluate score day ``day`` and record the automatic decision when one is due (see the module docstring).

    A decision refused as stale (the rollout changed while it was made) re-reads the state and decides again, up
    to ``stale_retries`` times; then it records nothing and says why in the note."""
    day = as_date(day).isoformat()
    state = store.state_for_day(day)
    if state is None:
        return DayEvaluation(day, None, note="no rollout in a live stage on this day")
    evaluation = evaluate_metrics(con, day, state, training_facts(store.engine, state.candidate_version))
    rollout = store.get(state.rollout_id)
    evaluation.previous_decision = store.decision_for_day(rollout.rollout_id, day)
    last_decided = store.last_decided_day(rollout.rollout_id)
    if evaluation.previous_decision is not None:
        evaluation.note = (
            f"decided already ({evaluation.previous_decision.decision} at "
            f"{evaluation.previous_decision.event_time:%Y-%m-%d %H:%M:%S}); metrics recomputed, no new decision"
        )
        return evaluation
    if not rollout.is_running:
        evaluation.note = f"rollout {rollout.rollout_id} is {rollout.status}; metrics only"
        return evaluation
    if last_decided is not None and as_date(day) < last_decided:
        evaluation.note = f"a later day ({last_decided}) is decided already; a backfilled day never re-decides"
        return evaluation
    decision = decide(
        state.plan,
        rollout.current_stage,
        state.days_in_stage(day) if rollout.current_stage == state.stage.name else 0,
        evaluation.arm_accounts,
        evaluation.report,
        paused=rollout.paused,
    )
    if rollout.current_stage != state.stage.name and decision.action != "rollback":
        evaluation.note = (
            f"the rollout moved on to {rollout.current_stage} (from {rollout.stage_started_on}); "
            f"the evaluation of {state.stage.name} on {day} only acts on a breach"
        )
        return evaluation
    metrics = {**evaluation.metrics(), "recorded_at": utcnow().isoformat(timespec="seconds")}
    try:
        evaluation.decision = store.append(
            rollout.rollout_id,
            decision,
            decision_time(day, last_served_day(con)),
            score_date=day,
            metrics=metrics,
            expected_version=rollout.version,
        )
    except StaleRolloutError as stale:
        if stale_retries > 0:
            return evaluate_day(con, day, store, registry, stale_retries=stale_retries - 1)
        evaluation.note = f"no decision recorded: {stale}"
        return evaluation
    if decision.action == "rollback":
        registry.set_status(rollout.candidate_version, REJECTED)
    return evaluation

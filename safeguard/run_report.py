"""What a pipeline run did, in lines a person reads (issue 20): one line per step, or one line per day.

``safeguard run`` prints these instead of Dagster's event stream. They are built from what the run's steps record
on their materializations (the same metadata the UI shows), so the console and the UI never disagree; the full
event log, dbt's lines included, stays in the Dagster instance and is one flag away (``safeguard -v``).

Dagster-free: the runner hands over plain :class:`Materialized` and :class:`CheckOutcome` records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from safeguard.vocabulary import ALERT_TIERS

INGESTED = ("raw_usage_events", "raw_accounts", "raw_enforcement_actions")
SCORED, PUBLISHED = "account_risk_scores", "risk_tables"
MODEL, ROLLOUT, REVIEW = "risk_model", "rollout_evaluation", "review_queue"


@dataclass(frozen=True)
class Materialized:
    asset: str
    metadata: Mapping[str, Any]  # plain values (numbers, text, dicts)
    dbt_model: bool = False  # built by the dbt project (the runner knows which assets dbt builds)


@dataclass(frozen=True)
class CheckOutcome:
    asset: str
    name: str
    passed: bool
    blocking: bool  # an ERROR-severity check: its failure stops what depends on the asset


@dataclass(frozen=True)
class StepFailure:
    step: str
    error: str  # the exception's class, e.g. LandingError
    message: str  # the first line of its message


@dataclass
class RunRecord:
    """A run's materializations (the last per asset: a range run records the same metadata on each day) and checks."""

    materialized: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    partitions: dict[str, int] = field(default_factory=dict)
    dbt_models: list[str] = field(default_factory=list)
    checks: list[CheckOutcome] = field(default_factory=list)
    failures: list[StepFailure] = field(default_factory=list)

    @classmethod
    def of(
        cls,
        materialized: Sequence[Materialized],
        checks: Sequence[CheckOutcome],
        failures: Sequence[StepFailure] = (),
    ) -> RunRecord:
        record = cls(checks=list(checks), failures=list(failures))
        for m in materialized:
            if m.dbt_model and m.asset not in record.materialized:
                record.dbt_models.append(m.asset)
            record.materialized[m.asset] = m.metadata
            record.partitions[m.asset] = record.partitions.get(m.asset, 0) + 1
        return record

    def _meta(self, asset: str) -> Mapping[str, Any] | None:
        return self.materialized.get(asset)

    def failed_checks(self) -> list[CheckOutcome]:
        return [c for c in self.checks if not c.passed]


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _tiers(counts: Mapping[str, Any] | None) -> str:
    if not counts:
        return "no alerts"
    parts = [f"{tier} {_int(counts.get(tier)):,}" for tier in reversed(ALERT_TIERS)]
    return " · ".join(parts)


def ingestion_phrase(record: RunRecord) -> str | None:
    loaded = [(a.removeprefix("raw_"), record._meta(a)) for a in INGESTED if record._meta(a) is not None]
    if not loaded:
        return None
    rows = ", ".join(f"{name} {_int(m.get('dagster/row_count')):,}" for name, m in loaded)
    quarantined = sum(_int(m.get("rows_quarantined")) for _, m in loaded)
    return f"loaded {rows}; {quarantined:,} quarantined"


def features_phrase(record: RunRecord) -> str | None:
    models = record.dbt_models
    if not models:
        return None
    dbt_checks = [c for c in record.checks if c.asset in models]
    passed = sum(c.passed for c in dbt_checks)
    return f"{len(models)} dbt models built, {passed} of {len(dbt_checks)} data tests passed"


def model_phrase(record: RunRecord) -> str | None:
    meta = record._meta(MODEL)
    return str(meta.get("summary")) if meta is not None and meta.get("summary") else None


def scoring_phrase(record: RunRecord) -> str | None:
    meta = record._meta(SCORED)
    if meta is None:
        return None
    models = meta.get("models") or []
    return f"scored {_int(meta.get('rows')):,} account-days with {len(models)} model(s)"


def published_phrase(record: RunRecord) -> str | None:
    meta = record._meta(PUBLISHED)
    if meta is None:
        return None
    per_day = meta.get("rows_per_tier_per_day") or {}
    last_day = max(per_day) if per_day else "the last day"
    return f"published {_int(meta.get('dagster/row_count')):,} rows; {last_day}: {_tiers(meta.get('rows_per_tier'))}"


def _last_decision(record: RunRecord) -> tuple[str, str] | None:
    """(day, what the rollout did on it) for the run's last evaluated day."""
    decisions = (record._meta(ROLLOUT) or {}).get("decisions") or {}
    if not decisions:
        return None
    day = max(decisions)
    last = decisions[day]
    if not last.get("rollout_id"):
        return day, "no rollout in progress"
    return day, decision_phrase(last)


def decision_phrase(decision: Mapping[str, Any]) -> str:
    """A rollout decision in a few words: where it went, and for a hold, what it waits for (the full reason is in
    ``safeguard rollout status`` and the audit log)."""
    what = decision.get("decision") or "no decision"
    reason = str(decision.get("reason") or "")
    if what == "advance":
        # its first clause: how many guardrails passed over how many accounts (which ones: rollout status)
        first = reason.split("; ")[0]
        return f"advance {decision.get('stage_in_effect')} -> {decision.get('to_stage')} ({_short(first, 60)})"
    if what == "rollback":
        return f"rollback from {decision.get('stage_in_effect')} ({_short(reason, 80)})"
    stage = decision.get("to_stage") or decision.get("stage_in_effect")
    waiting = decision.get("waiting_for") or []
    if what == "hold" and waiting and not reason.startswith(("arm has", "paused")):
        return f"hold at {stage}, waiting for {', '.join(waiting)}"
    return f"{what} at {stage} ({_short(reason, 80)})"


def rollout_phrase(record: RunRecord) -> str | None:
    last = _last_decision(record)
    return None if last is None else f"{last[0]}: {last[1]}"


def review_phrase(record: RunRecord) -> str | None:
    meta = record._meta(REVIEW)
    if meta is None:
        return None
    return f"{_int(meta.get('cases'))} case(s) on the last day, {_int(meta.get('rings'))} ring(s)"


def _short(text: str, limit: int = 110) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


PHRASES = (
    ("ingestion", ingestion_phrase),
    ("features", features_phrase),
    ("model", model_phrase),
    ("scoring", scoring_phrase),
    ("publishing", published_phrase),
    ("rollout", rollout_phrase),
    ("review", review_phrase),
)


def step_lines(record: RunRecord) -> list[str]:
    """One line per step that ran, for a run over a range of days; failed checks after them."""
    lines = [f"  {name:<11} {text}" for name, phrase in PHRASES if (text := phrase(record))]
    lines += [
        f"  FAILED check {c.asset}:{c.name}" + ("" if c.blocking else " (warning)") for c in record.failed_checks()
    ]
    return lines + failure_lines(record)


def failure_lines(record: RunRecord) -> list[str]:
    """A line per failed step: the step and the error it raised (the stack trace: ``safeguard -v``, or the UI)."""
    return [f"  FAILED step {f.step}: {f.error}: {f.message}" for f in record.failures]


def day_line(day: str, record: RunRecord, seconds: float) -> str:
    """One line for a one-day run: what landed, what was published, the rollout's decision, the review cases."""
    parts = [day]
    ingest = record._meta("raw_usage_events")
    if ingest is not None:
        quarantined = _int(ingest.get("rows_quarantined"))  # named only when there is something to look at
        parts.append(
            f"events {_int(ingest.get('dagster/row_count')):,}"
            + (f" ({quarantined:,} quarantined)" if quarantined else "")
        )
    published = record._meta(PUBLISHED)
    if published is not None:
        parts.append(
            f"published {_int(published.get('dagster/row_count')):,} ({_tiers(published.get('rows_per_tier'))})"
        )
    model = model_phrase(record)
    if model is not None:
        parts.append(f"model {_short(model, 90)}")
    rollout = _last_decision(record)
    if rollout is not None:
        parts.append(f"rollout {rollout[1]}")
    review = record._meta(REVIEW)
    if review is not None:
        parts.append(f"{_int(review.get('cases'))} review cases")
    failed = record.failed_checks()
    if failed:
        parts.append("FAILED " + ", ".join(f"{c.asset}:{c.name}" for c in failed))
    return " · ".join(parts) + f"  [{seconds:.0f} s]"

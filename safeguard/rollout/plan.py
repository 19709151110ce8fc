"""The staged-rollout plan: which stages, how long each lasts, when guardrails are trusted (design §3.4).

A plan is stored as JSON with its rollout (``to_json`` / ``from_json``), guardrail thresholds included, so every
decision can be re-checked against the rules that were in force.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from itertools import pairwise
from typing import Any

from safeguard.rollout.backtest import BacktestRule
from safeguard.rollout.bucketing import check_percent
from safeguard.rollout.guardrails import GuardrailConfig


@dataclass(frozen=True)
class Stage:
    """A named share of accounts (0..100 percent) that the candidate serves."""

    name: str
    percent: int

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a stage needs a non-empty name, got {self.name!r}")
        check_percent(self.percent)

    @property
    def is_terminal(self) -> bool:
        """The rollout is over: rolled back, aborted or completed (the candidate became champion)."""
        return self.name in TERMINAL_STAGES


SHADOW = "shadow"
# Terminal states. Rolled back / aborted: champion only. Completed: the candidate serves everyone as the new champion.
ROLLED_BACK = Stage("rolled_back", 0)
ABORTED = Stage("aborted", 0)
COMPLETED = Stage("completed", 100)
# Before a rollout's first event there is no candidate traffic at all.
NOT_STARTED = Stage("not_started", 0)
TERMINAL_STAGES = {s.name: s for s in (ROLLED_BACK, ABORTED, COMPLETED)}

DEFAULT_STAGES = (
    Stage(SHADOW, 0),
    Stage("canary_1", 1),
    Stage("canary_5", 5),
    Stage("canary_25", 25),
    Stage("canary_50", 50),
    Stage("full_100", 100),
)


@dataclass(frozen=True)
class RolloutPlan:
    """Stages in order (shadow first at 0%, last at 100%) and the rules for automatic movement between them.

    ``min_days_per_stage``: score days spent in a stage before it may advance.
    ``min_arm_accounts``: candidate-arm accounts below which guardrails are not trusted (the decision holds).
    ``max_auto_stage``: the highest percent automation may advance to; beyond it a named person promotes.
    ``min_outcome_guardrails``: outcome guardrails (precision, recall on matured labels) that must have passed
    before any automatic advance (at least 1: a candidate is never advanced on score distributions alone).
    ``backtest``: how the offline backtest is run and judged before ``rollout start`` lets the candidate in.
    """

    stages: tuple[Stage, ...] = DEFAULT_STAGES
    min_days_per_stage: int = 2
    min_arm_accounts: int = 200
    max_auto_stage: int = 25
    min_outcome_guardrails: int = 1
    guardrails: GuardrailConfig = field(default_factory=GuardrailConfig)
    backtest: BacktestRule = field(default_factory=BacktestRule)

    def __post_init__(self) -> None:
        stages = tuple(self.stages)
        object.__setattr__(self, "stages", stages)
        if not stages or stages[0] != Stage(SHADOW, 0):
            raise ValueError(f"a rollout plan must start with Stage('{SHADOW}', 0), got {stages[:1]}")
        if stages[-1].percent != 100:
            raise ValueError(f"a rollout plan must end at 100 percent, ends at {stages[-1]}")
        for before, after in pairwise(stages):
            if after.percent <= before.percent:
                raise ValueError(f"stage percents must strictly increase: {before} is followed by {after}")
        names = [s.name for s in stages]
        reserved = sorted(set(names) & (set(TERMINAL_STAGES) | {NOT_STARTED.name}))
        if len(set(names)) != len(names) or reserved:
            raise ValueError(f"stage names must be unique and not reserved ({reserved}); got {names}")
        for name in ("min_days_per_stage", "min_arm_accounts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"RolloutPlan.{name} must be an integer >= 0, got {value!r}")
        check_percent(self.max_auto_stage)
        if self.min_outcome_guardrails not in (1, 2):
            raise ValueError(
                f"RolloutPlan.min_outcome_guardrails must be 1 or 2 (precision, recall), got {self.min_outcome_guardrails!r}"
            )

    def stage(self, name: str) -> Stage:
        """The stage called ``name`` (a plan stage or a terminal state)."""
        for s in self.stages:
            if s.name == name:
                return s
        if name in TERMINAL_STAGES:
            return TERMINAL_STAGES[name]
        raise ValueError(f"unknown rollout stage {name!r}; the plan has {[s.name for s in self.stages]}")

    def next_stage(self, name: str) -> Stage | None:
        """The stage after ``name``, or None at the last stage."""
        current = self.stage(name)
        if current.is_terminal:
            raise ValueError(f"the rollout has ended ({name}); there is no next stage")
        index = self.stages.index(current)
        return self.stages[index + 1] if index + 1 < len(self.stages) else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "stages": [{"name": s.name, "percent": s.percent} for s in self.stages],
            "min_days_per_stage": self.min_days_per_stage,
            "min_arm_accounts": self.min_arm_accounts,
            "max_auto_stage": self.max_auto_stage,
            "min_outcome_guardrails": self.min_outcome_guardrails,
            "guardrails": self.guardrails.to_dict(),
            "backtest": self.backtest.to_dict(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RolloutPlan:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown RolloutPlan field(s): {sorted(unknown)}")
        values = dict(data)
        if "stages" in values:
            try:
                values["stages"] = tuple(Stage(s["name"], s["percent"]) for s in values["stages"])
            except (KeyError, TypeError) as exc:
                raise ValueError(f"RolloutPlan.stages must be a list of {{name, percent}}: {exc!r}") from None
        if "guardrails" in values:
            values["guardrails"] = GuardrailConfig.from_dict(values["guardrails"])
        if "backtest" in values:
            values["backtest"] = BacktestRule.from_dict(values["backtest"])
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> RolloutPlan:
        return cls.from_dict(json.loads(text))

"""One training run's decision: train, judge, register, and keep a champion serving (design §3.3, issue 14).

:func:`release` is what the ``risk_model`` asset runs, Dagster-free:

1. Train a candidate on the matured examples (:func:`~safeguard.training.train_risk_model`). Training may
   *refuse* (too few days, no positive label, one class only): the refusal is recorded with its message.
2. Judge it with the quality gate on its validation rows, next to the transparent rules score fitted on the
   days before them and the current champion re-scored on them.
3. Register it: rejected if it failed, champion if none serves yet, else candidate for a staged rollout.
4. **Cold start**: if after that no champion serves (a young or small world, or a first model too weak to pass),
   register the rules score as champion (:mod:`safeguard.rules_model`), so downstream teams get a risk table
   whose reasons are the broken rules. While it serves, runs keep training (``safeguard run`` and the
   cold-start sensor); the first model that passes the gate, which has just measured it against the rules score
   on the same rows, replaces it as champion (:meth:`~safeguard.registry.ModelRegistry.register_gated`). Later
   models that pass are candidates for a staged rollout. A refused or rejected model never scores anyone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from safeguard.baseline import DEFAULT_SIGNALS, RulesBaseline, baseline_metrics
from safeguard.catalog import FeatureSpec
from safeguard.champion_comparison import paired_difference
from safeguard.examples import LABEL_COLUMN, TrainingDataError, example_weights
from safeguard.gate import GateConfig, GateResult, champion_metrics_on, quality_gate
from safeguard.registry import ModelRegistry, ModelVersion
from safeguard.risk_model import TrainedModel
from safeguard.rules_model import build_rules_model
from safeguard.training import train_risk_model


@dataclass
class Release:
    """What one training run did: each field is None where that step did not happen."""

    trained: TrainedModel | None = None
    refusal: str | None = None  # why no model was trained
    gate: GateResult | None = None
    registered: ModelVersion | None = None  # the trained model's row (champion, candidate or rejected)
    champion_before: ModelVersion | None = None
    champion_metrics: dict | None = None  # the champion re-scored on the candidate's validation rows
    champion_comparison: dict | None = None  # the paired difference candidate - champion there, with intervals
    rules: RulesBaseline | None = None
    rules_metrics: dict | None = None  # the rules score on the candidate's validation rows
    rules_champion: TrainedModel | None = None  # registered by the cold start
    messages: list[str] = field(default_factory=list)

    @property
    def champion_serving(self) -> bool:
        return (
            self.champion_before is not None
            or self.rules_champion is not None
            or (self.registered is not None and self.registered.status == "champion")
        )

    @property
    def headline(self) -> str:
        """One line for the log: what was trained and what serves now."""
        if self.trained is None:
            what = f"no model trained ({self.refusal})"
        else:
            verdict = "passed" if self.gate and self.gate.passed else "FAILED"
            what = f"{self.trained.version}: gate {verdict}, registered as {self.registered.status}"
        if self.rules_champion is not None:
            return f"{what}; cold start: the rules score {self.rules_champion.version} serves as champion"
        if self.champion_before is not None and not (self.registered and self.registered.status == "champion"):
            return f"{what}; champion {self.champion_before.version} keeps serving"
        return what


def compare_on_validation(champion: TrainedModel, candidate: TrainedModel) -> dict:
    """The candidate's served model against the champion on the candidate's validation rows, paired by account."""
    val = candidate.validation_examples
    return paired_difference(
        val[LABEL_COLUMN].to_numpy(dtype=np.float64),
        candidate.raw_margin(candidate.matrix(val, where="validation examples")),
        champion.raw_margin(champion.matrix(val, where="validation examples")),
        val["account_id"].to_numpy(),
        weight=example_weights(val),
    )


def _rules_note(examples: pd.DataFrame, signals: Sequence[str]) -> str:
    missing = [s for s in signals if s not in examples.columns]
    return f"no comparison with the rules score: the examples lack its signal(s) {missing}"


def release(
    examples: pd.DataFrame,
    catalog: Sequence[FeatureSpec],
    registry: ModelRegistry,
    *,
    recent_features: Callable[[], pd.DataFrame],
    gate_config: GateConfig = GateConfig(),
    review_capacity: int = 100,
    train_options: Mapping | None = None,
    signals: Sequence[str] = DEFAULT_SIGNALS,
) -> Release:
    """Train, judge and register a candidate, and make sure a champion serves (see the module doc).

    ``recent_features``: the latest days' feature rows, read only when the cold start needs them.
    """
    out = Release(champion_before=registry.champion())
    try:
        out.trained = train_risk_model(examples, catalog, review_capacity=review_capacity, **(train_options or {}))
    except TrainingDataError as e:
        out.refusal = str(e)
        out.messages.append(f"training refused: {e}")
    if out.trained is not None:
        validation = out.trained.validation_examples
        baseline = baseline_metrics(examples, validation, signals=signals, review_capacity=review_capacity)
        if baseline is not None:
            out.rules, out.rules_metrics = baseline
        if out.champion_before is not None:
            champion = registry.load(out.champion_before.version)
            out.champion_metrics = champion_metrics_on(champion, out.trained, review_capacity=review_capacity)
            if out.champion_metrics is not None:
                out.champion_comparison = compare_on_validation(champion, out.trained)
        out.gate = quality_gate(
            out.trained.metrics,
            gate_config,
            out.champion_metrics,
            out.rules_metrics,
            rules_note=None if baseline else _rules_note(examples, signals),
            champion_comparison=out.champion_comparison,
        )
        out.registered = registry.register_gated(out.trained, out.gate)
        if not out.gate.passed:
            out.messages.append(f"{out.trained.version} rejected: {'; '.join(out.gate.failures)}")
    if registry.champion() is None:
        reason = out.refusal or f"the first trained model {out.trained.version} failed the quality gate"
        labelled = examples if len(examples) else None
        out.rules_champion = build_rules_model(
            catalog, recent_features(), labelled=labelled, signals=signals, reason=reason
        )
        registry.register(out.rules_champion, "champion")
        out.messages.append(
            f"cold start: no trained model passed the gate ({reason}); the transparent rules score "
            f"{out.rules_champion.version} serves as champion until one does"
        )
    return out

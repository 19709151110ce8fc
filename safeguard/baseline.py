"""A transparent rules baseline: the bar the model must clearly clear in the quality report.

What a trust-and-safety team writes before it has a model: one rule per signal, "above the 95th percentile of
all accounts" (or "above zero" when most accounts are at zero), and the score is the number of rules an account
breaks. Signals: classifier-flag rate, refusal rate, volume, and the share of linked accounts already enforced.
Each rule reads as a sentence (:meth:`RulesBaseline.describe`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from safeguard.examples import LABEL_COLUMN, example_weights, feature_matrix
from safeguard.metrics import DEFAULT_REVIEW_CAPACITY, evaluate

DEFAULT_SIGNALS = (
    "flag_rate_any_7d",
    "refusal_rate_7d",
    "events_7d",
    "linked_payment_enforced_share",
    "linked_signup_ip_enforced_share",
    "linked_device_enforced_share",
)
DEFAULT_QUANTILE = 0.95


@dataclass(frozen=True)
class Rule:
    feature: str
    threshold: float  # the rule fires when the feature is strictly above it

    def describe(self) -> str:
        return f"{self.feature} > {self.threshold:.4g}"


@dataclass(frozen=True)
class RulesBaseline:
    rules: tuple[Rule, ...]

    @classmethod
    def fit(
        cls,
        examples: pd.DataFrame,
        signals: Sequence[str] = DEFAULT_SIGNALS,
        *,
        quantile: float = DEFAULT_QUANTILE,
    ) -> RulesBaseline:
        """One rule per signal at the ``quantile`` of its values over ``examples`` (labels are not used)."""
        X = feature_matrix(examples, signals, where="rules baseline")
        q = np.nanquantile(X, quantile, axis=0)
        return cls(tuple(Rule(name, float(np.nan_to_num(t))) for name, t in zip(signals, q)))

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """Number of rules each row breaks (0 .. len(rules)); missing values break no rule."""
        X = feature_matrix(frame, [r.feature for r in self.rules], where="rules baseline")
        thresholds = np.array([r.threshold for r in self.rules])
        return (np.nan_to_num(X, nan=-np.inf) > thresholds).sum(axis=1).astype(np.float64)

    def describe(self) -> list[str]:
        return [r.describe() for r in self.rules]


def baseline_metrics(
    examples: pd.DataFrame,
    validation: pd.DataFrame,
    *,
    signals: Sequence[str] = DEFAULT_SIGNALS,
    review_capacity: int = DEFAULT_REVIEW_CAPACITY,
) -> tuple[RulesBaseline, dict] | None:
    """Rules fitted on the examples before the validation window, measured on the validation rows as the model
    is (same metric names). None when the examples lack one of the signals."""
    if not set(signals) <= set(examples.columns):
        return None
    first_validation_day = pd.to_datetime(validation["as_of_date"]).min()
    rules = RulesBaseline.fit(examples[pd.to_datetime(examples["as_of_date"]) < first_validation_day], signals)
    metrics = evaluate(
        validation[LABEL_COLUMN].to_numpy(dtype=np.float64),
        rules.score(validation),
        validation["as_of_date"].to_numpy(),
        weight=example_weights(validation),
        review_capacity=review_capacity,
    )
    return rules, metrics

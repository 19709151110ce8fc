"""The detection-quality report (``safeguard.quality``): one scorer's figures on one slice, the benign populations'
alert rates, and the model-vs-rules report with its Markdown and JSON forms."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from safeguard.jsonable import json_safe as _json_safe
from safeguard.model_card import markdown_table

OVERALL = "overall"
MODEL, RULES = "model", "rules"
SCORERS = (MODEL, RULES)
HEADING = "Detection quality per archetype: model vs rules"


@dataclass(frozen=True)
class SegmentQuality:
    """One scorer's figures on one slice of the held-out examples (``segment``: "overall" or an archetype)."""

    scorer: str
    segment: str
    accounts: int  # the segment's accounts with a held-out example (all of them, or the archetype's)
    examples: int  # rows the row-level metrics rank (for an archetype: with the benign negatives)
    positive_accounts: int  # accounts with at least one positive example among those rows
    positives: float  # positive examples (weighted when the examples were sampled)
    auc_roc: float
    auc_pr: float
    recall_at_1pct_fpr: float
    precision_at_k: float
    abusers: int  # truly abusive accounts, abusing on at least one held-out day
    abusers_alerted: int  # ... of which at or above the scorer's alert threshold on such a day
    abuser_recall: float  # abusers_alerted / abusers


@dataclass(frozen=True)
class BenignAlerts:
    """How often one benign population alerts at a scorer's 1%-FPR threshold: the false alarms' origin."""

    scorer: str
    population: str
    accounts: int
    examples: int
    example_alert_rate: float  # weighted share of its examples at or above the threshold
    account_alert_rate: float  # share of its accounts alerting on at least one held-out day


@dataclass(frozen=True)
class DetectionReport:
    """Model vs rules on the same held-out days: see the module docstring for what each figure means."""

    model_version: str
    days: tuple[str, str]  # first and last held-out day
    n_days: int
    review_capacity: int
    max_fpr: float
    rules: tuple[str, ...]  # the baseline's rules, as sentences
    alert_thresholds: dict[str, float]  # scorer -> score threshold of the account-level figures
    segments: tuple[SegmentQuality, ...]
    benign: tuple[BenignAlerts, ...]

    def segment(self, scorer: str, name: str = OVERALL) -> SegmentQuality:
        for s in self.segments:
            if s.scorer == scorer and s.segment == name:
                return s
        raise KeyError(f"no {scorer!r} figures for segment {name!r}")

    @property
    def archetypes(self) -> list[str]:
        return [s.segment for s in self.segments if s.scorer == MODEL and s.segment != OVERALL]

    def table(self) -> pd.DataFrame:
        """One row per (scorer, segment)."""
        return pd.DataFrame([asdict(s) for s in self.segments])

    def comparison(self) -> pd.DataFrame:
        """One row per segment, model and rules side by side (what the markdown shows)."""
        rows = []
        for name in (OVERALL, *self.archetypes):
            m, r = self.segment(MODEL, name), self.segment(RULES, name)
            rows.append(
                {
                    "segment": name,
                    "accounts": m.accounts,
                    "positive accounts": m.positive_accounts,
                    "positive examples": round(m.positives),
                    "AUC-PR model": m.auc_pr,
                    "AUC-PR rules": r.auc_pr,
                    "recall@1%FPR model": m.recall_at_1pct_fpr,
                    "recall@1%FPR rules": r.recall_at_1pct_fpr,
                    "precision@k model": m.precision_at_k,
                    "precision@k rules": r.precision_at_k,
                    "abusers": m.abusers,
                    "abuser recall model": m.abuser_recall,
                    "abuser recall rules": r.abuser_recall,
                }
            )
        return pd.DataFrame(rows)

    def model_ahead(self, metric: str) -> tuple[int, int]:
        """(archetypes where the model beats the rules on ``metric``, archetypes where both have a value)."""
        pairs = [
            (getattr(self.segment(MODEL, a), metric), getattr(self.segment(RULES, a), metric)) for a in self.archetypes
        ]
        defined = [(m, r) for m, r in pairs if np.isfinite(m) and np.isfinite(r)]
        return sum(m > r for m, r in defined), len(defined)

    def to_dict(self) -> dict:
        """JSON-ready (NaN -> None)."""
        return _json_safe(
            {
                "model_version": self.model_version,
                "days": list(self.days),
                "n_days": self.n_days,
                "review_capacity": self.review_capacity,
                "max_fpr": self.max_fpr,
                "rules": list(self.rules),
                "alert_thresholds": self.alert_thresholds,
                "segments": [asdict(s) for s in self.segments],
                "benign": [asdict(b) for b in self.benign],
            }
        )

    def markdown(self, heading_level: int = 2) -> str:
        """The report as markdown: the side-by-side table, the benign alert table and how to read them."""
        h = "#" * heading_level
        overall_m, overall_r = self.segment(MODEL), self.segment(RULES)
        benign = pd.DataFrame(
            [
                {
                    "population": b.population,
                    "scorer": b.scorer,
                    "accounts": b.accounts,
                    "examples": b.examples,
                    "example alert rate": b.example_alert_rate,
                    "accounts alerted": b.account_alert_rate,
                }
                for b in self.benign
            ]
        )
        parts = [
            f"{h} {HEADING}",
            (
                f"Model {self.model_version} on {self.days[0]} .. {self.days[1]} ({self.n_days} days, later than "
                f"training after the label-horizon gap). Row-level figures use the enforcement label; per archetype, "
                f"that archetype's examples against the benign accounts' negative examples. Precision@k: top "
                f"k = {self.review_capacity} per day. Abuser recall: share of truly abusive accounts (ground truth) "
                f"alerting at least once while abusing, at the threshold where {self.max_fpr:.0%} of the benign "
                f"accounts' examples alert."
            ),
            (
                f"Overall: AUC-PR {_fmt(overall_m.auc_pr)} (model) vs {_fmt(overall_r.auc_pr)} (rules); recall at "
                f"{self.max_fpr:.0%} FPR {_fmt(overall_m.recall_at_1pct_fpr)} vs {_fmt(overall_r.recall_at_1pct_fpr)}; "
                f"abuser recall {_fmt(overall_m.abuser_recall)} vs {_fmt(overall_r.abuser_recall)}."
            ),
            markdown_table(self.comparison()),
            "Per archetype, the model is ahead of the rules on "
            + ", ".join(
                f"{label} in {won} of {n}"
                for label, (won, n) in (
                    ("AUC-PR", self.model_ahead("auc_pr")),
                    (f"recall at {self.max_fpr:.0%} FPR", self.model_ahead("recall_at_1pct_fpr")),
                    ("abuser recall", self.model_ahead("abuser_recall")),
                )
            )
            + " (archetypes with a value). Read each figure with its counts: few positive accounts, noisy figure.",
            "Rules baseline (score = number of rules broken): " + "; ".join(f"`{r}`" for r in self.rules) + ".",
            f"{h}# Alerts on benign populations at the same thresholds",
            markdown_table(benign),
        ]
        return "\n\n".join(parts) + "\n"


def _fmt(value: float) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.3f}"

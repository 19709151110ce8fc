"""The model card: what a reviewer reads before trusting a model version (markdown + PNG plots).

Markdown: data windows, validation metrics (next to the rules baseline and the champion when given), tier
thresholds with the precision they reached, the quality gate, and the top features by gain. Plots are PNG bytes
(matplotlib's Agg backend, no display): a SHAP summary (beeswarm) and a score histogram with the tier
thresholds; :func:`png_markdown` embeds one in markdown as a data URI, which Dagster's metadata renders.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from safeguard.gate import GateResult
from safeguard.risk_model import TrainedModel
from safeguard.tiers import TierThresholds
from safeguard.vocabulary import ALERT_TIERS

METRIC_LABELS = {
    "auc_roc": "AUC-ROC",
    "auc_pr": "AUC-PR",
    "recall_at_1pct_fpr": "Recall at 1% FPR",
    "precision_at_k": "Precision at k (per day)",
    "ece": "Expected calibration error",
    "ece_uncalibrated": "ECE before calibration",
    "brier": "Brier score",
}


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _figure_png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def shap_summary_png(contribs: np.ndarray, X: np.ndarray, feature_names: Sequence[str], max_display: int = 15) -> bytes:
    """SHAP beeswarm of the ``max_display`` features with the largest mean |contribution| (base column dropped)."""
    plt = _pyplot()
    import shap

    plt.figure()  # shap draws on the current figure
    shap.summary_plot(
        contribs[:, : len(feature_names)],
        X,
        feature_names=list(feature_names),
        max_display=max_display,
        show=False,
        plot_size=(8, 0.4 * min(max_display, len(feature_names)) + 1.5),
    )
    return _figure_png(plt.gcf())


def score_histogram_png(probability: np.ndarray, thresholds: TierThresholds | None = None, title: str = "") -> bytes:
    """Histogram of calibrated probabilities (log counts) with the tier thresholds marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.hist(np.asarray(probability, dtype=np.float64), bins=50, range=(0, 1), color="#4C72B0", log=True)
    if thresholds is not None:
        for tier, colour in zip(ALERT_TIERS, ("#DD8452", "#C44E52", "#8172B2")):
            t = thresholds.thresholds[tier]
            if t <= 1:
                ax.axvline(t, color=colour, linestyle="--", label=f"{tier} ≥ {t:.3f}")
        ax.legend(loc="upper right")
    ax.set_xlabel("calibrated probability")
    ax.set_ylabel("accounts (log)")
    ax.set_title(title or "Score distribution")
    return _figure_png(fig)


def png_markdown(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def markdown_table(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def model_card_markdown(
    model: TrainedModel,
    *,
    gate: GateResult | None = None,
    comparisons: Mapping[str, Mapping[str, float]] | None = None,
    top_features: int = 15,
    backtest=None,
) -> str:
    """The card as markdown. ``comparisons``: extra metric columns, e.g. {"rules baseline": {...}, "champion": {...}}.
    ``backtest``: a stored backtest of this model (``safeguard.rollout.backtest_store.StoredBacktest``) for a
    "Backtest against the champion" section."""
    comparisons = dict(comparisons or {})
    m = model.metrics
    metric_rows = pd.DataFrame(
        {
            "metric": list(METRIC_LABELS.values()),
            "model": [m.get(k) for k in METRIC_LABELS],
            **{name: [c.get(k) for k in METRIC_LABELS] for name, c in comparisons.items()},
        }
    )
    t = model.thresholds
    tier_rows = pd.DataFrame(
        {
            "tier": list(ALERT_TIERS),
            "threshold (probability ≥)": [t.thresholds[x] for x in ALERT_TIERS],
            "target precision": [t.targets.get(x) for x in ALERT_TIERS],
            "validation precision": [t.achieved_precision.get(x) for x in ALERT_TIERS],
            "validation accounts": [t.support.get(x) for x in ALERT_TIERS],
            "method": [t.method.get(x) for x in ALERT_TIERS],
        }
    )
    importance = model.feature_importance().head(top_features)
    reason = {f.name: f.reason for f in model.features}
    importance = importance.assign(reason=importance["feature"].map(reason))
    w = model.windows
    header = (
        f"Created {model.created_at.isoformat()} · {m.get('trees')} trees · calibration: {m.get('calibration')} · "
        f"label horizon {model.label_horizon_days} days · k = {int(m.get('review_capacity_k', 0))} reviews/day"
    )
    policy = model.params.get("label_policy") or {}
    label = (
        f"- label: suspend or ban, not reinstated, or a reviewer's confirmation, within {model.label_horizon_days} days after D "
        f"(enforcement known later than D is the label, never a feature); label policy for fitting: "
        f"**{policy.get('name', 'enforced')}** ({policy.get('description', 'plain label')})"
    )
    if m.get("fit_policy_positives") is not None:
        from_reviews = m.get("fit_review_positives")
        reviews = f" ({from_reviews} of them confirmed by reviewers)" if from_reviews is not None else ""
        label += (
            f"; examples fitted as positives: {m['fit_label_positives']} from the label{reviews}, "
            f"{m['fit_policy_positives']} more from the policy (warnings, late evidence, same-owner links); measured on "
            "unseen worlds' truth in bench/REPORT.md (*Detection on unseen worlds*)"
        )
    if m.get("linked_labels"):
        label += f"; same-owner links: {m['linked_labels']['note']}"
    lines = [
        label,
        f"- held-out twin, fit: {w['fit'][0]} .. {w['fit'][1]} ({m.get('fit_rows')} rows after sampling)",
        (
            f"- held-out twin, early stopping + calibration: {w['early_stopping'][0]} .. {w['early_stopping'][1]} "
            f"({m.get('early_stopping_rows')} rows, {m.get('twin_trees', m.get('trees'))} trees)"
        ),
        (
            f"- validation (out of time, after a {model.label_horizon_days}-day gap; the twin's metrics below, "
            f"the served model's calibration and thresholds): {w['validation'][0]} .. {w['validation'][1]} "
            f"({int(m.get('rows', 0))} rows, {int(m.get('positives', 0))} positives)"
        ),
    ]
    if "refit" in w:
        lines.append(
            f"- served model: refitted on every matured day before validation, {w['refit'][0]} .. {w['refit'][1]} "
            f"({m.get('refit_rows')} rows, {m.get('trees')} trees)"
        )
    data = "\n".join(lines)
    parts = [
        f"# Risk model {model.version}",
        header,
        "## Data",
        data,
        "## Validation metrics",
        markdown_table(metric_rows),
        "## Tier thresholds",
        markdown_table(tier_rows),
    ]
    if gate is not None:
        parts += [
            "## Quality gate: " + ("passed" if gate.passed else "FAILED"),
            markdown_table(pd.DataFrame(gate.checks)),
        ]
        parts += [f"- {note}" for note in gate.notes]
    parts += ["## Top features by gain", markdown_table(importance)]
    if backtest is not None:
        from safeguard.rollout.backtest_report import pooled_markdown

        parts += ["## Backtest against the champion", pooled_markdown(backtest)]
    return "\n\n".join(parts) + "\n"


def rules_card_markdown(model: TrainedModel) -> str:
    """The card of the rules score serving as cold-start champion (:mod:`safeguard.rules_model`)."""
    m, t = model.metrics, model.thresholds
    reason = {f.name: f.reason for f in model.features}
    rules = pd.DataFrame(
        {"rule": model.params.get("rules", []), "reason shown to analysts": [reason[n] for n in model.feature_names]}
    )
    tiers = pd.DataFrame(
        {
            "tier": list(ALERT_TIERS),
            "rules broken (at least)": [t.support.get(f"{x}_rules") for x in ALERT_TIERS],
            "score threshold": [t.thresholds[x] for x in ALERT_TIERS],
        }
    )
    score = (
        "Platt-calibrated probability of the label on the labelled examples"
        if m.get("calibration") == "platt"
        else "the share of rules broken: NOT a probability (no labelled examples to calibrate on)"
    )
    return (
        "\n\n".join(
            [
                f"# Rules score {model.version} (cold-start champion)",
                f"Serves because: {m.get('served_because')}.",
                (
                    f"One rule per signal, at the 95th percentile of the {m.get('reference_rows')} account-days of "
                    f"{model.windows['fit'][0]} .. {model.windows['fit'][1]}; the score is the number of rules broken, "
                    f"and the broken rules are the reasons. Score column: {score}. While it serves, every run retrains; "
                    "the first trained model that passes the quality gate (which measures it against this score on the "
                    "same rows) replaces it as champion."
                ),
                markdown_table(rules),
                "## Tiers",
                markdown_table(tiers),
            ]
        )
        + "\n"
    )

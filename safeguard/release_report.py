"""What a training run shows people (issue 21: out of the ``risk_model`` asset): the model card, the SHAP summary
and score histogram, the figures and windows of the registered model, and the cold-start rules card. Plain values
and Markdown, Dagster-free; the asset only wraps them as metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from safeguard import explain, model_card, quality
from safeguard.model_release import Release
from safeguard.registry import ModelVersion

SHAP_SAMPLE_ROWS = 2000  # validation rows the SHAP summary plot explains
# The cold-start rules' thresholds: 95th percentiles over the latest days' accounts.
RULES_REFERENCE_DAYS = 7


@dataclass
class ReleaseReport:
    values: dict = field(default_factory=dict)  # text, numbers, and dicts/lists (JSON)
    markdown: dict[str, str] = field(default_factory=dict)  # the card and the plots (images inline)
    feature_importance: pd.DataFrame | None = None  # feature, gain, splits, gain_share
    cards: dict[str, str] = field(default_factory=dict)  # version -> its model card, for each model registered


def read_recent_features(con, columns: list[str], days: int = RULES_REFERENCE_DAYS) -> pd.DataFrame:
    """The latest ``days`` days' feature rows (key columns and ``columns``), for the cold-start rules' thresholds."""
    cols = ", ".join(["account_id", "as_of_date", *columns])
    return con.execute(
        f"""SELECT {cols} FROM marts.fct_account_features
            WHERE as_of_date > (SELECT max(as_of_date) FROM marts.fct_account_features) - to_days(?)
            ORDER BY as_of_date, account_id""",
        [days],
    ).df()


def model_card_text(outcome: Release, truth_path: str | Path | None) -> str:
    """The trained model's card: metrics next to the rules baseline and the champion, then detection on truth."""
    trained = outcome.trained
    comparisons = {}
    if outcome.rules_metrics is not None:
        comparisons["rules baseline"] = outcome.rules_metrics
    if outcome.champion_metrics is not None:
        comparisons[f"champion {outcome.champion_before.version}"] = outcome.champion_metrics
    card = model_card.model_card_markdown(trained, gate=outcome.gate, comparisons=comparisons)
    return card + "\n" + quality.card_section(trained, outcome.rules, truth_path)


def release_report(
    outcome: Release, champion: ModelVersion, *, seed: int, truth_path: str | Path | None
) -> ReleaseReport:
    """Everything the run shows about ``outcome``, with ``champion`` the model serving after it."""
    report = ReleaseReport(
        values={"summary": outcome.headline, "champion": champion.version, "champion_kind": champion.kind}
    )
    if outcome.rules_champion is not None:
        rules = outcome.rules_champion
        report.markdown["model_card"] = report.cards[rules.version] = model_card.rules_card_markdown(rules)
        report.values["baseline_rules"] = rules.params["rules"]
    trained = outcome.trained
    if trained is None:
        return report
    row = outcome.registered
    validation = trained.validation_examples
    sample = validation.sample(n=min(SHAP_SAMPLE_ROWS, len(validation)), random_state=seed)
    X = trained.matrix(sample)
    shap_png = model_card.shap_summary_png(explain.contributions(trained.booster, X), X, trained.feature_names)
    hist_png = model_card.score_histogram_png(
        trained.probability(trained.matrix(validation)),
        trained.thresholds,
        title="Validation scores (calibrated probability)",
    )
    report.values |= {
        "model_version": row.version,
        "status": row.status,
        "artifact_uri": row.artifact_uri,
        "sha256": row.sha256,
        "training_window": f"{row.train_start} .. {row.train_end}",
        "validation_window": f"{row.validation_start} .. {row.validation_end}",
        "metrics": row.metrics,
        "thresholds": row.thresholds,
        "baseline_rules": outcome.rules.describe() if outcome.rules else [],
        "auc_pr": float(trained.metrics["auc_pr"]),
        "recall_at_1pct_fpr": float(trained.metrics["recall_at_1pct_fpr"]),
    }
    if outcome.rules_metrics is not None:
        report.values["rules_auc_pr"] = float(outcome.rules_metrics["auc_pr"])
    report.cards[row.version] = model_card_text(outcome, truth_path)
    report.markdown |= {
        "model_card": report.cards[row.version],
        "shap_summary": model_card.png_markdown(shap_png, "SHAP summary"),
        "score_histogram": model_card.png_markdown(hist_png, "score histogram"),
    }
    report.feature_importance = trained.feature_importance()
    return report

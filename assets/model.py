"""The ``risk_model`` asset: train on the closed label windows, gate, register, publish the model card.

Thin: the train → judge → register decision (and the cold-start rules champion) is
:func:`safeguard.model_release.release`; what the run shows (card, plots, figures) is :func:`safeguard.release_report.release_report`. The ``quality_gate`` check
fails when the new model is refused or rejected. It blocks everything downstream (severity ERROR) only when no
champion serves; when one does (the previous champion, or the rules score of a cold start) the failure is a
WARN, the day is scored by that champion, and the refused model scores nobody.
"""

from dataclasses import fields

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from dagster_duckdb import DuckDBResource

from assets import groups
from assets.metadata_tables import importance_table
from assets.partitions import DUCKDB_POOL
from assets.resources import ModelStoreResource, ServingDatabaseResource
from safeguard.baseline import DEFAULT_SIGNALS
from safeguard.catalog import load_catalog
from safeguard.config import settings
from safeguard.examples import read_training_examples
from safeguard.gate import GateConfig
from safeguard.labels import DEFAULT_LABEL_POLICY
from safeguard.model_release import Release, release
from safeguard.release_report import read_recent_features, release_report
from safeguard.vocabulary import ALERT_TIERS, DEFAULT_TARGET_PRECISIONS, LABEL_HORIZON_DAYS

OWNERS = ["team:safeguards-ml"]
# Bump when training, the gate or the registry record change, so Dagster shows the model as built by older code.
MODEL_CODE_VERSION = "2"


class RiskModelConfig(Config):
    """Run configuration of a training run; the defaults are the production settings."""

    manifest_path: str | None = None  # dbt manifest with the feature catalog; default: the dbt project's
    label_horizon_days: int = LABEL_HORIZON_DAYS
    review_capacity: int = 100
    seed: int = 42
    max_read_rows: int = 3_000_000
    target_precision_elevated: float = DEFAULT_TARGET_PRECISIONS["elevated"]
    target_precision_high: float = DEFAULT_TARGET_PRECISIONS["high"]
    target_precision_critical: float = DEFAULT_TARGET_PRECISIONS["critical"]
    min_auc_pr_lift: float = GateConfig.min_auc_pr_lift
    min_auc_pr: float = GateConfig.min_auc_pr
    min_recall_at_1pct_fpr: float = GateConfig.min_recall_at_1pct_fpr
    max_ece: float = GateConfig.max_ece
    champion_tolerance: float = GateConfig.champion_tolerance
    min_lift_over_rules: float = GateConfig.min_lift_over_rules
    min_recall_gain_over_rules: float = GateConfig.min_recall_gain_over_rules
    label_policy: str = DEFAULT_LABEL_POLICY  # safeguard.labels.LABEL_POLICIES
    refit: bool = True  # serve a model refitted on every matured day before validation


def feature_catalog(manifest_path: str | None):
    """The feature catalog from the dbt manifest (the marts' YAML ``meta``); default: the dbt project's."""
    return load_catalog(manifest_path) if manifest_path else load_catalog()


def _gate_check(outcome: Release) -> AssetCheckResult:
    passed = outcome.gate is not None and outcome.gate.passed
    severity = AssetCheckSeverity.WARN if outcome.champion_serving else AssetCheckSeverity.ERROR
    metadata = {
        "summary": outcome.headline,
        "checks": MetadataValue.json(outcome.gate.checks if outcome.gate else []),
        "failures": MetadataValue.json(outcome.gate.failures if outcome.gate else [outcome.refusal]),
        "notes": MetadataValue.json(list(outcome.gate.notes) if outcome.gate else []),
    }
    if outcome.registered is not None:
        metadata |= {"model_version": outcome.registered.version, "status": outcome.registered.status}
    return AssetCheckResult(check_name="quality_gate", passed=passed, severity=severity, metadata=metadata)


@asset(
    group_name=groups.MODELING,
    pool=DUCKDB_POOL,
    deps=[AssetKey("fct_training_examples")],
    kinds={"lightgbm", "python"},
    owners=OWNERS,
    code_version=MODEL_CODE_VERSION,
    check_specs=[
        AssetCheckSpec(
            "quality_gate",
            asset="risk_model",
            blocking=True,
            description="Validation metrics above the floors, clearly above the rules score and not worse than the "
            "champion on the same rows. Blocks downstream only when no champion serves.",
        )
    ],
)
def risk_model(
    context: AssetExecutionContext,
    config: RiskModelConfig,
    warehouse: DuckDBResource,
    serving: ServingDatabaseResource,
    model_store: ModelStoreResource,
) -> MaterializeResult:
    """LightGBM account-risk model with calibrated probabilities, tier thresholds and exact SHAP reasons,
    registered in ``model_versions``: champion if it is the first to pass the gate, else candidate; rejected
    if it fails. With no champion at all, the transparent rules score serves as champion (cold start)."""
    features = feature_catalog(config.manifest_path)
    with serving.stores(model_store) as stores:
        registry = stores.registry
        with warehouse.get_connection() as con:
            examples = read_training_examples(con, max_rows=config.max_read_rows)
            context.log.info(f"training on {len(examples)} examples, {len(features)} features")
            outcome = release(
                examples,
                features,
                registry,
                recent_features=lambda: read_recent_features(con, list(DEFAULT_SIGNALS)),
                gate_config=GateConfig(**{f.name: getattr(config, f.name) for f in fields(GateConfig)}),
                review_capacity=config.review_capacity,
                train_options={
                    "label_horizon_days": config.label_horizon_days,
                    "label_policy": config.label_policy,
                    "refit": config.refit,
                    "target_precisions": {t: getattr(config, f"target_precision_{t}") for t in ALERT_TIERS},
                    "seed": config.seed,
                },
            )
        champion = registry.champion()
        for message in outcome.messages:
            context.log.warning(message)
        context.log.info(outcome.headline)
        if champion is None:
            raise Failure(f"no champion serves: {outcome.headline}")
        report = release_report(outcome, champion, seed=config.seed, truth_path=settings().truth_path)
        # each registered model's card next to its artifact, where `safeguard model show` reads it
        report.values["model_card_files"] = {v: registry.write_card(v, card) for v, card in report.cards.items()}
    metadata = {k: MetadataValue.json(v) if isinstance(v, (dict, list)) else v for k, v in report.values.items()}
    metadata |= {k: MetadataValue.md(v) for k, v in report.markdown.items()}
    if report.feature_importance is not None:
        metadata["feature_importance"] = importance_table(report.feature_importance)
    return MaterializeResult(metadata=metadata, check_results=[_gate_check(outcome)])

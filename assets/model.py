"""The ``risk_model`` asset: train on the closed label windows, gate, register, publish the model card.

Thin: training, the gate, the registry and the card live in ``safeguard``. The blocking ``quality_gate`` check
stops everything downstream in the run when the new model fails; the failed model is registered as rejected.
"""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    Config,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
    asset,
)
from dagster_duckdb import DuckDBResource

from orchestration.partitions import DUCKDB_POOL
from orchestration.resources import ModelStoreResource, ServingDatabaseResource
from safeguard import explain, model_card, quality
from safeguard.baseline import baseline_metrics
from safeguard.catalog import load_catalog
from safeguard.config import settings
from safeguard.registry import ModelRegistry
from safeguard.serving.db import upgrade
from safeguard.training import (
    GateConfig,
    champion_metrics_on,
    quality_gate,
    read_training_examples,
    train_risk_model,
)

SHAP_SAMPLE_ROWS = 2000
OWNERS = ["team:safeguards-ml"]
# Bump when training, the gate or the registry record change, so Dagster shows the model as built by older code.
MODEL_CODE_VERSION = "1"


class RiskModelConfig(Config):
    """Run configuration of a training run; the defaults are the production settings."""

    manifest_path: str | None = None  # dbt manifest with the feature catalog; default: the dbt project's
    label_horizon_days: int = 14
    review_capacity: int = 100
    seed: int = 42
    max_read_rows: int = 3_000_000
    target_precision_elevated: float = 0.30
    target_precision_high: float = 0.60
    target_precision_critical: float = 0.85
    min_auc_pr: float = GateConfig.min_auc_pr
    min_recall_at_1pct_fpr: float = GateConfig.min_recall_at_1pct_fpr
    max_ece: float = GateConfig.max_ece
    champion_tolerance: float = GateConfig.champion_tolerance


def feature_catalog(manifest_path: str | None):
    """The feature catalog from the dbt manifest (the marts' YAML ``meta``); default: the dbt project's."""
    return load_catalog(manifest_path) if manifest_path else load_catalog()


def _importance_table(importance) -> MetadataValue:
    schema = TableSchema(
        columns=[
            TableColumn("feature", "string"),
            TableColumn("gain", "float"),
            TableColumn("splits", "int"),
            TableColumn("gain_share", "float"),
        ]
    )
    records = [
        TableRecord(
            {
                "feature": r.feature,
                "gain": float(r.gain),
                "splits": int(r.splits),
                "gain_share": round(float(r.gain_share), 4),
            }
        )
        for r in importance.itertuples(index=False)
    ]
    return MetadataValue.table(records, schema=schema)


@asset(
    group_name="modeling",
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
            description="Validation metrics above the floors and not worse than the champion on the same rows.",
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
    if it fails."""
    features = feature_catalog(config.manifest_path)
    with warehouse.get_connection() as con:
        examples = read_training_examples(con, max_rows=config.max_read_rows)
    context.log.info(f"training on {len(examples)} examples, {len(features)} features")
    trained = train_risk_model(
        examples,
        features,
        label_horizon_days=config.label_horizon_days,
        review_capacity=config.review_capacity,
        target_precisions={
            "elevated": config.target_precision_elevated,
            "high": config.target_precision_high,
            "critical": config.target_precision_critical,
        },
        seed=config.seed,
    )

    engine = serving.engine()
    try:
        upgrade(engine)
        registry = ModelRegistry(engine, model_store.store())
        current = registry.champion()
        champion_metrics = (
            champion_metrics_on(
                registry.load(current.version), trained, review_capacity=config.review_capacity
            )
            if current
            else None
        )
        gate = quality_gate(
            trained.metrics,
            GateConfig(
                config.min_auc_pr, config.min_recall_at_1pct_fpr, config.max_ece, config.champion_tolerance
            ),
            champion_metrics,
        )
        row = registry.register_gated(trained, gate)
    finally:
        engine.dispose()

    comparisons = {}
    baseline = baseline_metrics(examples, trained.validation_examples, review_capacity=config.review_capacity)
    if baseline is not None:
        comparisons["rules baseline"] = baseline[1]
    if champion_metrics is not None:
        comparisons[f"champion {current.version}"] = champion_metrics
    card = model_card.model_card_markdown(trained, gate=gate, comparisons=comparisons)
    card += "\n" + quality.card_section(trained, baseline[0] if baseline else None, settings().truth_path)

    sample = trained.validation_examples.sample(
        n=min(SHAP_SAMPLE_ROWS, len(trained.validation_examples)), random_state=config.seed
    )
    X = trained.matrix(sample)
    shap_png = model_card.shap_summary_png(
        explain.contributions(trained.booster, X), X, trained.feature_names
    )
    hist_png = model_card.score_histogram_png(
        trained.probability(trained.matrix(trained.validation_examples)),
        trained.thresholds,
        title="Validation scores (calibrated probability)",
    )
    context.log.info(
        f"registered {row.version} as {row.status}; gate {'passed' if gate.passed else 'FAILED'}"
    )
    return MaterializeResult(
        metadata={
            "model_version": row.version,
            "status": row.status,
            "artifact_uri": row.artifact_uri,
            "sha256": row.sha256,
            "training_window": f"{row.train_start} .. {row.train_end}",
            "validation_window": f"{row.validation_start} .. {row.validation_end}",
            "model_card": MetadataValue.md(card),
            "metrics": MetadataValue.json(row.metrics),
            "thresholds": MetadataValue.json(row.thresholds),
            "baseline_rules": MetadataValue.json(baseline[0].describe() if baseline else []),
            "shap_summary": MetadataValue.md(model_card.png_markdown(shap_png, "SHAP summary")),
            "score_histogram": MetadataValue.md(model_card.png_markdown(hist_png, "score histogram")),
            "feature_importance": _importance_table(trained.feature_importance()),
            "auc_pr": float(trained.metrics["auc_pr"]),
            "recall_at_1pct_fpr": float(trained.metrics["recall_at_1pct_fpr"]),
        },
        check_results=[
            AssetCheckResult(
                check_name="quality_gate",
                passed=gate.passed,
                severity=AssetCheckSeverity.ERROR,
                metadata={
                    "model_version": row.version,
                    "status": row.status,
                    "checks": MetadataValue.json(gate.checks),
                    "failures": MetadataValue.json(gate.failures),
                },
            )
        ],
    )

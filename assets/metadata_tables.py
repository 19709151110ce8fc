"""Tables the UI shows on a materialization: the model's feature importance and the rollout's guardrail report."""

from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

from safeguard.rollout.controls import interval_text
from safeguard.rollout.guardrails import GuardrailReport


def importance_table(importance) -> MetadataValue:
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


_GUARDRAIL_TABLE = TableSchema(
    columns=[
        TableColumn("metric", "string"),
        TableColumn("status", "string"),
        TableColumn("value", "float"),
        TableColumn("interval", "string"),
        TableColumn("threshold", "string"),
        TableColumn("note", "string"),
    ]
)


def guardrail_table(report: GuardrailReport) -> MetadataValue:
    """The guardrail report as a table for the UI."""
    return MetadataValue.table(
        [
            TableRecord(
                {
                    "metric": m.name,
                    "status": m.status,
                    "value": None if m.value is None else float(m.value),
                    "interval": interval_text(m.details.get("interval")),
                    "threshold": str(m.threshold),
                    "note": str(m.details.get("note", "")),
                }
            )
            for m in report.metrics
        ],
        schema=_GUARDRAIL_TABLE,
    )

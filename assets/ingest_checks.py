"""What an ingestion run reports to Dagster: the materialization's counts (``ingest_metadata``) and its two blocking
checks, ``quarantine_share_below_threshold`` and ``day_volume_within_history`` (see :mod:`assets.ingest`)."""

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, TableColumn, TableRecord, TableSchema

from safeguard.ingest import IngestResult
from safeguard.volume import VolumeVerdict

QUARANTINE_CHECK = "quarantine_share_below_threshold"
VOLUME_CHECK = "day_volume_within_history"

_DAY_TABLE = TableSchema(
    columns=[
        TableColumn("day", "string"),
        TableColumn("files", "int"),
        TableColumn("rows_read", "int"),
        TableColumn("rows_loaded", "int"),
        TableColumn("rows_quarantined", "int"),
        TableColumn("quarantine_share", "float"),
    ]
)


def volume_check(verdicts: list[VolumeVerdict], tolerance: float) -> AssetCheckResult:
    """Pass when no loaded day's volume collapsed against its own recent days (or an operator accepted it)."""
    failed = [v for v in verdicts if not v.passed]
    accepted = [v for v in verdicts if v.accepted_reason]
    surges = [v for v in verdicts if "surge" in v.message]
    if failed:
        description = "; ".join(v.message for v in failed)
    elif accepted:
        description = "passed with an operator's override: " + "; ".join(v.message for v in accepted)
    else:
        description = (
            f"every day within its history (tolerance {tolerance:g}x; "
            f"{sum(not v.judged for v in verdicts)} of {len(verdicts)} day(s) not judged)"
        )
        if surges:
            description += "; " + "; ".join(v.message for v in surges)
    return AssetCheckResult(
        check_name=VOLUME_CHECK,
        passed=not failed,
        severity=AssetCheckSeverity.ERROR,
        description=description,
        metadata={
            "tolerance": tolerance,
            "days_failed": MetadataValue.json([v.day for v in failed]),
            "days_accepted": MetadataValue.json({v.day: v.accepted_reason for v in accepted}),
            "days_not_judged": MetadataValue.json([v.day for v in verdicts if not v.judged]),
            "days": MetadataValue.json(
                [
                    {
                        "day": v.day,
                        "passed": v.passed,
                        "counts": v.counts,
                        "expected": {m: [round(lo, 1), round(hi, 1)] for m, (lo, hi) in v.expected.items()},
                    }
                    for v in verdicts
                ]
            ),
        },
    )


def quarantine_check(result: IngestResult, threshold: float) -> AssetCheckResult:
    """Pass when no loaded day quarantined more than ``threshold`` of its rows."""
    over = [d.day for d in result.days if d.quarantine_share > threshold]
    worst = result.worst_day
    return AssetCheckResult(
        check_name=QUARANTINE_CHECK,
        passed=not over,
        severity=AssetCheckSeverity.ERROR,
        description=(
            f"{len(over)} day(s) quarantined more than {threshold:.2%} of their rows: {', '.join(over)}"
            if over
            else f"every day quarantined at most {threshold:.2%} of its rows"
        ),
        metadata={
            "threshold": threshold,
            "worst_day": worst.day if worst else "",
            "worst_day_share": worst.quarantine_share if worst else 0.0,
            "days_over_threshold": MetadataValue.json(over),
        },
    )


def ingest_metadata(result: IngestResult) -> dict:
    """What an operator reads on the materialization: counts per day and per reason, files, odd columns."""
    return {
        "dagster/row_count": result.rows_loaded,
        "rows_read": result.rows_read,
        "rows_quarantined": result.rows_quarantined,
        "quarantine_share": result.quarantine_share,
        "quarantined_by_reason": MetadataValue.json(result.quarantined_by_reason),
        "days": MetadataValue.table(
            [
                TableRecord(
                    {
                        "day": d.day,
                        "files": d.files,
                        "rows_read": d.rows_read,
                        "rows_loaded": d.rows_loaded,
                        "rows_quarantined": d.rows_quarantined,
                        "quarantine_share": d.quarantine_share,
                    }
                )
                for d in result.days
            ],
            schema=_DAY_TABLE,
        ),
        "files": len(result.files_read),
        "extra_columns": MetadataValue.json(list(result.extra_columns)),
        "retyped_columns": MetadataValue.json(result.retyped_columns),
    }

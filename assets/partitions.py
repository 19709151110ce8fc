"""The daily partitions every dated asset shares: one UTC day each, from SAFEGUARD_START_DATE."""

from __future__ import annotations

import warnings
from datetime import datetime

from dagster import BackfillPolicy, BetaWarning, DailyPartitionsDefinition

from safeguard.config import settings

daily_partitions = DailyPartitionsDefinition(start_date=settings().start_date.isoformat(), timezone="UTC")

# A backfill of a date range runs as one run over the whole range wherever the step can do that.
single_run = BackfillPolicy.single_run()
# Dagster 1.13 marks the `backfill_policy` parameter of @asset as beta and warns once per decorated asset, at every
# import of the code location (27 blocks in one `make demo`). It is the documented way to backfill a range in one
# run (DEVELOPERS.md pins the Dagster family, so a change arrives with a deliberate upgrade); only that warning is
# silenced, here, where every asset that passes it gets the policy from.
warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy` of function", category=BetaWarning)

# Every step that writes the DuckDB warehouse holds this pool (limit 1): DuckDB allows one writer per file.
DUCKDB_POOL = "duckdb"


def partition_days(start: datetime, end: datetime) -> list[str]:
    """The UTC days of a partition time window ``[start, end)`` as ISO dates (the end is the next start)."""
    from safeguard.dates import days_in_window

    return days_in_window(start, end)

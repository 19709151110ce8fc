"""What an ingestion returns (``safeguard.ingest``): one file's judged rows, each day's counts, the batch's totals,
and the two errors a batch can end in."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa

from safeguard.landing import LandingError


class MissingColumnError(LandingError):
    """A file lacks a column the contract requires; the file is refused and nothing of the batch is loaded."""


class IngestInvariantError(RuntimeError):
    """Rows read, loaded and quarantined do not add up: a bug, never a data problem; nothing was published."""


@dataclass(frozen=True)
class Validated:
    """One file's rows, judged: ``valid`` in contract types (naive UTC timestamps) and ``quarantine``."""

    valid: pa.Table
    quarantine: pa.Table  # QUARANTINE_COLUMNS
    extra_columns: tuple[str, ...]  # ignored columns not in the contract (kept in the quarantine's row_json)
    retyped_columns: dict[str, str]  # contract column -> Arrow type it arrived in, when not the contract's

    @property
    def rows_read(self) -> int:
        return self.valid.num_rows + self.quarantine.num_rows


@dataclass
class DayStats:
    day: str
    files: int
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def quarantine_share(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0


@dataclass
class IngestResult:
    """What one ``ingest_days`` call read, loaded and quarantined, per day and per reason."""

    source: str
    days: list[DayStats]
    files_read: list[str]  # full URIs
    extra_columns: tuple[str, ...]
    retyped_columns: dict[str, str]

    def day(self, day: str) -> DayStats:
        return next(d for d in self.days if d.day == day)

    @property
    def rows_read(self) -> int:
        return sum(d.rows_read for d in self.days)

    @property
    def rows_loaded(self) -> int:
        return sum(d.rows_loaded for d in self.days)

    @property
    def rows_quarantined(self) -> int:
        return sum(d.rows_quarantined for d in self.days)

    @property
    def quarantined_by_reason(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for d in self.days:
            total.update(d.quarantined_by_reason)
        return dict(sorted(total.items()))

    @property
    def quarantine_share(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0

    @property
    def worst_day(self) -> DayStats | None:
        """The day with the largest quarantine share (the one a threshold check looks at)."""
        return max(self.days, key=lambda d: d.quarantine_share, default=None)

"""Day arithmetic shared by the CLI, ingestion and the dbt variables (UTC days as ISO strings)."""

from __future__ import annotations

from datetime import date, datetime, timedelta


def as_date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(value[:10])


def day_range(start: date | str, end_inclusive: date | str) -> list[str]:
    """Every day from ``start`` to ``end_inclusive`` as ISO strings."""
    s, e = as_date(start), as_date(end_inclusive)
    if e < s:
        raise ValueError(f"end {e} is before start {s}")
    return [(s + timedelta(days=i)).isoformat() for i in range((e - s).days + 1)]


def days_in_window(start: date | datetime | str, end_exclusive: date | datetime | str) -> list[str]:
    """The days of a half-open window ``[start, end)``, as a Dagster partition time window gives it."""
    s, e = as_date(start), as_date(end_exclusive)
    return [(s + timedelta(days=i)).isoformat() for i in range((e - s).days)]

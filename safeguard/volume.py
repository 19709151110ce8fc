"""Is a landing day's volume plausible against its own recent history? (issue 16, item 3)

A day with no events, or a twentieth of its usual events, is valid row by row (nothing to quarantine) and would be
published as a day on which every account was quiet: everyone low risk. :func:`judge_day` compares a loaded day's
counts with the same source's previous loaded days, from the load log (:mod:`safeguard.load_log`) and, for usage
events, the active accounts in ``raw.usage_events``:

- history: the loaded days among the :data:`HISTORY_DAYS` days before, at least :data:`MIN_HISTORY_DAYS` of them;
- expected range: ``[median / tolerance, median * tolerance]`` (tolerance :data:`DEFAULT_TOLERANCE`, 4x), for the
  rows loaded and, for usage events, the distinct active accounts. Below it the day fails (a collapse: a producer
  that lost files, a partial export); above it the day passes and the surge is reported: a surge may be the abuse
  wave this pipeline exists to score, and a double delivery is caught row by row (``duplicate_id``);
- a source whose median day has fewer than :data:`MIN_JUDGED_ROWS` rows (enforcement actions in a small
  deployment) is too sparse to judge on volume;
- usage events with zero rows always fail, history or not: a deployment never has a day without traffic.

An accepted day (a real outage, a launch) passes with the operator's reason recorded.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb

HISTORY_DAYS = 14
MIN_HISTORY_DAYS = 7
DEFAULT_TOLERANCE = 4.0
MIN_JUDGED_ROWS = 20
TRAFFIC_SOURCE = "usage_events"  # the source that is never legitimately empty


@dataclass(frozen=True)
class VolumeVerdict:
    source: str
    day: str
    passed: bool
    judged: bool  # False: not enough history, or too sparse to judge
    counts: dict[str, int]  # measure -> the day's value
    expected: dict[str, tuple[float, float]]  # measure -> [low, high]
    message: str
    accepted_reason: str | None = None


def judge_day(
    source: str,
    day: str,
    counts: Mapping[str, int],
    history: Mapping[str, Mapping[str, int]],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    accepted_reason: str | None = None,
) -> VolumeVerdict:
    """Judge ``counts`` (measure -> value: ``rows``, and ``accounts`` for usage events) of ``source`` on ``day``
    against ``history`` (earlier day -> the same measures). Days of the history outside the
    :data:`HISTORY_DAYS` before ``day`` are ignored."""
    if tolerance <= 1:
        raise ValueError(f"volume tolerance must be above 1 (a factor such as 4), got {tolerance}")
    first = (date.fromisoformat(day) - timedelta(days=HISTORY_DAYS)).isoformat()
    recent = {d: c for d, c in history.items() if first <= d < day}
    expected: dict[str, tuple[float, float]] = {}
    failures: list[str] = []
    spikes: list[str] = []  # reported, never blocking: a surge may be the abuse this pipeline exists to score
    judged = len(recent) >= MIN_HISTORY_DAYS
    if judged:
        median_rows = statistics.median(c.get("rows", 0) for c in recent.values())
        judged = median_rows >= MIN_JUDGED_ROWS
    if judged:
        for measure, value in counts.items():
            median = statistics.median(c.get(measure, 0) for c in recent.values())
            low, high = median / tolerance, median * tolerance
            expected[measure] = (low, high)
            where = (
                f"the expected {low:,.0f} .. {high:,.0f} (median {median:,.0f} over {len(recent)} earlier "
                f"day(s), tolerance {tolerance:g}x)"
            )
            if value < low:
                failures.append(f"{measure} {value:,} below {where}")
            elif value > high:
                spikes.append(f"{measure} {value:,} above {where}")
    if source == TRAFFIC_SOURCE and counts.get("rows", 0) == 0 and not failures:
        failures.append("no events at all (a deployment never has a day without traffic)")
    counts = dict(counts)
    if failures and accepted_reason:
        return VolumeVerdict(
            source,
            day,
            True,
            judged,
            counts,
            expected,
            f"{source} {day}: accepted by the operator despite {'; '.join(failures)}: {accepted_reason}",
            accepted_reason,
        )
    if failures:
        return VolumeVerdict(source, day, False, judged, counts, expected, f"{source} {day}: {'; '.join(failures)}")
    if not judged:
        why = (
            f"only {len(recent)} earlier day(s) loaded, {MIN_HISTORY_DAYS} needed"
            if len(recent) < MIN_HISTORY_DAYS
            else f"fewer than {MIN_JUDGED_ROWS} rows on a median day"
        )
        return VolumeVerdict(source, day, True, False, counts, expected, f"{source} {day}: not judged ({why})")
    if spikes:
        return VolumeVerdict(
            source, day, True, True, counts, expected, f"{source} {day}: passed with a surge: {'; '.join(spikes)}"
        )
    shown = ", ".join(f"{m} {v:,}" for m, v in counts.items())
    return VolumeVerdict(source, day, True, True, counts, expected, f"{source} {day}: {shown} within range")


def day_counts(con: duckdb.DuckDBPyConnection, source: str, last_day: str) -> dict[str, dict[str, int]]:
    """day -> {rows, and accounts for usage events} for every loaded day of ``source`` up to ``last_day`` and
    :data:`HISTORY_DAYS` before its first (the load log's rows loaded; an empty day counts 0)."""
    from safeguard.load_log import LOADS_TABLE

    counts = {
        day: {"rows": int(rows)}
        for day, rows in con.execute(
            f"SELECT CAST(day AS VARCHAR), rows_loaded FROM {LOADS_TABLE} WHERE source = ? AND day <= ?::DATE",
            [source, last_day],
        ).fetchall()
    }
    if source == TRAFFIC_SOURCE:
        for day, accounts in con.execute(
            "SELECT CAST(_partition_date AS VARCHAR), count(DISTINCT account_id) FROM raw.usage_events "
            "WHERE _partition_date <= ?::DATE GROUP BY 1",
            [last_day],
        ).fetchall():
            if day in counts:
                counts[day]["accounts"] = int(accounts)
        for c in counts.values():
            c.setdefault("accounts", 0)
    return counts


def judge_days(
    con: duckdb.DuckDBPyConnection,
    source: str,
    days: list[str],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    accepted: Mapping[str, str] | None = None,
) -> list[VolumeVerdict]:
    """The verdict of each of ``days`` (just loaded) against the loaded days before it."""
    accepted = accepted or {}
    counts = day_counts(con, source, max(days)) if days else {}
    verdicts = []
    for day in sorted(days):
        here = counts.get(day, {"rows": 0, **({"accounts": 0} if source == TRAFFIC_SOURCE else {})})
        verdicts.append(judge_day(source, day, here, counts, tolerance=tolerance, accepted_reason=accepted.get(day)))
    return verdicts

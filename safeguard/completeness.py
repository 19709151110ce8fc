"""Feature windows are built only over days that were all loaded (issue 16): a window with a missing day is refused.

The features of day D read the trailing ``window`` days D-(window-1) .. D of every source (28, the longest of the
dbt var ``feature_windows``). When one of those days was never loaded (its landing day completed late, or never),
D's 7- and 28-day features would be built short, without a word. :func:`window_gaps` finds such days from the
load log (:mod:`safeguard.load_log`); the feature step refuses the partition with :func:`refusal_message`,
before dbt runs, so nothing downstream (scores, served rows, risk tables) is built for it. When the late day
lands, the landing-zone sensor launches it together with every later day (:mod:`safeguard.readiness`), so every
window is rebuilt in date order.

A day loaded but failed by ingestion's volume check (empty or collapsed, ``raw.landing_loads.volume_check``) counts
as missing: its rows are not what happened that day. Days before the first day the load log holds are not judged: they are before this deployment's data (or before
the log existed). A day lost for good is landed as an empty day (``_SUCCESS`` and no file) and its volume accepted
(docs/operations.md, "When data misbehaves"): the window then counts it as present, honestly empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path

from safeguard.catalog import DBT_PROJECT_DIR


def feature_window_days(project_dir: Path = DBT_PROJECT_DIR) -> int:
    """The longest feature window, in days, from the dbt project's var ``feature_windows``."""
    import yaml

    config = yaml.safe_load((Path(project_dir) / "dbt_project.yml").read_text())
    return max(int(w) for w in config["vars"]["feature_windows"])


def window_gaps(
    loaded: Mapping[str, set[str]], days: list[str], *, window_days: int
) -> dict[str, dict[str, list[str]]]:
    """day -> {source: the days of its window not loaded}, for each of ``days`` with a gap (others left out).

    ``loaded`` maps every source to the ISO days it loaded. The window of D is D-(window_days-1) .. D, from the
    first day any source loaded on (earlier days are before the data). Nothing loaded at all: nothing to judge.
    """
    if window_days < 1:
        raise ValueError(f"window_days must be at least 1, got {window_days}")
    every = set().union(*loaded.values()) if loaded else set()
    if not every:
        return {}
    first = date.fromisoformat(min(every))
    gaps: dict[str, dict[str, list[str]]] = {}
    for day in sorted(days):
        d = date.fromisoformat(day)
        start = max(first, d - timedelta(days=window_days - 1))
        window = [(start + timedelta(days=i)).isoformat() for i in range((d - start).days + 1)]
        missing = {source: [w for w in window if w not in got] for source, got in sorted(loaded.items())}
        missing = {source: ws for source, ws in missing.items() if ws}
        if missing:
            gaps[day] = missing
    return gaps


def refusal_message(gaps: Mapping[str, Mapping[str, list[str]]], *, window_days: int) -> str:
    """What an operator reads when feature days are refused: which days, which sources and days are missing,
    and what to do."""
    refused = sorted(gaps)
    needed: dict[str, set[str]] = {}
    for per_source in gaps.values():
        for source, missing in per_source.items():
            needed.setdefault(source, set()).update(missing)
    what = "; ".join(f"{source} {_days(sorted(missing))}" for source, missing in sorted(needed.items()))
    return (
        f"features of {_days(refused)} refused: their {window_days}-day windows need days that were never "
        f"loaded, or failed their volume check ({what}). Nothing was built for them. When the missing day lands (its _SUCCESS in every "
        "source), the landing-zone sensor runs it with every later day; from the UI, backfill the missing day "
        "through the last day in one run. A day lost for good: land it empty (_SUCCESS only) and accept its "
        "volume (docs/operations.md, 'When data misbehaves')."
    )


def feature_window_refusal(con, days: list[str]) -> str | None:
    """The refusal message for feature ``days`` on the warehouse ``con`` (a DuckDB connection), or None when
    every window is complete."""
    from safeguard.contract import SOURCES
    from safeguard.load_log import loaded_days
    from safeguard.warehouse import ensure_raw_schema

    ensure_raw_schema(con)
    window = feature_window_days()
    gaps = window_gaps(loaded_days(con, list(SOURCES)), days, window_days=window)
    return refusal_message(gaps, window_days=window) if gaps else None


def _days(days: list[str]) -> str:
    """``2026-09-01`` or ``2026-09-01 .. 2026-09-05 (5 days)`` or a list when not consecutive."""
    if len(days) == 1:
        return days[0]
    first, last = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
    if (last - first).days + 1 == len(days):
        return f"{days[0]} .. {days[-1]} ({len(days)} days)"
    return ", ".join(days)

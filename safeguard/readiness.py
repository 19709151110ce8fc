"""Which landing-zone days to run, and together with which later days (design §3.1, issue 16).

Used by the landing-zone sensor; pure apart from listing the landing zone (:mod:`safeguard.landing_changes`).

The rule:

- A day is *ready* when every source carries ``_SUCCESS`` and its folders hold no unknown file (a file that is
  neither Parquet nor a writer's bookkeeping *holds* the day, reported with its name).
- A ready day is *new* when the sensor never launched it, *changed* when its content differs from what was
  launched (a re-landed day).
- The run starts at the earliest new or changed day and covers every later day up to the last ready one, in one
  run (ingestion through publishing), in date order: a late or re-landed day D changes the windows of the days
  after it (7- and 28-day features, first-seen values, enforcement history), so they are rebuilt with it.
- Days are taken only in an unbroken line: a day that waits (a source without ``_SUCCESS``), is held, or never
  landed stops the run before it, and every later day waits behind it. Nothing is built on a window with a hole.

What was launched lives in the sensor's cursor (:class:`LaunchLog`): per day, the listing digest and the content
digest it was launched with, for the last :data:`REMEMBERED_DAYS` days; older days are below the floor and never
looked at again (re-land a day older than that with a UI backfill).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from safeguard.landing_changes import DayObservation

REMEMBERED_DAYS = 120
CURSOR_VERSION = 2


@dataclass
class LaunchLog:
    """The sensor's memory: days at or before ``floor`` are done; ``days`` maps each later launched day to
    [listing digest, content digest]."""

    floor: str | None = None
    days: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> LaunchLog:
        """The log from a cursor; an older sensor's cursor (the last day it launched) becomes the floor."""
        if not cursor:
            return cls()
        if cursor.startswith("{"):
            data = json.loads(cursor)
            if data.get("v") != CURSOR_VERSION:
                raise ValueError(
                    f"landing sensor cursor of version {data.get('v')!r}; this code reads "
                    f"{CURSOR_VERSION}: reset the sensor's cursor in the UI"
                )
            return cls(data.get("floor"), {d: list(v) for d, v in data.get("days", {}).items()})
        date.fromisoformat(cursor)  # a day, or an error naming the bad value
        return cls(floor=cursor)

    def to_cursor(self) -> str:
        return json.dumps(
            {"v": CURSOR_VERSION, "floor": self.floor, "days": dict(sorted(self.days.items()))}, separators=(",", ":")
        )

    def forget_before(self, newest: str, keep_days: int = REMEMBERED_DAYS) -> None:
        """Move days more than ``keep_days`` before ``newest`` below the floor."""
        limit = (date.fromisoformat(newest) - timedelta(days=keep_days)).isoformat()
        old = [d for d in self.days if d <= limit]
        for d in old:
            del self.days[d]
        if old:
            self.floor = max([*old, *([self.floor] if self.floor else [])])


@dataclass(frozen=True)
class LandingPlan:
    first: str | None  # the run's first and last day (inclusive), None when nothing to run
    last: str | None
    new: list[str]
    changed: list[str]
    rebuilt: list[str]  # launched before, unchanged, run again because an earlier day in the run is new or changed
    waiting: dict[str, list[str]]  # day -> sources without _SUCCESS
    held: dict[str, list[str]]  # day -> unknown files
    behind: dict[str, str]  # ready day not run -> the earlier day it waits behind
    log: LaunchLog  # the cursor after this plan's run is launched

    @property
    def days(self) -> list[str]:
        if self.first is None:
            return []
        return _calendar(self.first, self.last)

    @property
    def run_key(self) -> str:
        """Unique per range and content: the same plan again is not launched twice."""
        content = json.dumps([self.log.days[d] for d in self.days])
        return f"{self.first}..{self.last}@{hashlib.sha256(content.encode()).hexdigest()[:12]}"

    def reason(self) -> str:
        parts = []
        if self.new:
            parts.append(f"new {_span(self.new)}")
        if self.changed:
            parts.append(f"changed (re-landed) {_span(self.changed)}")
        if self.rebuilt:
            parts.append(f"rebuilt after it {_span(self.rebuilt)}")
        return "; ".join(parts)

    def skip_message(self, first_day: str) -> str:
        """Why nothing runs: the first day that waits, is held, or that later days wait behind."""
        if self.held:
            day, files = next(iter(self.held.items()))
            return (
                f"{day} is held: unknown file(s) in its folders: {', '.join(files)} (remove them or rename "
                "them to *.parquet)" + _behind(self.behind)
            )
        if self.waiting:
            day, missing = next(iter(self.waiting.items()))
            return f"{day} waits for _SUCCESS in {', '.join(missing)}" + _behind(self.behind)
        if self.behind:
            return _behind(self.behind).removeprefix("; ") + ", which has not landed in any source"
        return f"no new or changed landing day after {self.log.floor or first_day}"


def plan_runs(
    observations: list[DayObservation],
    log: LaunchLog,
    *,
    content: Callable[[str], str],
    first_day: str,
) -> LandingPlan:
    """The next run for the landing zone's days (``observations``, any order) given what was launched (``log``).

    ``content(day)`` gives a ready day's content digest; it is asked only for a day not launched yet or whose
    listing changed (it may read files). Days before ``first_day`` or at or before the log's floor are ignored.
    """
    seen = {o.day: o for o in observations if o.day >= first_day and (log.floor is None or o.day > log.floor)}
    waiting = {d: list(o.missing) for d, o in sorted(seen.items()) if o.missing}
    held = {d: list(o.unknown) for d, o in sorted(seen.items()) if not o.missing and o.unknown}
    after = LaunchLog(log.floor, {d: list(v) for d, v in log.days.items()})
    new: list[str] = []
    changed: list[str] = []
    for day, o in sorted(seen.items()):
        if day in waiting or day in held:
            continue
        launched = log.days.get(day)
        if launched is None:
            new.append(day)
            after.days[day] = [o.listing, content(day)]
        elif launched[0] != o.listing:
            digest = content(day)
            after.days[day] = [o.listing, digest]
            if digest != launched[1]:
                changed.append(day)
    triggered = sorted(new + changed)
    if not triggered:
        return LandingPlan(None, None, [], [], [], waiting, held, {}, after)
    first = triggered[0]
    # every day before the earliest trigger (from the floor, or from the first day landed) must be launched
    start = _next_day(log.floor) if log.floor else min(seen)
    hole = next((d for d in _calendar(start, first) if d != first and d not in log.days), None)
    if hole is not None:
        return LandingPlan(
            None,
            None,
            [],
            [],
            [],
            waiting,
            held,
            {d: hole for d in triggered},
            LaunchLog(log.floor, {d: list(v) for d, v in log.days.items()}),
        )
    # an unbroken line of ready days from the earliest trigger
    line: list[str] = []
    for day in _calendar(first, max(seen)):
        if day not in seen or day in waiting or day in held:
            break
        line.append(day)
    stop = _next_day(line[-1])
    behind = {d: stop for d in triggered if d > line[-1]}
    run = set(line)
    # days past the line keep their old log entry (or none): they are not launched by this plan
    for day in list(after.days):
        if day > line[-1] and day in triggered:
            if day in log.days:
                after.days[day] = list(log.days[day])
            else:
                del after.days[day]
    rebuilt = [d for d in line if d not in triggered]
    after.forget_before(line[-1])
    return LandingPlan(
        first,
        line[-1],
        [d for d in new if d in run],
        [d for d in changed if d in run],
        rebuilt,
        waiting,
        held,
        behind,
        after,
    )


def _calendar(first: str, last: str) -> list[str]:
    a, b = date.fromisoformat(first), date.fromisoformat(last)
    return [(a + timedelta(days=i)).isoformat() for i in range((b - a).days + 1)]


def _next_day(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def _span(days: list[str]) -> str:
    return days[0] if len(days) == 1 else f"{days[0]} .. {days[-1]} ({len(days)} days)"


def _behind(behind: dict[str, str]) -> str:
    if not behind:
        return ""
    days = sorted(behind)
    return f"; {_span(days)} wait(s) behind {behind[days[0]]}"

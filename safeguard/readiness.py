"""Which landing-zone days are ready to process: every source's ``_SUCCESS`` present (design §3.1).

Used by the landing-zone sensor; pure apart from listing the landing zone.
"""

from __future__ import annotations

from dataclasses import dataclass

from safeguard.contract import SOURCES
from safeguard.landing import LandingZone


@dataclass(frozen=True)
class Readiness:
    ready: list[str]  # complete in every source, after the cursor, oldest first
    waiting: dict[str, list[str]]  # day -> sources still missing their _SUCCESS


def ready_days(zone: LandingZone, *, after: str | None, first_day: str, sources=tuple(SOURCES)) -> Readiness:
    """Days later than ``after`` (and not before ``first_day``) whose every source is complete.

    A day counts only once all its sources carry ``_SUCCESS``; a day with some sources missing is reported as
    waiting, with the sources it waits for, and blocks nothing after it: each day's run stands alone.
    """
    candidates = sorted({d for s in sources for d in zone.list_days(s)})
    ready: list[str] = []
    waiting: dict[str, list[str]] = {}
    for day in candidates:
        if day < first_day or (after is not None and day <= after):
            continue
        missing = [s for s in sources if not zone.is_complete(s, day)]
        if missing:
            waiting[day] = missing
        else:
            ready.append(day)
    return Readiness(ready, waiting)

"""What the landing zone holds for a day now, as the landing-zone sensor sees it (issue 16).

:func:`observe_day` lists a day in every source, without reading a file: which sources carry ``_SUCCESS``, which
files are not data (unknown names hold the day) and a *listing digest* that changes whenever a data file is
added, removed or rewritten (size and mtime in a folder, size and ETag on S3). Only when that digest changed
does the sensor ask :func:`content_digest`, the day's content: in a folder the SHA-256 of every data file's bytes
(the same per-source digest ingestion records in ``raw.landing_loads``, :mod:`safeguard.load_log`); on S3 the
objects' ETags, which S3 derives from their bytes, so nothing is downloaded. A file rewritten with the same bytes
(a producer re-running an unchanged export) changes the listing and not the content: nothing is re-run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from safeguard.contract import SOURCES, SUCCESS_MARKER, day_path
from safeguard.landing import LandingZone, is_bookkeeping_file, is_data_file
from safeguard.load_log import day_digest, file_digest


@dataclass(frozen=True)
class DayObservation:
    day: str
    missing: tuple[str, ...]  # sources without _SUCCESS (or without a folder)
    unknown: tuple[str, ...]  # files that are neither data nor a writer's bookkeeping, as source/name
    listing: str  # digest of the data files' names and versions in every source

    @property
    def complete(self) -> bool:
        return not self.missing


def observe_day(zone: LandingZone, day: str, sources=tuple(SOURCES)) -> DayObservation:
    missing: list[str] = []
    unknown: list[str] = []
    h = hashlib.sha256()
    for source in sources:
        versions = zone.store.versions(day_path(source, day))
        if SUCCESS_MARKER not in versions:
            missing.append(source)
        for name in sorted(versions):
            if is_data_file(name):
                h.update(f"{source}\t{name}\t{versions[name]}\n".encode())
            elif not is_bookkeeping_file(name):
                unknown.append(f"{source}/{name}")
    return DayObservation(day, tuple(missing), tuple(unknown), h.hexdigest())


def content_digest(zone: LandingZone, day: str, sources=tuple(SOURCES)) -> str:
    """The day's content in every source: per source, the digest ingestion records (folder) or of the ETags
    (S3), combined."""
    h = hashlib.sha256()
    for source in sources:
        rel = day_path(source, day)
        names = sorted(n for n in zone.store.versions(rel) if is_data_file(n))
        if zone.store.is_s3:
            files = {n: v.split(":", 1)[1] for n, v in zone.store.versions(rel).items() if n in names}
        else:
            files = {n: file_digest(zone.store.read_bytes(f"{rel}/{n}")) for n in names}
        h.update(f"{source}\t{day_digest(files)}\n".encode())
    return h.hexdigest()

"""Parquet exports of the published risk scores, for teams that read files rather than the database (§3.5).

Layout under ``EXPORT_URI`` (a folder or ``s3://bucket/prefix``)::

    risk_scores/date=YYYY-MM-DD/part-00000.parquet
    risk_scores/date=YYYY-MM-DD/_SUCCESS          written last: the day is complete when it exists
    review_queue/date=YYYY-MM-DD/...              the day's review queue, the same layout (safeguard.review)

One row per account of the day, the columns of ``account_risk_history`` (``reasons`` as JSON text); the review
queue's rows are the columns of ``review_queue``.

Exporting a day again replaces it so that a reader sees the previous export of the day or the new one, never a
missing or a half-written day, whatever point the exporting process dies at (issue 16 §4):

- **local folder**: the new day is written whole (part, then ``_SUCCESS``, each fsynced) into a hidden folder
  beside the target, ``risk_scores/.date=D.tmp-<uuid>/``, and switched in with one atomic
  ``renameat2(RENAME_EXCHANGE)`` of the two folders (Linux); the old export, now under the hidden name, is
  deleted last. Where the exchange is not supported (another OS or filesystem) the switch is two renames (old
  away to ``.date=D.old-<uuid>``, new into place), a window of microseconds without the folder. Hidden folders
  (``.`` prefix) are skipped by Hive-partitioned readers (pyarrow, Spark, DuckDB's ``date=*`` globs do not
  match them); the next export of the day removes any a killed export left behind;
- **S3** (no rename): the day's objects are overwritten in place, nothing deleted first: S3 replaces an object
  atomically (a GET returns the old object or the new one whole), the part goes first and ``_SUCCESS`` last,
  then objects of the day that the new export did not write are deleted. A day exported for the first time is
  complete once ``_SUCCESS`` exists, as before.

The reader's rule is unchanged: read ``date=D/`` only when its ``_SUCCESS`` exists, and ignore names starting
with ``.`` or ``_`` as data files.
"""

from __future__ import annotations

import ctypes
import io
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from safeguard.contract import SUCCESS_MARKER
from safeguard.dates import as_date
from safeguard.landing import ObjectStore
from safeguard.serving.prepare import prepare_day, with_published_at
from safeguard.vocabulary import utcnow

EXPORT_DATASET = "risk_scores"
PART_NAME = "part-00000.parquet"


@dataclass(frozen=True)
class ExportResult:
    score_date: date
    rows: int
    uri: str  # the day's folder
    bytes: int  # size of the Parquet file


def day_folder(score_date: date | str, dataset: str = EXPORT_DATASET) -> str:
    return f"{dataset}/date={as_date(score_date).isoformat()}"


def export_day(
    store: ObjectStore,
    served: pa.Table | pd.DataFrame,
    score_date: date | str,
    *,
    published_at: datetime | None = None,
) -> ExportResult:
    """Write one day of served rows as Parquet, then ``_SUCCESS``; replaces an earlier export of the day.

    ``served`` is validated exactly as :func:`safeguard.serving.publish.publish_day` validates it, so the export
    and the database always hold the same rows; pass the publish's ``published_at`` to stamp both alike.
    """
    prepared = prepare_day(served, score_date)
    rows = with_published_at(prepared.history, published_at or utcnow())
    return write_day(store, EXPORT_DATASET, prepared.score_date, rows)


def write_day(store: ObjectStore, dataset: str, day: date, rows: pa.Table) -> ExportResult:
    """Replace ``dataset/date=D/`` with ``rows`` as one Parquet file and ``_SUCCESS``, atomically for a reader
    (module doc). Every daily export (``risk_scores``, ``review_queue``) is written through here."""
    folder = day_folder(day, dataset)
    buf = io.BytesIO()
    pq.write_table(rows, buf, compression="zstd")
    data = buf.getvalue()
    files = {PART_NAME: data, SUCCESS_MARKER: b""}  # in writing order: the marker last
    if store.is_s3:
        _overwrite_objects(store, folder, files)
    else:
        _swap_folder(store.root / folder, files)
    return ExportResult(day, rows.num_rows, store.full_uri(folder), len(data))


def _overwrite_objects(store: ObjectStore, folder: str, files: dict[str, bytes]) -> None:
    """S3: put each object over the old one (atomic per object), then delete the day's objects not rewritten."""
    stale = set(store.list(folder)) - set(files)
    for name, data in files.items():
        store.write_bytes(f"{folder}/{name}", data)
    for name in sorted(stale):
        store.delete(f"{folder}/{name}")


def _swap_folder(target: Path, files: dict[str, bytes]) -> None:
    """Local: write the day into a hidden folder beside ``target``, then switch it in (see the module docstring)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for leftover in target.parent.glob(f".{target.name}.*-*"):  # of an export killed before it finished
        shutil.rmtree(leftover, ignore_errors=True)
    staged = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex}")
    staged.mkdir()
    for name, data in files.items():
        _write_synced(staged / name, data)
    _fsync(staged)
    _discard(_switch(staged, target))


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _switch(staged: Path, target: Path) -> Path | None:
    """Put ``staged`` at ``target``; the folder that now holds the previous export (to delete), if any."""
    if not target.exists():
        os.rename(staged, target)
        _fsync(target.parent)
        return None
    if _exchange(staged, target):  # one atomic step: target is the new day, staged holds the old one
        _fsync(target.parent)
        return staged
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex}")
    os.rename(target, old)
    os.rename(staged, target)
    _fsync(target.parent)
    return old


def _discard(old: Path | None) -> None:
    if old is not None:
        shutil.rmtree(old)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths with Linux's renameat2; False where it is unavailable or unsupported."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: this kernel or filesystem cannot exchange
        return False
    raise OSError(errno, os.strerror(errno), str(b))


def read_export(store: ObjectStore, score_date: date | str, dataset: str = EXPORT_DATASET) -> pa.Table:
    """An exported day, refused when its ``_SUCCESS`` marker is missing (the day is incomplete)."""
    folder = day_folder(score_date, dataset)
    if not store.exists(f"{folder}/{SUCCESS_MARKER}"):
        raise FileNotFoundError(f"no {SUCCESS_MARKER} at {store.full_uri(folder)}: the export is incomplete")
    return pq.read_table(io.BytesIO(store.read_bytes(f"{folder}/{PART_NAME}")))

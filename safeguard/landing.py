"""One interface over the landing zone, on a local folder or on S3 (boto3), design §3.1.

Layout: ``ROOT/SOURCE/date=YYYY-MM-DD/*.parquet``; a day is complete when its ``_SUCCESS`` marker exists.
``s3://bucket/prefix`` works the same as a folder; any S3-compatible endpoint through ``S3_ENDPOINT_URL``.
Credentials come only from the environment (boto3's default chain); nothing here takes or logs a secret.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from safeguard.contract import SUCCESS_MARKER, day_path

_DAY_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


class LandingError(RuntimeError):
    """A landing-zone day cannot be used; the message names the source, day and file."""


class IncompleteDayError(LandingError):
    """The day's ``_SUCCESS`` marker is missing: the producer has not finished it."""


class UnreadableFileError(LandingError):
    """A file of the day is not valid Parquet."""


class UnknownFileError(LandingError):
    """A day folder holds a file that is neither Parquet nor a writer's bookkeeping: the day is held."""


class UnavailableFileError(LandingError):
    """The object store did not deliver a file of the day, after the client's retries (S3 errors, throttling)."""


def s3_client(endpoint_url: str | None = None):
    """A boto3 S3 client with standard retries and backoff (throttling and 5xx are retried): a request is sent at
    most 6 times in all (botocore reads ``max_attempts`` as retries, hence ``total_max_attempts``)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url or None,
        config=Config(retries={"total_max_attempts": 6, "mode": "standard"}, connect_timeout=5, read_timeout=60),
    )


def split_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


class ObjectStore:
    """Bytes at relative keys under a root: a local folder or an S3 prefix."""

    def __init__(self, uri: str, *, s3_endpoint_url: str | None = None):
        self.uri = uri.rstrip("/")
        self.is_s3 = uri.startswith("s3://")
        if self.is_s3:
            self.bucket, self.prefix = split_s3_uri(uri)
            self._s3 = s3_client(s3_endpoint_url)
        else:
            self.root = Path(uri)

    def _key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def full_uri(self, rel: str) -> str:
        return f"{self.uri}/{rel}"

    def exists(self, rel: str) -> bool:
        if not self.is_s3:
            return (self.root / rel).exists()
        from botocore.exceptions import ClientError

        try:
            self._s3.head_object(Bucket=self.bucket, Key=self._key(rel))
            return True
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def list(self, rel_dir: str) -> list[str]:
        """Names (not paths) directly under ``rel_dir``: files and sub-folders, sorted."""
        if not self.is_s3:
            d = self.root / rel_dir
            return sorted(p.name for p in d.iterdir()) if d.is_dir() else []
        prefix = self._key(rel_dir).strip("/") + "/" if rel_dir else (self.prefix + "/" if self.prefix else "")
        names: set[str] = set()
        for page in self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, Delimiter="/"
        ):
            names.update(o["Key"][len(prefix) :] for o in page.get("Contents", []))
            names.update(p["Prefix"][len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", []))
        return sorted(n for n in names if n)

    def versions(self, rel_dir: str) -> dict[str, str]:
        """Files directly under ``rel_dir`` -> a token that changes when the file is rewritten: ``size:mtime_ns``
        in a folder, ``size:ETag`` on S3 (no download: the listing carries both)."""
        if not self.is_s3:
            d = self.root / rel_dir
            if not d.is_dir():
                return {}
            return {p.name: f"{st.st_size}:{st.st_mtime_ns}" for p in d.iterdir() if p.is_file() for st in [p.stat()]}
        prefix = self._key(rel_dir).strip("/") + "/"
        found: dict[str, str] = {}
        for page in self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, Delimiter="/"
        ):
            for o in page.get("Contents", []):
                found[o["Key"][len(prefix) :]] = f"{o['Size']}:{o['ETag'].strip(chr(34))}"
        return {n: v for n, v in found.items() if n}

    def read_bytes(self, rel: str) -> bytes:
        if not self.is_s3:
            return (self.root / rel).read_bytes()
        return self._s3.get_object(Bucket=self.bucket, Key=self._key(rel))["Body"].read()

    def write_bytes(self, rel: str, data: bytes) -> None:
        if not self.is_s3:
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)  # readers never see a half-written file
            return
        self._s3.put_object(Bucket=self.bucket, Key=self._key(rel), Body=data)

    def delete(self, rel: str) -> None:
        """Delete one file or object (no error when it is gone already)."""
        if not self.is_s3:
            (self.root / rel).unlink(missing_ok=True)
            return
        self._s3.delete_object(Bucket=self.bucket, Key=self._key(rel))

    def delete_prefix(self, rel_dir: str) -> None:
        if not self.is_s3:
            import shutil

            shutil.rmtree(self.root / rel_dir, ignore_errors=True)
            return
        prefix = self._key(rel_dir).strip("/") + "/"
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self._s3.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})


@dataclass
class DayFiles:
    source: str
    day: str
    files: list[str]  # relative paths of the day's Parquet files


def _is_data_file(name: str) -> bool:
    """A Parquet part of a day; names starting with ``_`` or ``.`` are a writer's bookkeeping (Hadoop/Spark's
    hidden-file convention: ``_SUCCESS``, ``_committed_*``, ``.part-0.parquet.crc``) or a half-written temp file."""
    return name.endswith(".parquet") and not name.startswith(("_", "."))


def is_data_file(name: str) -> bool:
    """A Parquet part of a day (see :func:`_is_data_file`)."""
    return _is_data_file(name)


def is_bookkeeping_file(name: str) -> bool:
    """A writer's bookkeeping, not data and not unknown: ``_SUCCESS``, ``_committed_*``, hidden files such as
    ``.part-0.parquet.crc`` or a half-written ``.tmp``, and checksum files (``*.crc``)."""
    return name.startswith(("_", ".")) or name.endswith(".crc")


class LandingZone:
    """The landing-zone contract over an :class:`ObjectStore`."""

    def __init__(self, uri: str, *, s3_endpoint_url: str | None = None):
        self.store = ObjectStore(uri, s3_endpoint_url=s3_endpoint_url)
        self.uri = self.store.uri

    def list_days(self, source: str) -> list[str]:
        """Every day with a folder for ``source`` (complete or not), sorted."""
        return [m.group(1) for n in self.store.list(source) if (m := _DAY_DIR.match(n))]

    def is_complete(self, source: str, day: str) -> bool:
        return self.store.exists(f"{day_path(source, day)}/{SUCCESS_MARKER}")

    def day_files(self, source: str, day: str) -> DayFiles:
        """The day's Parquet files; refuses a day without ``_SUCCESS`` or with an unknown file."""
        from botocore.exceptions import BotoCoreError, ClientError

        rel = day_path(source, day)
        try:
            complete = self.is_complete(source, day)
            names = self.store.list(rel) if complete else []
        except (BotoCoreError, ClientError) as e:  # botocore's message names the operation, not the folder
            raise UnavailableFileError(f"{source} {day}: cannot list {self.store.full_uri(rel)}: {e}") from e
        if not complete:
            raise IncompleteDayError(
                f"{source} {day}: no {SUCCESS_MARKER} at {self.store.full_uri(rel)}; "
                "the day is not complete and was not loaded"
            )
        unknown = [n for n in names if not _is_data_file(n) and not is_bookkeeping_file(n)]
        if unknown:
            raise UnknownFileError(
                f"{source} {day}: unknown file(s) {', '.join(unknown)} in {self.store.full_uri(rel)} (neither Parquet "
                "nor a writer's bookkeeping); the day is held and was not loaded: remove them or convert them to "
                "*.parquet"
            )
        files = [f"{rel}/{n}" for n in names if _is_data_file(n)]
        return DayFiles(source, day, files)

    def read_file(self, rel: str) -> pa.Table:
        return self.read_file_digest(rel)[0]

    def read_file_digest(self, rel: str) -> tuple[pa.Table, str]:
        """The file's table and the SHA-256 of the bytes it was read from."""
        from botocore.exceptions import BotoCoreError, ClientError

        from safeguard.load_log import file_digest

        try:
            data = self.store.read_bytes(rel)
        except (BotoCoreError, ClientError) as e:  # botocore's message names the operation, not the object
            raise UnavailableFileError(f"cannot fetch {self.store.full_uri(rel)}: {e}") from e
        try:
            return pq.read_table(io.BytesIO(data)), file_digest(data)
        except (pa.ArrowException, OSError) as e:
            raise UnreadableFileError(f"cannot read Parquet file {self.store.full_uri(rel)}: {e}") from e

    def write_day(self, source: str, day: str, tables: list[pa.Table], *, mark_complete: bool = True) -> None:
        """Write a day's files (``part-00000.parquet``, ...) and then, last, its ``_SUCCESS`` marker.

        An existing day is replaced whole. A day with no rows still gets its marker.
        """
        rel = day_path(source, day)
        self.store.delete_prefix(rel)
        for i, table in enumerate(tables):
            buf = io.BytesIO()
            pq.write_table(table, buf, compression="zstd")
            self.store.write_bytes(f"{rel}/part-{i:05d}.parquet", buf.getvalue())
        if mark_complete:
            self.store.write_bytes(f"{rel}/{SUCCESS_MARKER}", b"")

"""Errors a person meets at the command line, said in one or two lines with the fix (issue 20): the serving
database unreachable, the warehouse locked by a run, a landing zone that is not there, a model that is not
registered. ``safeguard -v ...`` shows the traceback instead."""

from __future__ import annotations

import re


def _redacted(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def explain(error: BaseException, *, serving_url: str | None = None) -> str | None:
    """A person's message for ``error``, or None when it is not one the command line knows how to explain.
    ``serving_url``: the serving database the command used (``--db``); default: the configured one."""
    import duckdb
    import sqlalchemy.exc

    from safeguard.landing import LandingError
    from safeguard.registry import RegistryError

    if isinstance(error, sqlalchemy.exc.OperationalError):
        from safeguard.config import settings

        url = _redacted(serving_url or settings().serving_db_url)
        first = str(error.orig).strip().splitlines()[0] if error.orig else str(error).splitlines()[0]
        return (
            f"cannot use the serving database {url}: {first}\n"
            "  is the server running (PostgreSQL: pg_ctlcluster 15 main start) and SERVING_DB_URL right?"
        )
    if isinstance(error, duckdb.IOException) and "lock" in str(error).lower():
        return (
            f"the warehouse is locked by another process: {str(error).splitlines()[0]}\n"
            "  a pipeline run holds it (DuckDB allows one writer per file): retry when the run has finished"
        )
    if isinstance(error, (LandingError, RegistryError)):
        return str(error)
    if isinstance(error, (FileNotFoundError, PermissionError)):
        return f"{error.strerror or error}: {error.filename}" if error.filename else str(error)
    return None


def missing_landing_zone(landing_uri: str) -> str | None:
    """Why a run cannot start when the landing zone is a local folder that is not there (S3 is checked by the run)."""
    from pathlib import Path

    if landing_uri.startswith("s3://") or Path(landing_uri).is_dir():
        return None
    return (
        f"no landing zone at {landing_uri}\n"
        "  generate a synthetic world into it (safeguard generate) or point LANDING_URI (or SAFEGUARD_HOME) at yours"
    )

"""A throwaway PostgreSQL database (and read-only role name) for one test module or benchmark run."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa


@dataclass(frozen=True)
class ScratchDatabase:
    url: sa.URL  # the scratch database, as the server's test role
    reader_role: str  # a role name to give SERVING_READONLY_ROLE; dropped with the database


@contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[ScratchDatabase]:
    """Create a uniquely named database on the server of ``server_url``; drop it and the role afterwards.

    The drop waits for an autovacuum worker to leave (plain DROP DATABASE asks it to), since the test role may
    not terminate the superuser's processes that ``WITH (FORCE)`` would kill; FORCE is the last resort, for a
    connection of our own left open.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield ScratchDatabase(sa.make_url(server_url).set(database=name), f"{name}_reader")
    finally:
        with admin.connect() as conn:
            for attempt in range(5):
                try:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
                    break
                except sa.exc.OperationalError:  # "being accessed by other users"
                    if attempt == 4:
                        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    time.sleep(1)
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{name}_reader"')
        admin.dispose()

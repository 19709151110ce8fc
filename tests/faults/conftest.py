"""Fixtures of the fault tests: the code location's own resources on throwaway locations, and a faulty S3 proxy.

Resources come from :func:`assets.resources.build_resources` with the locations set in the environment,
as a deployment sets them, so the assets run exactly as the code location wires them.
"""

from __future__ import annotations

import http.client
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import boto3
import duckdb
import pytest
import sqlalchemy as sa

from assets.dbt_project import dbt_resource
from assets.resources import build_resources
from safeguard.serving.schema import account_risk_current, account_risk_history, published_days, risk_reasons


@dataclass(frozen=True)
class Deployment:
    """One throwaway deployment: where everything lives, and the resources the code location builds for it."""

    home: Path
    landing_uri: str
    warehouse: str
    serving_url: str
    model_dir: str
    export_dir: str
    resources: dict


@pytest.fixture
def deploy(tmp_path, monkeypatch):
    """``deploy(landing_uri=None, s3_endpoint_url=None, serving_url=None)``: set the locations in the environment
    (defaults under ``tmp_path``) and return the :class:`Deployment` with the code location's resources."""

    def make(
        *, landing_uri: str | None = None, s3_endpoint_url: str | None = None, serving_url: str | None = None
    ) -> Deployment:
        home = tmp_path / "home"
        home.mkdir(exist_ok=True)  # DuckDB creates the warehouse file, not its folder
        locations = {
            "SAFEGUARD_HOME": str(home),
            "LANDING_URI": landing_uri or str(home / "landing"),
            "WAREHOUSE_PATH": str(home / "warehouse.duckdb"),
            "SERVING_DB_URL": serving_url or f"sqlite:///{home / 'serving.db'}",
            "MODEL_STORE_URI": str(home / "models"),
            "EXPORT_URI": str(home / "exports"),
        }
        for name, value in locations.items():
            monkeypatch.setenv(name, value)
        if s3_endpoint_url:
            monkeypatch.setenv("S3_ENDPOINT_URL", s3_endpoint_url)
        monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "dbt-target"))  # dbt's artifacts stay in tmp_path
        return Deployment(
            home=home,
            landing_uri=locations["LANDING_URI"],
            warehouse=locations["WAREHOUSE_PATH"],
            serving_url=locations["SERVING_DB_URL"],
            model_dir=locations["MODEL_STORE_URI"],
            export_dir=locations["EXPORT_URI"],
            resources={**build_resources(), "dbt": dbt_resource()},
        )

    return make


def failure_text(result) -> str:
    """Every step failure of a Dagster result, with the chain of causes, as an operator reads it in the UI."""
    return "\n".join(e.step_failure_data.error.to_string() for e in result.get_step_failure_events())


def read_warehouse(warehouse: str) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the warehouse, after a failed step too (the warehouse resource closes its
    connection whatever the step's outcome; assets.resources.WarehouseResource)."""
    return duckdb.connect(warehouse, read_only=True)


def rows_per_day(warehouse: str, table: str, day_column: str = "_partition_date") -> dict[str, int]:
    with read_warehouse(warehouse) as con:
        return dict(con.execute(f"SELECT {day_column}::VARCHAR, count(*) FROM {table} GROUP BY 1").fetchall())


def new_bucket(endpoint: str) -> str:
    name = f"faults-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=name)
    return name


class FaultyS3Proxy:
    """A real HTTP proxy in front of an S3 endpoint that answers chosen requests with an S3 error instead.

    ``fail_next(errors)``: the next requests get these ``(status, code)`` errors, one each (a burst of throttling);
    ``fail_matching(text, ...)``: every request whose decoded path contains ``text`` gets one, until ``heal()``.
    ``failed`` counts the requests answered with an error; everything else is forwarded unchanged.
    """

    def __init__(self, upstream: str):
        target = urlsplit(upstream)
        self._upstream = (target.hostname, target.port)
        self._lock = threading.Lock()
        self._burst: list[tuple[int, str]] = []
        self._match: str | None = None
        self._error = (500, "InternalError")
        self.failed: list[str] = []  # "METHOD path" of each request answered with an error
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail_next(self, errors: list[tuple[int, str]]) -> None:
        with self._lock:
            self._burst = list(errors)

    def fail_matching(self, text: str, status: int = 500, code: str = "InternalError") -> None:
        with self._lock:
            self._match, self._error = text, (status, code)

    def heal(self) -> None:
        with self._lock:
            self._burst, self._match = [], None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _error_for(self, method: str, path: str) -> tuple[int, str] | None:
        with self._lock:
            if self._burst:
                error = self._burst.pop(0)
            elif self._match and self._match in unquote(path):
                error = self._error
            else:
                return None
            self.failed.append(f"{method} {unquote(path)}")
            return error

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet: the test reports what matters
                pass

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                error = proxy._error_for(self.command, self.path)
                if error is not None:
                    status, code = error
                    payload = (
                        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                        f"<Message>injected by the fault proxy</Message></Error>"
                    ).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                    return
                upstream = http.client.HTTPConnection(*proxy._upstream, timeout=30)
                try:
                    upstream.request(self.command, self.path, body=body or None, headers=dict(self.headers))
                    response = upstream.getresponse()
                    data = response.read()
                    self.send_response(response.status)
                    for name, value in response.getheaders():
                        if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                            self.send_header(name, value)
                    length = response.getheader("Content-Length") if self.command == "HEAD" else len(data)
                    self.send_header("Content-Length", str(length or 0))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

        return Handler


@pytest.fixture
def s3_proxy(s3_endpoint):
    """A :class:`FaultyS3Proxy` in front of the session's moto server (the real endpoint)."""
    proxy = FaultyS3Proxy(s3_endpoint)
    try:
        yield proxy
    finally:
        proxy.close()


def small_model(specs, *, seed: int = 1):
    """A small real model (a second or two to train) on the synthetic marts of tests/model_factory.py, its
    columns named after ``specs`` in order: the third is the count-like feature that carries the risk."""
    from datetime import UTC, datetime

    from safeguard.training import train_risk_model
    from tests import model_factory as mf

    frame = mf.synthetic_frame(300, mf.day_strings("2026-07-01", 40), n_features=len(specs), seed=seed)
    frame = frame.rename(columns={f"feat_{i:02d}": spec.name for i, spec in enumerate(specs)})
    created = datetime(2026, 8, 1, 0, 0, seed, tzinfo=UTC)  # a fixed version name
    return train_risk_model(frame, specs, num_boost_round=20, seed=seed, created_at=created)


def register_champion(d: Deployment, model) -> str:
    """Register ``model`` as the champion in the deployment's registry; its version."""
    from safeguard.landing import ObjectStore
    from safeguard.registry import ModelRegistry
    from safeguard.serving.db import engine_for, upgrade
    from safeguard.vocabulary import CHAMPION

    engine = engine_for(d.serving_url)
    try:
        upgrade(engine)
        return ModelRegistry(engine, ObjectStore(d.model_dir)).register(model, CHAMPION).version
    finally:
        engine.dispose()


def what_readers_see(engine) -> dict:
    """Everything a downstream reader can see, in a comparable form."""

    def per_day(table):
        return dict(conn.execute(sa.select(table.c.score_date, sa.func.count()).group_by(table.c.score_date)).all())

    cur = account_risk_current
    with engine.connect() as conn:
        return {
            "current": conn.execute(
                sa.select(
                    cur.c.account_id, cur.c.score_date, cur.c.probability, cur.c.tier, cur.c.model_version
                ).order_by(cur.c.account_id)
            ).all(),
            "history_per_day": per_day(account_risk_history),
            "reasons_per_day": per_day(risk_reasons),
            "published": conn.execute(
                sa.select(published_days.c.score_date, published_days.c.content_sha256).order_by(
                    published_days.c.score_date
                )
            ).all(),
        }

"""The dependency audit's decision (security/audit.py): binding where a service answers, NOT RUN where none does.

The service is a real local HTTP server in a thread that speaks OSV's query API (``POST /v1/query`` with a
package and version, answered ``{}`` or ``{"vulns": [...]}`` in OSV's schema 1.x), and the audit is the real one:
pip-audit over this environment, pointed at it with ``--osv-url``. Nothing goes to the network.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from security.audit import main

VULNERABLE = "sqlalchemy"  # installed here: the project's own dependency
VULN_ID = "GHSA-test-0000-0001"


class OsvServer:
    """A local OSV endpoint; ``vulnerable``: package name -> vulnerability id it reports for every version."""

    def __init__(self, vulnerable: dict[str, str]):
        self.vulnerable = vulnerable
        self.queried: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                name = query["package"]["name"]
                server.queried.append(f"{name}=={query['version']}")
                answer = {}
                if name in server.vulnerable:
                    answer = {"vulns": [{
                        "id": server.vulnerable[name], "summary": "a test vulnerability", "schema_version": "1.6.0",
                        "affected": [{"package": {"name": name, "ecosystem": "PyPI"}, "ranges": [
                            {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "999.0"}]}]}],
                    }]}  # fmt: skip
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/v1/query"

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()


@pytest.fixture
def osv():
    servers = []

    def start(vulnerable: dict[str, str]) -> OsvServer:
        servers.append(OsvServer(vulnerable))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


@pytest.fixture
def allowlist(tmp_path):
    path = tmp_path / "allowlist.txt"
    path.write_text("# none\n")
    return path


def run_audit(url: str, allowlist, tmp_path) -> tuple[int, str]:
    status = tmp_path / "audit-status.txt"
    code = main(["--services", "osv", "--osv-url", url, "--allowlist", str(allowlist), "--status-file", str(status)])
    return code, status.read_text().strip()


def closed_port_url() -> str:
    with socket.socket() as s:  # bound, never listening: connections are refused
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1/query"


def test_a_reachable_service_reporting_a_vulnerability_fails_the_audit_until_it_is_allowlisted(
    osv, allowlist, tmp_path, capsys
):
    server = osv({VULNERABLE: VULN_ID})
    code, status = run_audit(server.url, allowlist, tmp_path)
    assert code == 1
    assert status.startswith(f"dependency audit: FAILED (osv at {server.url}): 1 known vulnerabilities: {VULNERABLE} ")
    assert f"{VULN_ID} (fix: 999.0)" in status and f"{VULN_ID} (fix: 999.0)" in capsys.readouterr().out
    assert any(q.startswith(f"{VULNERABLE}==") for q in server.queried) and len(server.queried) > 20

    allowlist.write_text(f"--ignore-vuln {VULN_ID}  # the test says it does not apply\n")
    code, status = run_audit(server.url, allowlist, tmp_path)
    assert (code, status.split(":")[1].strip()) == (0, "PASSED (osv at http")
    assert f"allowlisted {VULN_ID}: the test says it does not apply" in capsys.readouterr().out


def test_a_reachable_clean_service_passes(osv, allowlist, tmp_path):
    server = osv({})
    code, status = run_audit(server.url, allowlist, tmp_path)
    assert code == 0
    assert status == (f"dependency audit: PASSED (osv at {server.url}): {len(set(server.queried))} dependencies, "
                      "no known vulnerabilities")  # fmt: skip


def test_an_unreachable_service_is_not_run_and_fails_only_where_the_audit_is_required(
    allowlist, tmp_path, capsys, monkeypatch
):
    url = closed_port_url()
    monkeypatch.setenv("SAFEGUARD_AUDIT_REQUIRED", "0")
    code, status = run_audit(url, allowlist, tmp_path)
    assert code == 0
    assert status.startswith(f"dependency audit: NOT RUN: no service reachable; osv at {url}: pip-audit exited")
    out = capsys.readouterr().out
    assert "DEPENDENCY AUDIT NOT RUN" in out and "goes on UNAUDITED" in out

    monkeypatch.delenv("SAFEGUARD_AUDIT_REQUIRED")  # a configured OSV URL makes the audit required by default
    code, status = run_audit(url, allowlist, tmp_path)
    assert code == 2 and status.startswith("dependency audit: FAILED (required): no service reachable")
    assert "the audit is required here" in capsys.readouterr().out

    monkeypatch.setenv("SAFEGUARD_AUDIT_REQUIRED", "1")
    assert run_audit(url, allowlist, tmp_path)[0] == 2

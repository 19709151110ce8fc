"""Dependency vulnerability audit of the project's environment, run by `make test` before pytest (issue 8 §4).

Runs pip-audit over the installed environment (the venv `uv sync --frozen` built from uv.lock, so the locked
versions) against a vulnerability service, and decides:

- findings not in the allowlist: each is printed and the audit FAILS (exit 1);
- findings in the allowlist (``security/audit-allowlist.txt``, one ``--ignore-vuln ID  # why`` per line; a line
  without its reason is refused): ignored by pip-audit and listed;
- no service could audit anything: a loud ``DEPENDENCY AUDIT NOT RUN`` saying why. This does not fail the build
  (exit 0) unless the audit is required (exit 2): this machine and CI share one network, where every public
  service is unreachable or answers nothing (below), so a failing build would be red on every commit and say
  nothing about the dependencies.

Where a service is reachable the result is binding: a finding not allowlisted fails ``make test``. The audit is
*required* (an unreachable service fails too) with ``--require-service`` or ``SAFEGUARD_AUDIT_REQUIRED=1``, and by
default when an OSV endpoint is configured (``--osv-url`` / ``SAFEGUARD_AUDIT_OSV_URL``, e.g. a company mirror of
OSV): whoever configured it says it is reachable, so its silence is an error, not this network's limitation.
``SAFEGUARD_AUDIT_REQUIRED=0`` turns that off.

The outcome is one line (``dependency audit: PASSED|FAILED|NOT RUN ...``), printed last and written to
``--status-file`` / ``SAFEGUARD_AUDIT_STATUS_FILE`` when given, which ``make test`` prints again after pytest so the
end of every CI log says whether the dependencies were audited.

Services, in order (``--services`` / ``SAFEGUARD_AUDIT_SERVICES``, default ``pypi,osv``): PyPI's JSON API
(pip-audit's default), then OSV (api.osv.dev, or the configured URL). A service "audited nothing" when it answered
for no dependency: here PyPI's per-release endpoint (``/pypi/NAME/VERSION/json``) answers 404 for every package,
which pip-audit reports as "Dependency not found on PyPI" and would otherwise sum up as "No known vulnerabilities
found"; api.osv.dev does not resolve.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ALLOWLIST = ROOT / "security" / "audit-allowlist.txt"
SERVICES = ("pypi", "osv")
_ENTRY = re.compile(r"^--ignore-vuln\s+(\S+)\s+#\s*(\S.*)$")


class AllowlistError(ValueError):
    """A line of the allowlist is not ``--ignore-vuln ID  # reason``."""


@dataclass
class ServiceResult:
    service: str
    audited: list[str] = field(default_factory=list)  # name==version of every dependency it answered for
    skipped: dict[str, str] = field(default_factory=dict)  # name -> pip-audit's skip reason
    findings: list[str] = field(default_factory=list)  # "name version: ID (fix: versions)"
    error: str | None = None  # why the service could not be asked at all


def read_allowlist(path: Path) -> dict[str, str]:
    """``{vulnerability id: reason}``; blank lines and ``#`` comment lines are skipped."""
    entries = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _ENTRY.match(line)
        if not match:
            raise AllowlistError(f"{path}:{number}: expected '--ignore-vuln ID  # why it is acceptable', got {line!r}")
        entries[match.group(1)] = match.group(2)
    return entries


def run_service(service: str, ignored: list[str], *, osv_url: str | None = None) -> ServiceResult:
    """pip-audit of this environment against ``service`` (OSV at ``osv_url`` when given), its report parsed."""
    result = ServiceResult(service)
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        command = [sys.executable, "-m", "pip_audit", "--local", "--vulnerability-service", service,
                   "--format", "json", "--output", str(report), "--progress-spinner", "off", "--desc", "off",
                   "--timeout", "15"]  # fmt: skip
        if service == "osv" and osv_url:
            command += ["--osv-url", osv_url]
        for vuln in ignored:
            command += ["--ignore-vuln", vuln]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        if not report.exists():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            result.error = f"pip-audit exited {done.returncode} without a report: {last[:300]}"
            return result
        data = json.loads(report.read_text())
    for dep in data.get("dependencies", []):
        if "skip_reason" in dep:
            result.skipped[dep["name"]] = dep["skip_reason"]
            continue
        result.audited.append(f"{dep['name']}=={dep['version']}")
        for vuln in dep.get("vulns", []):
            fixes = ", ".join(vuln.get("fix_versions") or []) or "none yet"
            result.findings.append(f"{dep['name']} {dep['version']}: {vuln['id']} (fix: {fixes})")
    return result


def is_required(flag: bool, osv_url: str | None) -> bool:
    """Required by the flag, by ``SAFEGUARD_AUDIT_REQUIRED=1``, or (unless it is ``0``) by a configured OSV URL."""
    env = os.environ.get("SAFEGUARD_AUDIT_REQUIRED")
    return flag or env == "1" or (env is None and bool(osv_url))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--allowlist", type=Path, default=DEFAULT_ALLOWLIST)
    parser.add_argument("--require-service", action="store_true",
                        help="fail (exit 2) when no vulnerability service can audit the environment")  # fmt: skip
    parser.add_argument("--services", default=os.environ.get("SAFEGUARD_AUDIT_SERVICES", ",".join(SERVICES)),
                        help="the services to try, in order, comma-separated (pypi, osv)")  # fmt: skip
    parser.add_argument("--osv-url", default=os.environ.get("SAFEGUARD_AUDIT_OSV_URL") or None,
                        help="the OSV query endpoint (a mirror); configuring it makes the audit required")  # fmt: skip
    parser.add_argument("--status-file", type=Path, default=os.environ.get("SAFEGUARD_AUDIT_STATUS_FILE") or None,
                        help="write the one-line outcome here, for the end of the CI log")  # fmt: skip
    args = parser.parse_args(argv)
    services = [s.strip() for s in args.services.split(",") if s.strip()]
    if not services or set(services) - set(SERVICES):
        parser.error(f"--services: choose from {', '.join(SERVICES)}, got {args.services!r}")
    code, status = audit(services, read_allowlist(args.allowlist), args.osv_url,
                         is_required(args.require_service, args.osv_url))  # fmt: skip
    print(status)
    if args.status_file is not None:
        args.status_file.parent.mkdir(parents=True, exist_ok=True)
        args.status_file.write_text(status + "\n")
    return code


def audit(services: list[str], allowlist: dict[str, str], osv_url: str | None, required: bool) -> tuple[int, str]:
    """Run the services in order until one audits the environment; (exit code, the one-line outcome)."""
    tried = []
    for service in services:
        result = run_service(service, sorted(allowlist), osv_url=osv_url)
        tried.append(result)
        if result.audited:
            break
    else:
        reasons = []
        for r in tried:
            why = (
                r.error
                or f"answered for none of {len(r.skipped)} dependencies, e.g. {next(iter(r.skipped.values()), '')}"
            )
            reasons.append(f"{r.service}{f' at {osv_url}' if r.service == 'osv' and osv_url else ''}: {why}")
        print("=" * 100)
        print("DEPENDENCY AUDIT NOT RUN: no vulnerability service could audit this environment")
        for reason in reasons:
            print(f"  {reason}")
        if required:
            print("  the audit is required here (SAFEGUARD_AUDIT_REQUIRED=1 or a configured OSV URL): FAILING")
        else:
            print("  not required, so the build goes on UNAUDITED (see docs/operations.md, 'The dependency audit')")
        print("=" * 100)
        verdict = "FAILED (required)" if required else "NOT RUN"
        return (2 if required else 0), f"dependency audit: {verdict}: no service reachable; {'; '.join(reasons)}"
    where = f"{result.service}{f' at {osv_url}' if result.service == 'osv' and osv_url else ''}"
    print(f"dependency audit ({where}): {len(result.audited)} dependencies audited, "
          f"{len(result.skipped)} skipped ({', '.join(sorted(result.skipped))})")  # fmt: skip
    for vuln, reason in sorted(allowlist.items()):
        print(f"  allowlisted {vuln}: {reason}")
    if result.findings:
        print("dependency audit FAILED: known vulnerabilities (fix, or allowlist with a reason):")
        for finding in result.findings:
            print(f"  {finding}")
        return 1, f"dependency audit: FAILED ({where}): {len(result.findings)} known vulnerabilities: " + "; ".join(
            result.findings
        )
    return 0, f"dependency audit: PASSED ({where}): {len(result.audited)} dependencies, no known vulnerabilities"


if __name__ == "__main__":
    sys.exit(main())

"""Dependency vulnerability audit of the project's environment, run by `make test` before pytest (issue 8 §4).

Runs pip-audit over the installed environment (the venv `uv sync --frozen` built from uv.lock, so the locked
versions) against a vulnerability service, and decides:

- findings not in the allowlist: each is printed and the audit FAILS (exit 1);
- findings in the allowlist (``security/audit-allowlist.txt``, one ``--ignore-vuln ID  # why`` per line; a line
  without its reason is refused): ignored by pip-audit and listed;
- no service could audit anything: a loud ``DEPENDENCY AUDIT NOT RUN`` saying why. This does not fail the build
  (exit 0) unless ``--require-service`` or ``SAFEGUARD_AUDIT_REQUIRED=1`` asks it to (exit 2): this machine and
  CI share one network, where every service is unreachable or answers nothing (below), so a failing build would
  be red on every commit and say nothing about the dependencies.

Services, in order: PyPI's JSON API (pip-audit's default), then OSV. A service "audited nothing" when it answered
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


def run_service(service: str, ignored: list[str]) -> ServiceResult:
    """pip-audit of this environment against ``service``, its JSON report parsed."""
    result = ServiceResult(service)
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        command = [sys.executable, "-m", "pip_audit", "--local", "--vulnerability-service", service,
                   "--format", "json", "--output", str(report), "--progress-spinner", "off", "--desc", "off",
                   "--timeout", "15"]  # fmt: skip
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--allowlist", type=Path, default=DEFAULT_ALLOWLIST)
    parser.add_argument("--require-service", action="store_true",
                        default=os.environ.get("SAFEGUARD_AUDIT_REQUIRED") == "1",
                        help="fail (exit 2) when no vulnerability service can audit the environment")  # fmt: skip
    args = parser.parse_args(argv)
    allowlist = read_allowlist(args.allowlist)
    tried = []
    for service in SERVICES:
        result = run_service(service, sorted(allowlist))
        tried.append(result)
        if result.audited:
            break
    else:
        print("=" * 100)
        print("DEPENDENCY AUDIT NOT RUN: no vulnerability service could audit this environment")
        for r in tried:
            why = r.error or f"answered for none of {len(r.skipped)} dependencies, e.g. {next(iter(r.skipped.values()), '')}"
            print(f"  {r.service}: {why}")
        print("  (see security/audit.py; set SAFEGUARD_AUDIT_REQUIRED=1 where a service is reachable to make this fatal)")
        print("=" * 100)
        return 2 if args.require_service else 0
    print(f"dependency audit ({result.service}): {len(result.audited)} dependencies audited, "
          f"{len(result.skipped)} skipped ({', '.join(sorted(result.skipped))})")  # fmt: skip
    for vuln, reason in sorted(allowlist.items()):
        print(f"  allowlisted {vuln}: {reason}")
    if result.findings:
        print("dependency audit FAILED: known vulnerabilities (fix, or allowlist with a reason):")
        for finding in result.findings:
            print(f"  {finding}")
        return 1
    print("dependency audit: no known vulnerabilities")
    return 0


if __name__ == "__main__":
    sys.exit(main())

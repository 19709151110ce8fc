"""The dependency audit's allowlist (security/audit.py, run by `make test`): every exception carries its reason."""

from __future__ import annotations

import pytest

from security.audit import DEFAULT_ALLOWLIST, AllowlistError, read_allowlist


def test_the_shipped_allowlist_parses():
    assert isinstance(read_allowlist(DEFAULT_ALLOWLIST), dict)


def test_an_exception_needs_its_reason(tmp_path):
    path = tmp_path / "allow.txt"
    path.write_text("# comment\n\n--ignore-vuln PYSEC-2024-1  # only the CLI uses it, never on input we get\n")
    assert read_allowlist(path) == {"PYSEC-2024-1": "only the CLI uses it, never on input we get"}
    path.write_text("--ignore-vuln GHSA-xxxx-yyyy-zzzz\n")
    with pytest.raises(AllowlistError, match=r"allow.txt:1: expected '--ignore-vuln ID  # why"):
        read_allowlist(path)

"""Fixtures of the dbt tests; the helpers live in tests/dbt/harness.py."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def project_manifest() -> Path:
    """The project's manifest, re-parsed (``python -m orchestration.dbt``) when a project file is newer."""
    from assets.dbt_project import dbt_project, prepare_manifest

    manifest = dbt_project.manifest_path
    sources = [
        p
        for p in dbt_project.project_dir.rglob("*")
        if p.suffix in (".sql", ".yml") and "target" not in p.relative_to(dbt_project.project_dir).parts
    ]
    if not manifest.exists() or manifest.stat().st_mtime < max(p.stat().st_mtime for p in sources):
        prepare_manifest()
    return manifest

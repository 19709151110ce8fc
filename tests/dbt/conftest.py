"""Fixtures of the dbt tests; the helpers live in tests/dbt/harness.py."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def project_manifest() -> Path:
    """The project's manifest, re-parsed (``python -m orchestration.dbt``) when a project file is newer."""
    from assets.dbt_project import dbt_project, manifest_is_current, prepare_manifest

    if not manifest_is_current():
        prepare_manifest()
    return dbt_project.manifest_path

"""The dbt project as Dagster sees it: DbtProject, the translator, the ``dbt`` resource.

The manifest is prepared ahead of loading (``python -m orchestration.dbt``, a ``dbt parse`` into
dbt_project/target/), never parsed at import; under ``dagster dev`` it is parsed again on load when a project
file is newer than it (:func:`manifest_is_current`).

dbt reads the warehouse path from WAREHOUSE_PATH (dbt_project/profiles.yml). :func:`warehouse_path_env` sets it
for one dbt invocation to the file of the Dagster ``warehouse`` resource, so both always use the same file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dagster import AssetKey
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject

from assets import groups
from safeguard.catalog import DBT_PROJECT_DIR
from safeguard.config import settings

FEATURES_GROUP = groups.FEATURES
FEATURES_OWNERS = ["team:safeguards"]

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


@contextmanager
def warehouse_path_env(path: str) -> Iterator[None]:
    """WAREHOUSE_PATH = ``path`` while the block runs (dbt subprocesses started in it inherit it), then restored."""
    previous = os.environ.get("WAREHOUSE_PATH")
    os.environ["WAREHOUSE_PATH"] = str(path)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("WAREHOUSE_PATH", None)
        else:
            os.environ["WAREHOUSE_PATH"] = previous


def _configured_warehouse_path() -> str:
    return os.environ.get("WAREHOUSE_PATH") or settings().warehouse_path


def prepare_manifest() -> None:
    """Parse the dbt project into dbt_project/target/manifest.json (the build step before loading the code)."""
    with warehouse_path_env(_configured_warehouse_path()):
        dbt_project.preparer.prepare(dbt_project)


# What a parse reads: everything in the project folder but dbt's own outputs and installed packages.
_PARSE_OUTPUTS = {"target", "logs", "dbt_packages"}
_PARSE_INPUTS = {".sql", ".yml", ".yaml", ".csv", ".md", ".py"}


def manifest_is_current(project_dir: Path | None = None, manifest: Path | None = None) -> bool:
    """True when the manifest (this project's by default) exists and is newer than every file a parse reads in
    ``project_dir``: models, macros, tests, seeds, their YAML and docs, dbt_project.yml and profiles.yml."""
    project_dir = project_dir or dbt_project.project_dir
    manifest = manifest or dbt_project.manifest_path
    if not manifest.exists():
        return False
    built = manifest.stat().st_mtime
    return all(
        path.stat().st_mtime <= built
        for path in project_dir.rglob("*")
        if path.suffix in _PARSE_INPUTS and path.relative_to(project_dir).parts[0] not in _PARSE_OUTPUTS
    )


class SafeguardDbtTranslator(DagsterDbtTranslator):
    """dbt models become assets keyed by their model name (``fct_account_features``, not ``marts/...``), in
    group ``features``, owned by the safeguards team, described by their YAML, with every dbt data test as an
    asset check (blocking when its severity is error, dbt's default). Sources keep the keys their YAML meta
    gives (``raw_usage_events``, ...), so they link to the ingestion assets."""

    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "model":
            return AssetKey(dbt_resource_props["name"])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return FEATURES_GROUP

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return FEATURES_OWNERS

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        return dbt_resource_props.get("description") or dbt_resource_props["name"]


def dbt_executable() -> str:
    """The dbt installed beside this Python (the project's venv), so runs work without an activated venv;
    else whatever ``dbt`` is on PATH."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else "dbt"


def dbt_resource() -> DbtCliResource:
    """The ``dbt`` resource: runs the dbt CLI on this project (profile inside dbt_project/)."""
    return DbtCliResource(
        project_dir=dbt_project, dbt_executable=dbt_executable(), global_config_flags=["--no-use-colors"]
    )


# Under `dagster dev` every process that loads the code (the code server, each run's worker) would parse the
# project again (about 8 s each): only a project edited since the last parse is parsed again. Elsewhere nothing is
# parsed or checked at import.
if dbt_project.preparer.using_dagster_dev() and not manifest_is_current():
    prepare_manifest()

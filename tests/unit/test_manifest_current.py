"""The manifest is parsed again under ``dagster dev`` only when a file the parse reads is newer than it."""

from __future__ import annotations

import os

from assets.dbt_project import manifest_is_current


def _project(tmp_path):
    project = tmp_path / "dbt_project"
    for rel in ("dbt_project.yml", "models/marts/fct.sql", "models/marts/fct.yml", "macros/window.sql"):
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text("-- a project file\n")
    manifest = project / "target" / "manifest.json"
    manifest.parent.mkdir()
    return project, manifest


def _age(path, seconds_ago):
    stamp = path.stat().st_mtime - seconds_ago
    os.utime(path, (stamp, stamp))


def test_a_manifest_newer_than_every_project_file_is_current(tmp_path):
    project, manifest = _project(tmp_path)
    assert not manifest_is_current(project, manifest)  # none yet
    manifest.write_text("{}")
    for path in project.rglob("*.*"):
        if path != manifest:
            _age(path, 60)
    assert manifest_is_current(project, manifest)

    # dbt's own outputs and logs never make it stale ...
    (project / "target" / "run_results.json").write_text("{}")
    (project / "logs").mkdir()
    (project / "logs" / "dbt.log").write_text("")
    _age(manifest, 30)
    assert manifest_is_current(project, manifest)

    # ... an edited model, macro or YAML file does
    for rel in ("models/marts/fct.sql", "macros/window.sql", "models/marts/fct.yml", "dbt_project.yml"):
        (project / rel).write_text("-- edited\n")
        assert not manifest_is_current(project, manifest), rel
        _age(project / rel, 60)
    assert manifest_is_current(project, manifest)

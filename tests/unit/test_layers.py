"""The arrows of the house point one way (docs/architecture.md): read from the source, so a new import that turns
one around fails here rather than in a reviewer's head."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imports(package: str) -> dict[str, set[str]]:
    """Module path -> the top-level-qualified names it imports (at any depth: lazy imports count too)."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def _offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{module} imports {name}"
        for module, names in _imports(package).items()
        for name in sorted(names)
        if name.split(".")[0] in forbidden or any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("safeguard", ("dagster", "dagster_dbt", "dagster_duckdb", "dagster_aws", "orchestration", "assets")),
        ("safeguard/serving", ("safeguard.rollout",)),  # the rollout reads serving's schema, never the reverse
        # the rollout keeps its state in the state store; what downstream teams read is publishing's
        (
            "safeguard/rollout",
            ("safeguard.serving.risk_tables", "safeguard.serving.publish", "safeguard.serving.schema"),
        ),
        ("assets", ("orchestration",)),  # orchestration composes the assets into the code location, never the reverse
    ],
)
def test_imports_point_one_way(package, forbidden):
    assert _offenders(package, forbidden) == []


def test_the_vocabulary_imports_nothing_of_the_project():
    (names,) = [n for m, n in _imports("safeguard").items() if m.endswith("safeguard/vocabulary.py")]
    assert not {n for n in names if n.split(".")[0] in ("safeguard", "orchestration", "assets")}


def test_the_serving_database_is_opened_and_migrated_in_one_place():
    """safeguard.stores is the one wiring point: no asset, sensor, runner or CLI migrates the database itself."""
    callers = []
    for package in ("safeguard", "assets", "orchestration"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and getattr(node.func, "id", getattr(node.func, "attr", None)) == "upgrade"
                ):
                    callers.append(str(path.relative_to(ROOT)))
    assert sorted(set(callers)) == ["safeguard/serving/db.py", "safeguard/stores.py"]

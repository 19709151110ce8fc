"""The feature catalog: one source of truth for training, reason texts and docs (design §3.2).

Each feature of the marts carries, in its dbt YAML ``meta``, a description, a plain-language reason text for
analysts and its expected direction; this module reads it from the dbt manifest. A feature that counts links to
suspended or banned accounts also says which link it counts (``names_linked``), so its reason can name the
enforced account (:mod:`safeguard.linked_reasons`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
# Where `python -m orchestration.dbt` (dbt parse) writes the manifest the code location loads.
MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"
FEATURES_MODEL = "fct_account_features"
_DIRECTIONS = (1, -1, None)
# How a feature's linked enforced accounts are linked (intermediate.int_account_enforced_links.link), or "any".
LINK_KINDS = ("payment", "signup_ip", "device", "org", "template")
ANY_LINK = "any"


class CatalogError(ValueError):
    """The manifest cannot give a feature catalog; the message names the file and the column."""


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    description: str
    reason: str  # plain words for an analyst, e.g. "Many requests flagged as cyber misuse in the last 7 days"
    direction: int | None  # +1: higher is riskier; -1: lower is riskier; None: no monotone constraint
    names_linked: str | None = None  # a LINK_KINDS kind or ANY_LINK: its reason names the linked enforced account


def _features_node(manifest: dict, path: Path) -> dict:
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") == "model" and node.get("name") == FEATURES_MODEL:
            return node
    raise CatalogError(f"{path}: no model {FEATURES_MODEL!r} in the dbt manifest")


def _spec(column: dict, path: Path) -> FeatureSpec | None:
    """The column's FeatureSpec, or None for a column without ``meta.feature`` (keys such as account_id)."""
    meta = (column.get("config") or {}).get("meta") or column.get("meta") or {}
    feature = meta.get("feature")
    if feature is None:
        return None
    where = f"{path}: {FEATURES_MODEL}.{column['name']}"
    reason, direction = feature.get("reason"), feature.get("direction")
    if not reason or not column.get("description"):
        raise CatalogError(f"{where}: a feature needs a description and meta.feature.reason")
    if direction not in _DIRECTIONS:
        raise CatalogError(f"{where}: meta.feature.direction must be 1, -1 or null, got {direction!r}")
    names_linked = feature.get("names_linked")
    if names_linked not in (*LINK_KINDS, ANY_LINK, None):
        raise CatalogError(
            f"{where}: meta.feature.names_linked must be one of {(*LINK_KINDS, ANY_LINK)} or "
            f"absent, got {names_linked!r}"
        )
    return FeatureSpec(column["name"], column["description"], reason, direction, names_linked)


def load_catalog(manifest_path: str | Path = MANIFEST_PATH) -> list[FeatureSpec]:
    """The features of fct_account_features, in the model's column order."""
    path = Path(manifest_path)
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise CatalogError(f"no dbt manifest at {path}: prepare it with `python -m orchestration.dbt`") from None
    node = _features_node(manifest, path)
    specs = [spec for column in node.get("columns", {}).values() if (spec := _spec(column, path))]
    if not specs:
        raise CatalogError(f"{path}: {FEATURES_MODEL} has no column with meta.feature")
    return specs


def project_var(name: str):
    """A var of ``dbt_project.yml`` (its default, not a run's override): one value for the SQL and for Python
    that must agree with it, e.g. ``link_max_accounts_per_value`` for the review queue's rings."""
    import yaml

    variables = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text()).get("vars") or {}
    if name not in variables:
        raise CatalogError(f"{DBT_PROJECT_DIR / 'dbt_project.yml'}: no var {name!r}")
    return variables[name]


def feature_columns(manifest_path: str | Path = MANIFEST_PATH) -> list[str]:
    """The feature column names, in order: the model's input columns."""
    return [spec.name for spec in load_catalog(manifest_path)]

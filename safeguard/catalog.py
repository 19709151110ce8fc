"""The feature catalog: one source of truth for training, reason texts and docs (design §3.2).

Each feature of the marts carries, in its dbt YAML ``meta``, a description, a plain-language reason text for
analysts and its expected direction; this module reads it from the dbt manifest.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    description: str
    reason: str  # plain words for an analyst, e.g. "Many requests flagged as cyber misuse in the last 7 days"
    direction: int | None  # +1: higher is riskier; -1: lower is riskier; None: no monotone constraint

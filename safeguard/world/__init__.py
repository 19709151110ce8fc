"""The synthetic world: a population of benign and abusive accounts producing landing-zone data (design §3.1).

One producer of the landing contract among possible others; its ground truth is written apart, for evaluation.
"""

from safeguard.world.generate import (
    ROBUST_TRUTH_SCHEMA,
    TRUTH_SCHEMA,
    WorldArgumentError,
    WorldSummary,
    generate_world,
)
from safeguard.world.params import PRESETS, ROBUSTNESS_PRESETS, WorldParams, WorldParamsError, preset
from safeguard.world.populations import ARCHETYPES, DEFAULT_ARCHETYPES

__all__ = [
    "ARCHETYPES",
    "DEFAULT_ARCHETYPES",
    "PRESETS",
    "ROBUSTNESS_PRESETS",
    "ROBUST_TRUTH_SCHEMA",
    "TRUTH_SCHEMA",
    "WorldArgumentError",
    "WorldParams",
    "WorldParamsError",
    "WorldSummary",
    "generate_world",
    "preset",
]

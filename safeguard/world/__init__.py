"""The synthetic world: a population of benign and abusive accounts producing landing-zone data (design §3.1).

One producer of the landing contract among possible others; its ground truth is written apart, for evaluation.
"""

from safeguard.world.generate import TRUTH_SCHEMA, WorldArgumentError, WorldSummary, generate_world
from safeguard.world.populations import ARCHETYPES

__all__ = ["ARCHETYPES", "TRUTH_SCHEMA", "WorldArgumentError", "WorldSummary", "generate_world"]

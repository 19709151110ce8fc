"""The shared vocabulary: the names and values several rooms of the house use, written once (issue 21).

Tier names, model roles and statuses, rollout arms, statuses and decisions, the label horizon: the scorer, the
registry, the rollout, the serving schema (its CHECK constraints included), the assets and the dbt vars import
them from here, so a change to one of them cannot miss a place. Only values shared across modules live here; a
term one module owns stays with it. This module imports nothing of the project.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

# --- Risk tiers (safeguard.tiers chooses their thresholds) -----------------------------------------------------
TIERS = ("low", "elevated", "high", "critical")
ALERT_TIERS = TIERS[1:]  # every tier above low has a threshold and raises an alert
# The precision each alert tier aims for on validation (design §3.3).
DEFAULT_TARGET_PRECISIONS = {"elevated": 0.30, "high": 0.60, "critical": 0.85}

# --- Labels -----------------------------------------------------------------------------------------------------
# H: an example of day D is positive when a suspend or ban starts in (D, D + H] and holds; dbt gets it as the var
# label_horizon_days (safeguard.dbt_vars), training and the time split as their default.
LABEL_HORIZON_DAYS = 14

# --- Models -----------------------------------------------------------------------------------------------------
CHAMPION, CANDIDATE, SHADOW = "champion", "candidate", "shadow"
RETIRED, REJECTED = "retired", "rejected"
MODEL_ROLES = (CHAMPION, CANDIDATE)  # who scored a row of scoring.account_risk_scores
MODEL_STATUSES = (CANDIDATE, CHAMPION, RETIRED, REJECTED)  # model_versions.status
# A trained LightGBM model, or the transparent rules score serving as cold-start champion (safeguard.rules_model).
TRAINED_KIND, RULES_KIND = "lightgbm", "rules"
MODEL_KINDS = (TRAINED_KIND, RULES_KIND)  # model_versions.kind

# --- Rollouts ---------------------------------------------------------------------------------------------------
ARMS = (CHAMPION, CANDIDATE, SHADOW)  # who served an account's score on a day (scoring.served_risk_scores.arm)
ACTIVE, PAUSED, COMPLETED, ROLLED_BACK, ABORTED = "active", "paused", "completed", "rolled_back", "aborted"
ROLLOUT_STATUSES = (ACTIVE, PAUSED, COMPLETED, ROLLED_BACK, ABORTED)  # rollouts.status
ROLLOUT_DECISIONS = ("start", "advance", "hold", "rollback", "promote", "pause", "resume", "abort")  # rollout_events


# The warehouse table of the scores each account was served (its columns: safeguard.rollout.served). Named here
# because publishing reads it and the serving package does not import the rollout, which imports serving's schema.
SERVED_TABLE = "scoring.served_risk_scores"


def sql_in(column: str, values: Iterable[str]) -> str:
    """A CHECK constraint's condition that ``column`` is one of ``values``: ``status IN ('a', 'b')``."""
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


def utcnow() -> datetime:
    """Now as naive UTC, the convention of the warehouse and the serving database."""
    return datetime.now(UTC).replace(tzinfo=None)

"""The staged rollout of a candidate model against the champion, Dagster-free (design §3.4).

- ``bucketing``: sticky, monotone account buckets (the Unleash gradual-rollout hash) and the candidate arm;
- ``plan``: the stages and the rules for moving between them, stored as JSON with the rollout;
- ``guardrails``: candidate vs champion metrics on the same accounts;
- ``policy``: the automatic decision, the manual actions, and the stage in effect for a score day.

On top of that pure core (imported by module, not re-exported here, as they pull in the database layers):
- ``state``: rollouts and their audit log in the serving database; the rollout and stage serving a day;
- ``served``: ``scoring.served_risk_scores``, the score each account is served each day;
- ``evaluation``: the daily guardrails on the candidate arm and the automatic decision;
- ``controls``: start / promote / pause / resume / abort / status for the command line and the Dagster jobs.
"""

from safeguard.rollout.bucketing import bucket, buckets, in_candidate_arm
from safeguard.rollout.guardrails import (
    GuardrailConfig,
    GuardrailMetric,
    GuardrailReport,
    evaluate_guardrails,
)
from safeguard.rollout.plan import (
    ABORTED,
    COMPLETED,
    DEFAULT_STAGES,
    NOT_STARTED,
    ROLLED_BACK,
    SHADOW,
    RolloutPlan,
    Stage,
)
from safeguard.rollout.policy import (
    Decision,
    RolloutEvent,
    abort,
    decide,
    pause,
    promote,
    resume,
    stage_in_effect,
    start,
)

__all__ = [
    "ABORTED",
    "COMPLETED",
    "DEFAULT_STAGES",
    "NOT_STARTED",
    "ROLLED_BACK",
    "SHADOW",
    "Decision",
    "GuardrailConfig",
    "GuardrailMetric",
    "GuardrailReport",
    "RolloutEvent",
    "RolloutPlan",
    "Stage",
    "abort",
    "bucket",
    "buckets",
    "decide",
    "evaluate_guardrails",
    "in_candidate_arm",
    "pause",
    "promote",
    "resume",
    "stage_in_effect",
    "start",
]

"""The rollout's stage by score date, as Markdown for the UI (the ``rollout_evaluation`` asset's timeline)."""

from __future__ import annotations

from datetime import date, timedelta

from safeguard.rollout.state import RolloutStore


def timeline_markdown(store: RolloutStore, rollout_id: str, through: str) -> str:
    """The rollout's stage by score date, one row per stage, up to score day ``through``."""
    rollout = store.get(rollout_id)
    changes = store.timeline(rollout_id, through)
    rows = []
    for (first, stage), following in zip(changes, [*changes[1:], None]):
        last = through if following is None else (date.fromisoformat(following[0]) - timedelta(days=1)).isoformat()
        rows.append(f"| {first} | {last} | {stage} | {rollout.plan.stage(stage).percent}% |")
    header = f"Rollout `{rollout_id}`: candidate `{rollout.candidate_version}` vs champion `{rollout.champion_version}`"
    return "\n".join(
        [
            header,
            "",
            "| first score day | last score day | stage | candidate share |",
            "|---|---|---|---|",
            *rows,
        ]
    )

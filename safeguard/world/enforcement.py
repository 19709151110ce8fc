"""Enforcement: the noisy, late labels a detector learns from.

Abuse is caught days to weeks after it starts (3-30 days), some abusers are never caught, coordinated rings are
often actioned together, some benign accounts (security researchers above all) are wrongly suspended or banned and
later reinstated, and warnings go to both. Every account gets at most one warn, one block (suspend or ban) and one
reinstatement, planned once for the whole window; a block stops the account's events until its reinstatement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from safeguard.contract import ENFORCEMENT, ENFORCEMENT_ACTIONS, ENFORCEMENT_SOURCES
from safeguard.world.accounts import DAY, HOUR, NEVER, AccountIds, Population
from safeguard.world.ids import hex_strings, mix64, vocab_strings
from safeguard.world.params import DEFAULT, WorldParams
from safeguard.world.populations import IS_ABUSER, PROFILES, RING, TAKEOVER, categorical

# Free-text categories an enforcement team writes: policy categories and other reasons.
CATEGORIES = (
    "fraud_scams",
    "deception",
    "harassment",
    "sexual",
    "cyber",
    "cbrn",
    "weapons",
    "violent_extremism",
    "coordinated_inauthentic_behavior",
    "account_takeover",
    "model_distillation",
)
_CAT = {c: i for i, c in enumerate(CATEGORIES)}
WARN, SUSPEND, BAN, REINSTATE = (ENFORCEMENT_ACTIONS.index(a) for a in ("warn", "suspend", "ban", "reinstate"))
ANALYST, AUTOMATED, USER_REPORT = (ENFORCEMENT_SOURCES.index(s) for s in ("analyst", "automated", "user_report"))


def _per_profile(default: float, **values: float) -> np.ndarray:
    return np.array([values.get(p.name, default) for p in PROFILES])


# Chance that an abuser is ever caught (a ring member: that the ring is caught and the member with it).
P_CAUGHT = _per_profile(
    0.0,
    templated_spam=0.75,
    jailbreak_probing=0.6,
    coordinated_ring=0.75,
    account_takeover=0.65,
    distillation_scraping=0.5,
    behaviour_change=0.5,
    evasive_abuse=0.4,
)
P_BAN = _per_profile(
    0.4,
    templated_spam=0.75,
    jailbreak_probing=0.6,
    coordinated_ring=0.85,
    account_takeover=0.4,
    distillation_scraping=0.7,
    behaviour_change=0.5,
    evasive_abuse=0.6,
)  # else suspend
P_APPEAL_WON = _per_profile(
    0.85,
    templated_spam=0.15,
    jailbreak_probing=0.15,
    coordinated_ring=0.1,
    account_takeover=0.6,
    distillation_scraping=0.15,
    behaviour_change=0.3,
    evasive_abuse=0.15,
)  # a suspension is reinstated
P_FALSE_BLOCK = _per_profile(
    0.0, hobbyist=0.002, startup=0.002, enterprise=0.001, security_researcher=0.04, batch_api=0.004
)
P_WARN = _per_profile(0.3, hobbyist=0.01, startup=0.01, enterprise=0.01, security_researcher=0.1, batch_api=0.01)
# Category each abuse archetype is enforced under: a cdf over CATEGORIES per profile (benign: mistaken reasons).
_CATEGORY_PMF = {
    "templated_spam": {"fraud_scams": 0.8, "deception": 0.2},
    "jailbreak_probing": {"cbrn": 0.25, "weapons": 0.25, "cyber": 0.25, "violent_extremism": 0.15, "sexual": 0.1},
    "coordinated_ring": {"fraud_scams": 0.5, "coordinated_inauthentic_behavior": 0.5},
    "account_takeover": {"account_takeover": 1.0},
    "distillation_scraping": {"model_distillation": 1.0},
    "security_researcher": {"cyber": 0.9, "weapons": 0.1},
    "behaviour_change": {"cyber": 0.3, "weapons": 0.25, "cbrn": 0.15, "violent_extremism": 0.15, "fraud_scams": 0.15},
    "evasive_abuse": {"cyber": 0.35, "weapons": 0.2, "cbrn": 0.1, "fraud_scams": 0.25, "deception": 0.1},
}
_BENIGN_REASONS = {"fraud_scams": 0.3, "harassment": 0.2, "deception": 0.2, "sexual": 0.15, "cyber": 0.15}
CATEGORY_CDF = np.cumsum(
    [[_CATEGORY_PMF.get(p.name, _BENIGN_REASONS).get(c, 0.0) for c in CATEGORIES] for p in PROFILES], axis=1
)[:, :-1]
SOURCE_CDF = np.cumsum([[0.35, 0.5, 0.15], [0.1, 0.7, 0.2]], axis=1)[:, :-1]  # abuse, mistaken (analyst, ...)


@dataclass
class EnforcementPlan:
    """At most one warn, block and reinstatement per account (times: int64 epoch seconds, NEVER = none)."""

    warn_at: np.ndarray
    block_at: np.ndarray
    block_action: np.ndarray  # SUSPEND or BAN
    reinstate_at: np.ndarray
    category: np.ndarray  # into CATEGORIES
    warn_source: np.ndarray
    block_source: np.ndarray

    def blocked(self, account: np.ndarray, ts_seconds: np.ndarray) -> np.ndarray:
        """Whether each (account, time) falls inside the account's block: such events never happen."""
        return (ts_seconds >= self.block_at[account]) & (ts_seconds < self.reinstate_at[account])


def _log_uniform_seconds(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return np.exp(np.log(lo) + (np.log(hi) - np.log(lo)) * rng.random(n)).astype(np.int64)


def plan_enforcement(
    pop: Population, start: int, days: int, rng: np.random.Generator, params: WorldParams = DEFAULT
) -> EnforcementPlan:
    """Plan every enforcement action of the window; sets ``pop.abuse_end`` for takeovers whose owner recovers.

    ``params`` scale the chance of being caught and set the range of detection delays (robustness worlds)."""
    n, end = pop.size, start + days * DAY
    arch = pop.archetype.astype(np.int64)
    abuser = IS_ABUSER[arch]
    in_ring = arch == RING
    p_caught = P_CAUGHT if params.is_default else np.minimum(P_CAUGHT * params.catch_rate_factor, 0.98)
    delay_lo, delay_hi = (d * DAY for d in params.detection_delay_days)

    # Abusers: caught some days to weeks after abuse starts; those abusing since before the window are caught
    # in its first days at the earliest (nothing before the window is recorded).
    caught = abuser & (rng.random(n) < p_caught[arch])
    detect = pop.abuse_start + _log_uniform_seconds(rng, delay_lo, delay_hi, n)
    backlog = start + (rng.random(n) * 3 * DAY).astype(np.int64)
    detect = np.where(abuser & (detect < start), backlog, detect)
    if in_ring.any():  # a ring is caught as a whole, within hours, from its first member's abuse
        n_rings = int(pop.ring.max()) + 1
        ring_caught = rng.random(n_rings) < p_caught[RING]
        first_abuse = np.full(n_rings, NEVER)
        np.minimum.at(first_abuse, pop.ring[in_ring], pop.abuse_start[in_ring])
        ring_detect = np.maximum(first_abuse + _log_uniform_seconds(rng, delay_lo, delay_hi, n_rings), start)
        member = np.flatnonzero(in_ring)
        caught[member] = ring_caught[pop.ring[member]] & (rng.random(member.size) < 0.9)
        detect[member] = np.maximum(ring_detect[pop.ring[member]], pop.created_at[member] + DAY) + (
            rng.random(member.size) * 6 * HOUR
        ).astype(np.int64)

    # Benign accounts: a few mistaken blocks, nearly all reinstated on appeal.
    lo = np.maximum(pop.created_at, start)
    anytime = lo + (rng.random(n) * np.maximum(end - lo, 1)).astype(np.int64)
    mistaken = ~abuser & (rng.random(n) < P_FALSE_BLOCK[arch])
    block_at = np.select([caught, mistaken], [detect, anytime], NEVER)
    block_action = np.where(rng.random(n) < P_BAN[arch], BAN, SUSPEND)
    appeal = (block_at < NEVER) & ((block_action == SUSPEND) | mistaken) & (rng.random(n) < P_APPEAL_WON[arch])
    reinstate_at = np.where(appeal, block_at + _log_uniform_seconds(rng, DAY, 14 * DAY, n), NEVER)
    takeover_recovered = (arch == TAKEOVER) & appeal
    pop.abuse_end = np.where(takeover_recovered, reinstate_at, pop.abuse_end)

    # Warnings: before a block, or instead of one.
    warned = rng.random(n) < P_WARN[arch]
    warn_before = detect - (DAY + rng.random(n) * 4 * DAY).astype(np.int64)
    warn_at = np.where(caught, warn_before, np.where(abuser, detect, anytime))
    earliest = np.where(abuser, np.maximum(pop.abuse_start, start), lo)
    warn_at = np.where(warned & (warn_at >= earliest), warn_at, NEVER)

    source_row = np.where(abuser, 0, 1)
    return EnforcementPlan(
        warn_at=warn_at,
        block_at=block_at,
        block_action=block_action,
        reinstate_at=reinstate_at,
        category=categorical(rng, CATEGORY_CDF[arch]),
        warn_source=categorical(rng, SOURCE_CDF[source_row]),
        block_source=categorical(rng, SOURCE_CDF[source_row]),
    )


def enforcement_table(plan: EnforcementPlan, ids: AccountIds, day_start: int) -> pa.Table:
    """The ``enforcement_actions`` rows of one day, in time order."""
    day_end = day_start + DAY

    def today(ts: np.ndarray) -> np.ndarray:
        return np.flatnonzero((ts >= day_start) & (ts < day_end))

    warn, block, reinstate = today(plan.warn_at), today(plan.block_at), today(plan.reinstate_at)
    account = np.concatenate([warn, block, reinstate])
    slot = np.repeat(np.arange(3), [warn.size, block.size, reinstate.size])
    ts = np.concatenate([plan.warn_at[warn], plan.block_at[block], plan.reinstate_at[reinstate]])
    action = np.concatenate([np.full(warn.size, WARN), plan.block_action[block], np.full(reinstate.size, REINSTATE)])
    source = np.concatenate([plan.warn_source[warn], plan.block_source[block], np.full(reinstate.size, ANALYST)])
    order = np.lexsort((slot, account, ts))
    account, slot, ts, action, source = account[order], slot[order], ts[order], action[order], source[order]
    columns = {
        "action_id": hex_strings(
            mix64(account.astype(np.uint64) * np.uint64(4) + slot.astype(np.uint64), ids.salt), "act_"
        ),
        "account_id": ids.account(account),
        "action_ts": pa.array(ts * 1_000_000, type=ENFORCEMENT.arrow_schema.field("action_ts").type),
        "action": vocab_strings(ENFORCEMENT_ACTIONS, action),
        "category": vocab_strings(CATEGORIES, plan.category[account]),
        "source": vocab_strings(ENFORCEMENT_SOURCES, source),
    }
    return pa.Table.from_pydict(columns, schema=ENFORCEMENT.arrow_schema)


__all__ = ["CATEGORIES", "EnforcementPlan", "enforcement_table", "plan_enforcement"]

"""Robustness-world mechanics on top of the population (see :mod:`safeguard.world.params`).

Everything here runs only for non-default :class:`~safeguard.world.params.WorldParams`, and draws from a random
stream of its own, so the demo world's draws (and bytes) are those it had before these mechanics existed.

- :func:`mix_shares`: each archetype's share of accounts under the parameters;
- :func:`apply_robustness`: behaviour-change accounts (old, same network, then harmful use scored just under 0.5),
  the evasive twist, travellers and class or hackathon cohorts, written into the population's arrays.
"""

from __future__ import annotations

import numpy as np

from safeguard.world.params import WorldParams
from safeguard.world.populations import (
    ARCHETYPES,
    BEHAVIOUR_CHANGE,
    CODE,
    COUNTRY_CODES,
    COUNTRY_WEIGHTS,
    EVASIVE,
    HOBBYIST,
    IS_ABUSER,
    PROFILES,
    SHARES,
    STARTUP,
    categorical,
)

DAY, HOUR = 86_400, 3_600
NEVER = np.iinfo(np.int64).max
K_NET_TRAVEL, K_CLASS_IP, K_CLASS_TEMPLATES, K_NET_CLASS = 19, 20, 21, 22  # after accounts.py's tag kinds


def _tagged(kind: int, ids: np.ndarray) -> np.ndarray:
    return (np.int64(kind) << np.int64(48)) | np.asarray(ids, dtype=np.int64)


def mix_shares(params: WorldParams) -> np.ndarray:
    """Share of accounts of each archetype (sums to 1); the demo mix itself for default parameters."""
    if params.is_default:
        return SHARES
    base = SHARES.copy()
    base[[p.share == 0 for p in PROFILES]] = params.new_archetype_share
    for name, factor in params.share_factors.items():
        base[CODE[name]] *= factor
    if params.abuser_share is None:
        return base / base.sum()
    abusive, benign = base * IS_ABUSER, base * ~IS_ABUSER
    return abusive * (params.abuser_share / abusive.sum()) + benign * ((1 - params.abuser_share) / benign.sum())


def _groups(rng: np.random.Generator, count: int, lo: int, hi: int) -> np.ndarray:
    sizes = rng.integers(lo, hi + 1, size=max(1, count))
    return np.searchsorted(np.cumsum(sizes), np.arange(count), side="right")


def _other_country(rng: np.random.Generator, home: np.ndarray) -> np.ndarray:
    k = len(COUNTRY_CODES)
    c = categorical(rng, np.broadcast_to(np.cumsum(COUNTRY_WEIGHTS)[:-1], (home.size, k - 1)))
    return np.where(c == home, (c + 1) % k, c)


def apply_robustness(pop, params: WorldParams, start: int, days: int, rng: np.random.Generator) -> None:
    """Write the robustness mechanics into ``pop`` (a :class:`~safeguard.world.accounts.Population`, before it
    is put in creation order)."""
    n, end = pop.size, start + days * DAY
    arch = pop.archetype.astype(np.int64)
    idx = np.arange(n, dtype=np.int64)
    abuser = IS_ABUSER[arch]

    # --- behaviour change: an old account, benign for a long time, then harmful use from its own network -------
    bc = np.flatnonzero(arch == BEHAVIOUR_CHANGE)
    pop.cover[bc] = np.where(rng.random(bc.size) < 0.6, HOBBYIST, STARTUP)
    age = np.exp(np.log(120 * DAY) + (np.log(1100 * DAY) - np.log(120 * DAY)) * rng.random(bc.size))
    pop.created_at[bc] = start - age.astype(np.int64)
    # abuse begins after at least 30% of the window of benign habit, and a day before its end at the latest
    lo, hi = start + int(0.3 * days * DAY), start + max(int(0.9 * days * DAY), int(0.3 * days * DAY) + 1)
    pop.abuse_start[bc] = lo + (rng.random(bc.size) * (hi - lo)).astype(np.int64)
    pop.home_country[bc] = categorical(
        rng, np.broadcast_to(np.cumsum(COUNTRY_WEIGHTS)[:-1], (bc.size, len(COUNTRY_CODES) - 1))
    )
    pop.abuse_net[bc] = pop.cover_net[bc]
    pop.abuse_ips[bc] = pop.cover_ips[bc]
    pop.abuse_client[bc] = pop.cover_client[bc]
    pop.rate_abuse[bc] = pop.rate_cover[bc] * np.exp(0.3 + 0.5 * rng.standard_normal(bc.size))

    # --- evasion: flagged abusive content scored just under the classifier threshold -------------------------
    evasive = np.isin(arch, (BEHAVIOUR_CHANGE, EVASIVE)) | (abuser & (rng.random(n) < params.evasive_share))
    pop.evasive = evasive

    # --- volume ---------------------------------------------------------------------------------------------
    if params.volume_factor != 1.0:
        pop.rate_cover = pop.rate_cover * params.volume_factor
        pop.rate_abuse = pop.rate_abuse * params.volume_factor

    # --- classes and hackathons: benign cohorts created together, one signup IP, one org, shared templates ---
    hobbyists = np.flatnonzero((arch == HOBBYIST) & (pop.org < 0))
    n_class = min(hobbyists.size, int(round(params.class_share * n)))
    members = np.sort(rng.permutation(hobbyists)[:n_class])
    cohort = _groups(rng, members.size, *params.class_size)
    n_cohorts = int(cohort.max()) + 1 if members.size else 0
    burst = np.where(
        rng.random(n_cohorts) < 0.5,
        start - (DAY + rng.random(n_cohorts) * 60 * DAY).astype(np.int64),
        start + (rng.random(n_cohorts) * max(days - 1, 1) * DAY).astype(np.int64),
    )
    pop.created_at[members] = np.minimum(
        burst[cohort] + (rng.random(members.size) * 3 * HOUR).astype(np.int64), end - 1
    )
    first_org = int(pop.org.max(initial=-1)) + 1
    as_org = rng.random(n_cohorts) < 0.7
    pop.org[members] = np.where(as_org[cohort], first_org + cohort, -1)
    pop.signup_ip[members] = np.where(
        rng.random(members.size) < 0.85, _tagged(K_CLASS_IP, cohort), pop.signup_ip[members]
    )
    pop.cover_net[members] = np.where(
        rng.random(members.size) < 0.6, _tagged(K_NET_CLASS, cohort), pop.cover_net[members]
    )
    pop.cover_templates[members] = _tagged(K_CLASS_TEMPLATES, cohort)
    pop.cover_pool[members] = rng.integers(3, 16, size=max(n_cohorts, 1))[cohort]

    # an account change planned before a cohort member's (moved) signup is dropped: created_at <= updated_at
    moved = pop.change_at[members] < pop.created_at[members] + DAY
    pop.change_at[members[moved]] = NEVER

    # --- travellers: benign accounts on another country's network for a spell of days -----------------------
    live_from = np.maximum(pop.created_at, start)
    trip_days = rng.integers(params.travel_days[0], params.travel_days[1] + 1, size=n)
    room = np.maximum(end - live_from - trip_days * DAY, 0)
    travels = ~abuser & (rng.random(n) < params.traveller_share) & (live_from < end - DAY)
    trip_start = live_from + (rng.random(n) * room).astype(np.int64)
    pop.trip_start = np.where(travels, trip_start, NEVER)
    pop.trip_end = np.where(travels, trip_start + trip_days * DAY, NEVER)
    pop.trip_country = _other_country(rng, pop.home_country.astype(np.int64)).astype(np.int8)
    pop.trip_net = _tagged(K_NET_TRAVEL, idx)


def lookalike_kinds(pop) -> dict[str, np.ndarray]:
    """Which accounts are travellers or class members (by their arrays), for tests and summaries."""
    out = {}
    if pop.trip_start is not None:
        out["traveller"] = pop.trip_start < NEVER
    out["class_member"] = (pop.cover_templates >> np.int64(48)) == K_CLASS_TEMPLATES
    return out


__all__ = ["ARCHETYPES", "apply_robustness", "lookalike_kinds", "mix_shares"]

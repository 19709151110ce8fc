"""One day of API usage events for the whole population, generated as arrays (no loop over events).

Per day: which accounts are live (signed up, not blocked), which of them use the API, how many requests each
makes (Poisson around a per-account rate, heavy-tailed across accounts), when (local daytime, night, or round the
clock, by profile and home time zone), and what each request looks like. An abuser's requests follow its cover
behaviour before ``abuse_start`` and its archetype after, mixed by its ``intensity``; a takeover also switches
network, country, client and API key at ``abuse_start``. In robustness worlds, evasive abusers' flagged content
scores just under 0.5 and travellers use another country and network during their trip.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from safeguard.contract import POLICY_CATEGORIES, STOP_REASONS, USAGE_EVENTS
from safeguard.world.accounts import DAY, HOUR, AccountIds, Population
from safeguard.world.enforcement import EnforcementPlan
from safeguard.world.ids import hex_strings, mix64, vocab_strings
from safeguard.world.params import EVASIVE_HIGH, EVASIVE_LOW
from safeguard.world.populations import (
    CLIENTS,
    COUNTRY_CODES,
    COUNTRY_UTC_OFFSET_H,
    COUNTRY_WEIGHTS,
    EDGY_BETA,
    EDGY_CDF,
    HOUR_CDF,
    MAX_TOKENS_LIMITS,
    MODELS,
    NONE_CATEGORY,
    TAKEOVER,
    P,
    categorical,
)

UNIFORM_TIME = 2  # index of "uniform" in TIME_MODES
REFUSAL = STOP_REASONS.index("refusal")
MAX_TOKENS = STOP_REASONS.index("max_tokens")
P_UNCLASSIFIED = 0.03  # events the classifier did not score: null policy_category
P_UNKNOWN_COUNTRY = 0.005
P_OTHER_CLIENT = 0.15
_EVENT_ID_SALT = 0x5AFE_6A2D
_COUNTRY_CDF = np.cumsum(COUNTRY_WEIGHTS)[:-1]


def _daily_requests(pop: Population, plan: EnforcementPlan, day_start: int, rng: np.random.Generator):
    """Account and behaviour profile of each request of the day (not yet filtered by time)."""
    day_end, midday = day_start + DAY, day_start + DAY // 2
    fully_blocked = (plan.block_at <= day_start) & (plan.reinstate_at >= day_end)
    acct = np.flatnonzero((pop.created_at < day_end) & ~fully_blocked)
    abusive_day = (pop.abuse_start[acct] <= midday) & (midday < pop.abuse_end[acct])
    profile = np.where(abusive_day, pop.archetype[acct], pop.cover[acct]).astype(np.intp)
    weekend = datetime.fromtimestamp(day_start, tz=UTC).weekday() >= 5
    p_active = P.p_active[profile] * (P.weekend_factor[profile] if weekend else 1.0)
    active = rng.random(acct.size) < p_active
    acct, profile, abusive_day = acct[active], profile[active], abusive_day[active]
    rate = np.where(abusive_day, pop.rate_abuse[acct], pop.rate_cover[acct])
    counts = 1 + rng.poisson(rate * np.exp(0.3 * rng.standard_normal(acct.size)))
    return np.repeat(acct, counts), np.repeat(profile, counts)


def _seconds_of_day(pop: Population, account: np.ndarray, profile: np.ndarray, rng: np.random.Generator):
    """UTC second of the day: local daytime or night hours in the home time zone, or uniform."""
    n = account.size
    mode = categorical(rng, P.time_cdf[profile])
    u = rng.random(n)
    hour = np.where(
        mode == 0, np.searchsorted(HOUR_CDF[0], u, side="right"), np.searchsorted(HOUR_CDF[1], u, side="right")
    )
    local = np.minimum(hour, 23) * HOUR + rng.integers(0, HOUR, size=n)
    utc = (local - COUNTRY_UTC_OFFSET_H[pop.home_country[account]] * HOUR) % DAY
    return np.where(mode == UNIFORM_TIME, rng.integers(0, DAY, size=n), utc)


def _pool_pick(rng: np.random.Generator, size: np.ndarray, concentration: np.ndarray | float) -> np.ndarray:
    """Index into a pool of ``size`` items, skewed to the first ones when ``concentration`` > 1."""
    return np.minimum((size * rng.random(size.shape[0]) ** concentration).astype(np.int64), size - 1)


def events_table(
    pop: Population, plan: EnforcementPlan, ids: AccountIds, day_index: int, day_start: int, rng: np.random.Generator
) -> pa.Table:
    """The ``usage_events`` of one day, by account and in time order within each account."""
    account, day_profile = _daily_requests(pop, plan, day_start, rng)
    seconds = day_start + _seconds_of_day(pop, account, day_profile, rng)
    micros = rng.integers(0, 1_000_000, size=account.size)
    keep = (seconds >= pop.created_at[account]) & ~plan.blocked(account, seconds)
    a, seconds = account[keep], seconds[keep]
    ts = seconds * 1_000_000 + micros[keep]
    # Rows are grouped by account (already so) and in time order within it: account-clustered files compress
    # better and keep every per-account lookup below cache-friendly; 2**37 us > one day.
    order = np.argsort((a << 37) | (ts - day_start * 1_000_000), kind="stable")
    a, ts, seconds = a[order], ts[order], seconds[order]
    n = a.size

    abusive = (seconds >= pop.abuse_start[a]) & (seconds < pop.abuse_end[a])
    hijacked = abusive & (pop.archetype[a] == TAKEOVER)
    abusive_content = abusive & (rng.random(n) < pop.intensity[a])
    content = np.where(abusive_content, pop.archetype[a], pop.cover[a]).astype(np.intp)
    network_profile = np.where(abusive, pop.archetype[a], pop.cover[a]).astype(np.intp)

    # classifier, refusals, stop reasons and tokens
    category = categorical(rng, P.category_cdf[content])
    beta = P.flag_beta[content]
    edgy = rng.random(n) < pop.edginess[a]
    category = np.where(edgy, np.searchsorted(EDGY_CDF, rng.random(n), side="right"), category)
    beta = np.where(edgy[:, None], EDGY_BETA, beta)
    flagged = category != NONE_CATEGORY
    score = np.where(flagged, rng.beta(beta[:, 0], beta[:, 1]), rng.beta(1.0, 25.0, size=n))
    if pop.evasive is not None:  # robustness worlds: evasive abusive content scores just under the threshold
        evading = abusive_content & flagged & pop.evasive[a]
        score = np.where(evading, EVASIVE_LOW + (EVASIVE_HIGH - EVASIVE_LOW) * score, score)
    category = np.where(rng.random(n) < P_UNCLASSIFIED, -1, category)
    refusal = rng.random(n) < P.refusal_base[content] + P.refusal_per_score[content] * score * flagged
    stop = np.where(refusal, REFUSAL, categorical(rng, P.stop_cdf[content]))
    input_tokens = np.rint(P.input_median[content] * np.exp(0.8 * rng.standard_normal(n))).astype(np.int64)
    output_tokens = np.rint(P.output_median[content] * np.exp(0.7 * rng.standard_normal(n))).astype(np.int64)
    output_tokens = np.where(
        refusal, np.rint(60 * np.exp(0.4 * rng.standard_normal(n))).astype(np.int64), output_tokens
    )
    output_tokens = np.where(
        stop == MAX_TOKENS, MAX_TOKENS_LIMITS[rng.integers(0, MAX_TOKENS_LIMITS.size, n)], output_tokens
    )

    # where from: network, country, client, key
    travel = rng.random(n) < np.minimum(P.p_travel[network_profile] * pop.roaming[a], 0.8)
    country = np.where(hijacked, pop.attacker_country[a], pop.home_country[a]).astype(np.int64)
    country = np.where(travel, np.searchsorted(_COUNTRY_CDF, rng.random(n), side="right"), country)
    network = np.where(abusive, pop.abuse_net[a], pop.cover_net[a])
    if pop.trip_start is not None:  # robustness worlds: a traveller's events come from the trip's country and network
        on_trip = (seconds >= pop.trip_start[a]) & (seconds < pop.trip_end[a])
        country = np.where(on_trip, pop.trip_country[a], country)
        network = np.where(on_trip, pop.trip_net[a], network)
    country = np.where(rng.random(n) < P_UNKNOWN_COUNTRY, -1, country)
    ip = _pool_pick(rng, np.where(abusive, pop.abuse_ips[a], pop.cover_ips[a]), 2.0)
    client = np.where(abusive, pop.abuse_client[a], pop.cover_client[a]).astype(np.int64)
    other_client = rng.random(n) < np.where(hijacked, P_OTHER_CLIENT / 3, P_OTHER_CLIENT)
    client = np.where(other_client, categorical(rng, P.client_cdf[content]), client)
    key = np.where(hijacked, pop.n_keys[a], _pool_pick(rng, pop.n_keys[a], 2.0))  # the attacker mints a new key

    # prompt templates: per-account pools (shared within a ring), rotating for jailbreak probing
    template_pool = np.where(abusive_content, pop.abuse_pool[a], pop.cover_pool[a])
    template = _pool_pick(rng, template_pool, P.template_concentration[content])
    rotation = P.template_rotation_days[content]
    rotation_period = np.where(rotation > 0, day_index // np.maximum(rotation, 1), 0)
    template += rotation_period << 41  # pools hold < 2**41 templates: each period gets a fresh pool
    template_ns = np.where(abusive_content, pop.abuse_templates[a], pop.cover_templates[a])

    seq = np.arange(n, dtype=np.uint64) + (np.uint64(day_index) << np.uint64(36))
    columns = {
        "event_id": hex_strings(mix64(seq, ids.salt ^ _EVENT_ID_SALT), "evt_"),
        "account_id": ids.account(a),
        "org_id": ids.org(pop.org[a]),
        "api_key_id": hex_strings(mix64(a.astype(np.uint64) * np.uint64(64) + key.astype(np.uint64), ids.salt), "key_"),
        "event_ts": pa.array(ts, type=USAGE_EVENTS.arrow_schema.field("event_ts").type),
        "model": vocab_strings(MODELS, categorical(rng, P.model_cdf[content])),
        "input_tokens": pa.array(np.maximum(input_tokens, 1)),
        "output_tokens": pa.array(np.maximum(output_tokens, 1)),
        "ip_hash": ids.fingerprint_of(network, ip),
        "country": vocab_strings(COUNTRY_CODES, country),
        "client": vocab_strings(CLIENTS, client),
        "stop_reason": vocab_strings(STOP_REASONS, stop),
        "policy_category": vocab_strings(POLICY_CATEGORIES, category),
        "classifier_score": pa.array(score),
        "prompt_template_hash": ids.fingerprint_of(template_ns, template),
    }
    return pa.Table.from_pydict(columns, schema=USAGE_EVENTS.arrow_schema)

"""The account population: who exists, when they signed up, what they share, and when abuse begins.

All per-account state is a set of numpy arrays (one row per account, ids in creation order), built once from the
seed and kept for the whole run; the daily event generator reads it, nothing grows with the number of events.
Keys that end up as hash strings (IPs, devices, payment fingerprints, networks, templates) are tagged integers
``(kind << 48) | id`` so that sharing is explicit: two accounts share a payment fingerprint exactly when they hold
the same key.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pyarrow as pa

from safeguard.contract import ACCOUNTS, EMAIL_DOMAIN_KINDS, PLANS
from safeguard.world.ids import decimal_strings, hex_strings, mix64, vocab_strings
from safeguard.world.params import DEFAULT, WorldParams
from safeguard.world.populations import (
    ABUSER_COUNTRY_WEIGHTS,
    COUNTRY_CODES,
    COUNTRY_WEIGHTS,
    HOBBYIST,
    IS_ABUSER,
    RING,
    STARTUP,
    TAKEOVER,
    P,
    archetype_cdf,
    categorical,
    log_uniform_int,
)
from safeguard.world.robust import apply_robustness, mix_shares

DAY = 86_400
HOUR = 3_600
NEVER = np.iinfo(np.int64).max  # "no such time" in int64 second arrays

# Kinds of tagged keys (see module docstring).
(
    K_NET,
    K_NET_ORG,
    K_NET_RING,
    K_NET_PROXY,
    K_NET_ATTACKER,
    K_SIGNUP_IP,
    K_OFFICE_IP,
    K_RING_IP,
    K_DEVICE,
    K_RING_DEVICE,
    K_CARD,
    K_ORG_CARD,
    K_RING_CARD,
    K_NEW_CARD,
    K_ATTACKER_CARD,
    K_TEMPLATES,
    K_RING_TEMPLATES,
    K_ABUSE_TEMPLATES,
) = range(1, 19)

# Later account changes (an upsert row on the day they happen).
CHANGE_PLAN, CHANGE_PHONE, CHANGE_PAYMENT = 0, 1, 2
_PLAN_UPGRADE = np.array([PLANS.index(p) for p in ("pro", "team", "enterprise", "enterprise", "enterprise")])


def tagged(kind: int, ids: np.ndarray) -> np.ndarray:
    return (np.int64(kind) << np.int64(48)) | np.asarray(ids, dtype=np.int64)


@dataclass
class Population:
    """Per-account arrays (index = account number, in creation order); times are int64 UTC epoch seconds."""

    archetype: np.ndarray  # profile code of the truth label
    cover: np.ndarray  # profile code of behaviour outside abuse (the archetype itself for benign accounts)
    created_at: np.ndarray
    snapshot_at: np.ndarray  # updated_at of the first day's snapshot row (accounts created before the window)
    abuse_start: np.ndarray  # NEVER for benign accounts
    abuse_end: np.ndarray  # NEVER unless abuse stops (a takeover whose owner is reinstated)
    intensity: np.ndarray  # share of an abuser's events after abuse_start that carry abusive content
    edginess: np.ndarray  # share of a benign account's events on sensitive topics (flagged, but not abuse)
    roaming: np.ndarray  # factor on the profile's share of events from other countries (travel, VPN)
    home_country: np.ndarray
    attacker_country: np.ndarray
    signup_country_known: np.ndarray
    rate_cover: np.ndarray
    rate_abuse: np.ndarray
    org: np.ndarray  # -1: no org
    ring: np.ndarray  # -1: not in a ring
    plan: np.ndarray
    plan_after: np.ndarray
    email: np.ndarray
    phone: np.ndarray
    phone_after: np.ndarray
    card: np.ndarray  # payment fingerprint key; -1: none
    card_after: np.ndarray
    change_at: np.ndarray  # NEVER: no change inside the window
    signup_ip: np.ndarray
    device: np.ndarray  # -1: none
    cover_net: np.ndarray
    abuse_net: np.ndarray
    cover_ips: np.ndarray
    abuse_ips: np.ndarray
    n_keys: np.ndarray
    cover_client: np.ndarray
    abuse_client: np.ndarray
    cover_templates: np.ndarray
    abuse_templates: np.ndarray
    cover_pool: np.ndarray
    abuse_pool: np.ndarray
    # Robustness worlds only (None in the demo world): evasive abusers, and travellers' trips.
    evasive: np.ndarray | None = None  # abusive flagged content scores just under 0.5
    trip_start: np.ndarray | None = None  # NEVER: no trip
    trip_end: np.ndarray | None = None
    trip_country: np.ndarray | None = None
    trip_net: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(self.archetype.shape[0])

    def reorder(self, order: np.ndarray) -> None:
        for f in fields(self):
            if getattr(self, f.name) is not None:
                setattr(self, f.name, getattr(self, f.name)[order])


def _groups(rng: np.random.Generator, members: np.ndarray, size_lo: int, size_hi: int) -> np.ndarray:
    """Split ``members`` into consecutive groups of random size; returns each member's group number."""
    sizes = rng.integers(size_lo, size_hi + 1, size=max(1, members.size))
    return np.searchsorted(np.cumsum(sizes), np.arange(members.size), side="right")


def _choose(rng: np.random.Generator, p: np.ndarray | float, n: int) -> np.ndarray:
    return rng.random(n) < p


def build_population(
    n: int,
    start: int,
    days: int,
    rng: np.random.Generator,
    params: WorldParams = DEFAULT,
    robust_rng: np.random.Generator | None = None,
) -> Population:
    """Draw ``n`` accounts for a window of ``days`` days from epoch second ``start``.

    Non-default ``params`` (a robustness world) change the mix and ring sizes here, and then add their own
    mechanics (:func:`safeguard.world.robust.apply_robustness`) with draws from ``robust_rng`` only.
    """
    end = start + days * DAY
    shares = mix_shares(params)
    arch = categorical(rng, np.broadcast_to(archetype_cdf(shares), (n, shares.size - 1)))
    abuser = IS_ABUSER[arch]
    ring_member = arch == RING
    takeover = arch == TAKEOVER
    idx = np.arange(n, dtype=np.int64)

    # Takeover victims live a benign life before abuse; other abusers look like hobbyists until abuse starts.
    cover = np.where(abuser, HOBBYIST, arch)
    cover[takeover] = np.where(_choose(rng, 0.6, int(takeover.sum())), HOBBYIST, STARTUP)
    signup = np.where(takeover, cover, arch)  # the profile that filled in the signup form

    # --- signup time -------------------------------------------------------------------------------------------
    u = rng.random(n)
    age = np.exp(np.log(DAY) + (np.log(1100 * DAY) - np.log(DAY)) * u)  # benign: 1 day .. 3 years old
    age = np.where(abuser, np.exp(np.log(DAY) + (np.log(90 * DAY) - np.log(DAY)) * u), age)  # abusers: young
    age = np.where(takeover, np.exp(np.log(60 * DAY) + (np.log(1100 * DAY) - np.log(60 * DAY)) * u), age)
    in_window = rng.random(n) < np.where(abuser, 0.45, 0.12)
    in_window &= ~takeover
    created = np.where(in_window, start + (rng.random(n) * days * DAY).astype(np.int64), start - age.astype(np.int64))

    # --- rings: created in bursts by one operator, sharing cards, signup IPs and devices ----------------------
    ring = np.full(n, -1, dtype=np.int64)
    ring_idx = np.flatnonzero(ring_member)
    ring[ring_idx] = _groups(rng, ring_idx, *params.ring_size)
    n_rings = int(ring[ring_idx].max()) + 1 if ring_idx.size else 0
    burst = np.where(
        rng.random(n_rings) < 0.4,
        start - (DAY + rng.random(n_rings) * 60 * DAY).astype(np.int64),
        start + (rng.random(n_rings) * max(days - 2, 1) * DAY).astype(np.int64),
    )
    created[ring_idx] = burst[ring[ring_idx]] + (rng.random(ring_idx.size) * 4 * HOUR).astype(np.int64)
    created = np.minimum(created, end - 1)

    # --- abuse start -------------------------------------------------------------------------------------------
    from_creation = created + (rng.random(n) * 2 * HOUR).astype(np.int64)
    lo = np.maximum(created, start)
    sleeper = lo + (rng.random(n) * np.maximum(end - lo, 1)).astype(np.int64)
    abuse_start = np.where(rng.random(n) < 0.3, sleeper, from_creation)
    margin = min(2 * DAY, days * DAY // 4)
    abuse_start[takeover] = (
        start + margin + (rng.random(int(takeover.sum())) * (days * DAY - 2 * margin)).astype(np.int64)
    )
    abuse_start[ring_member] = created[ring_member] + (rng.random(ring_idx.size) * 6 * HOUR).astype(np.int64)
    abuse_start = np.where(abuser, abuse_start, NEVER)

    # --- organisations: colleagues share an org, an office IP, a company card and an egress network ---------------
    org = np.full(n, -1, dtype=np.int64)
    has_org = _choose(rng, P.p_org[signup], n) & ~ring_member
    next_org = 0
    for code in np.unique(signup[has_org]):
        members = np.flatnonzero(has_org & (signup == code))
        lo_size, hi_size = P.org_size[code]
        org[members] = next_org + _groups(rng, members, lo_size, hi_size)
        next_org = int(org[members].max()) + 1
    ring_orgs = rng.integers(2, 5, size=n_rings)  # one operator, several orgs per ring
    org[ring_idx] = (
        next_org + ring[ring_idx] * 4 + (rng.random(ring_idx.size) * ring_orgs[ring[ring_idx]]).astype(np.int64)
    )

    in_org = org >= 0
    has_card = _choose(rng, P.p_payment[signup], n)
    card = np.where(has_card, tagged(K_CARD, idx), -1)
    card = np.where(has_card & in_org & _choose(rng, 0.5, n), tagged(K_ORG_CARD, org), card)
    signup_ip = np.where(in_org & _choose(rng, 0.6, n), tagged(K_OFFICE_IP, org), tagged(K_SIGNUP_IP, idx))
    device = np.where(_choose(rng, P.p_device[signup], n), tagged(K_DEVICE, idx), -1)
    cover_net = np.where(in_org & _choose(rng, 0.8, n), tagged(K_NET_ORG, org), tagged(K_NET, idx))

    per_ring = rng.integers(1, 4, size=max(n_rings, 1))  # each ring holds 1..3 cards, signup IPs and devices
    shared = ring * 4 + (rng.random(n) * per_ring[np.maximum(ring, 0)]).astype(np.int64)
    card = np.where(ring_member & _choose(rng, 0.8, n), tagged(K_RING_CARD, shared), card)
    signup_ip = np.where(ring_member & _choose(rng, 0.7, n), tagged(K_RING_IP, shared), signup_ip)
    device = np.where(ring_member & _choose(rng, 0.6, n), tagged(K_RING_DEVICE, shared), device)

    abuse_net = np.select(
        [takeover, ring_member, abuser],
        [tagged(K_NET_ATTACKER, idx), tagged(K_NET_RING, ring), tagged(K_NET_PROXY, idx)],
        cover_net,
    )

    # --- countries ------------------------------------------------------------------------------------------------
    benign_home = categorical(rng, np.broadcast_to(np.cumsum(COUNTRY_WEIGHTS)[:-1], (n, len(COUNTRY_CODES) - 1)))
    abuser_cdf = np.cumsum(ABUSER_COUNTRY_WEIGHTS)[:-1]
    abuser_home = categorical(rng, np.broadcast_to(abuser_cdf, (n, len(COUNTRY_CODES) - 1)))
    home = np.where(abuser & ~takeover, abuser_home, benign_home)
    attacker = categorical(rng, np.broadcast_to(abuser_cdf, (n, len(COUNTRY_CODES) - 1)))
    attacker = np.where(attacker == home, (attacker + 1) % len(COUNTRY_CODES), attacker)

    # --- plan, verification and later changes -------------------------------------------------------------------
    plan = categorical(rng, P.plan_cdf[signup])
    phone = _choose(rng, P.p_phone_verified[signup], n)
    p_change = min(0.5, 0.08 * days / 30)
    change_lo = np.maximum(created, start) + DAY
    change_at = change_lo + (rng.random(n) * np.maximum(end - change_lo, 0)).astype(np.int64)
    change_at = np.where(_choose(rng, p_change, n) & (change_lo < end), change_at, NEVER)
    kind = rng.integers(0, 3, size=n)
    kind = np.where((kind == CHANGE_PLAN) & (_PLAN_UPGRADE[plan] == plan), CHANGE_PAYMENT, kind)
    kind = np.where((kind == CHANGE_PHONE) & phone, CHANGE_PAYMENT, kind)
    new_card = tagged(K_NEW_CARD, idx)
    # Half of the takeovers replace the card with one from the attackers' shared pool, right after taking over.
    attacker_change = takeover & _choose(rng, 0.5, n)
    attacker_cards = tagged(K_ATTACKER_CARD, rng.integers(0, max(1, int(takeover.sum()) // 5), size=n))
    change_at = np.where(attacker_change, abuse_start + (rng.random(n) * 12 * HOUR).astype(np.int64), change_at)
    kind = np.where(attacker_change, CHANGE_PAYMENT, kind)
    new_card = np.where(attacker_change, attacker_cards, new_card)
    plan_after = np.where(kind == CHANGE_PLAN, _PLAN_UPGRADE[plan], plan)
    phone_after = phone | (kind == CHANGE_PHONE)
    card_after = np.where(kind == CHANGE_PAYMENT, new_card, card)

    # --- usage habits ---------------------------------------------------------------------------------------------
    n_keys_profile = np.where(takeover, cover, arch)
    rate_cover = P.rate_median[cover] * np.exp(P.rate_sigma[cover] * rng.standard_normal(n))
    rate_abuse = P.rate_median[arch] * np.exp(P.rate_sigma[arch] * rng.standard_normal(n))
    ring_pool = log_uniform_int(rng, P.templates[np.full(max(n_rings, 1), RING)])
    abuse_pool = log_uniform_int(rng, P.templates[arch])
    abuse_pool[ring_idx] = ring_pool[ring[ring_idx]]

    pop = Population(
        archetype=arch.astype(np.int8),
        cover=cover.astype(np.int8),
        created_at=created,
        snapshot_at=start + (rng.random(n) * DAY).astype(np.int64),
        abuse_start=abuse_start,
        abuse_end=np.full(n, NEVER, dtype=np.int64),
        intensity=np.where(abuser, rng.beta(4.0, 2.0, size=n), 0.0),
        edginess=np.where(~abuser & _choose(rng, 0.1, n), rng.beta(2.0, 5.0, size=n), 0.0),
        roaming=np.exp(rng.standard_normal(n)),
        home_country=home.astype(np.int8),
        attacker_country=attacker.astype(np.int8),
        signup_country_known=_choose(rng, 0.97, n),
        rate_cover=rate_cover,
        rate_abuse=rate_abuse,
        org=org,
        ring=ring,
        plan=plan.astype(np.int8),
        plan_after=plan_after.astype(np.int8),
        email=categorical(rng, P.email_cdf[signup]).astype(np.int8),
        phone=phone,
        phone_after=phone_after,
        card=card,
        card_after=card_after,
        change_at=change_at,
        signup_ip=signup_ip,
        device=device,
        cover_net=cover_net,
        abuse_net=abuse_net,
        cover_ips=log_uniform_int(rng, P.n_ips[cover].astype(float)),
        abuse_ips=log_uniform_int(rng, P.n_ips[arch].astype(float)),
        n_keys=log_uniform_int(rng, P.n_keys[n_keys_profile].astype(float)),
        cover_client=categorical(rng, P.client_cdf[cover]).astype(np.int8),
        abuse_client=categorical(rng, P.client_cdf[arch]).astype(np.int8),
        cover_templates=tagged(K_TEMPLATES, idx),
        abuse_templates=np.where(ring_member, tagged(K_RING_TEMPLATES, ring), tagged(K_ABUSE_TEMPLATES, idx)),
        cover_pool=log_uniform_int(rng, P.templates[cover]),
        abuse_pool=abuse_pool,
    )
    if not params.is_default:
        if robust_rng is None:
            raise ValueError("a robustness world needs its own random stream (robust_rng)")
        apply_robustness(pop, params, start, days, robust_rng)
    pop.reorder(np.argsort(pop.created_at, kind="stable"))  # account numbers grow with signup time, as real ids do
    return pop


class AccountIds:
    """String ids and hash strings of accounts, orgs and fingerprints for one world (salted by its seed).

    Account and org id strings are formatted once for the whole population and looked up per row.
    """

    def __init__(self, pop: Population, seed: int):
        width = max(7, len(str(max(pop.size - 1, 0))))
        self.salt = int(mix64(np.array([seed], dtype=np.uint64))[0])
        self._accounts = decimal_strings(np.arange(pop.size), "acct_", width)
        org_width = max(width, len(str(max(int(pop.org.max(initial=0)), 0))))
        self._orgs = decimal_strings(np.arange(int(pop.org.max(initial=-1)) + 1), "org_", org_width)

    def account(self, index: np.ndarray) -> pa.Array:
        return self._accounts.take(pa.array(np.asarray(index, dtype=np.int64)))

    def org(self, org: np.ndarray) -> pa.Array:
        """Org id strings; -1 (no org) is null."""
        return self._orgs.take(pa.array(org, mask=org < 0))

    def fingerprint(self, key: np.ndarray) -> pa.Array:
        """Hex hash of a tagged key (IP, device, card, template); a negative key is null."""
        key = np.asarray(key)
        return hex_strings(mix64(key, self.salt), valid=None if key.min(initial=0) >= 0 else key >= 0)

    def fingerprint_of(self, key: np.ndarray, member: np.ndarray) -> pa.Array:
        """Hex hash of the ``member``-th item of a keyed pool (an IP of a network, a template of a pool)."""
        return hex_strings(mix64(mix64(key, self.salt) + np.asarray(member).astype(np.uint64)))


def accounts_table(pop: Population, ids: AccountIds, day_index: int, day_start: int) -> pa.Table:
    """The ``accounts`` upserts of one day: signups, the first day's snapshot, and changes that day."""
    day_end = day_start + DAY
    created_today = (pop.created_at >= day_start) & (pop.created_at < day_end)
    snapshot = pop.created_at < day_start if day_index == 0 else np.zeros(pop.size, dtype=bool)
    first = np.flatnonzero(created_today | snapshot)
    changed = np.flatnonzero((pop.change_at >= day_start) & (pop.change_at < day_end))

    rows = np.concatenate([first, changed])
    after = np.concatenate([np.zeros(first.size, bool), np.ones(changed.size, bool)])
    updated = np.concatenate(
        [np.where(snapshot[first], pop.snapshot_at[first], pop.created_at[first]), pop.change_at[changed]]
    )
    order = np.lexsort((rows, updated))
    rows, after, updated = rows[order], after[order], updated[order]

    columns = {
        "account_id": ids.account(rows),
        "org_id": ids.org(pop.org[rows]),
        "created_at": pa.array(pop.created_at[rows] * 1_000_000, type=ACCOUNTS.arrow_schema.field("created_at").type),
        "plan": vocab_strings(PLANS, np.where(after, pop.plan_after[rows], pop.plan[rows])),
        "signup_country": vocab_strings(
            COUNTRY_CODES, np.where(pop.signup_country_known[rows], pop.home_country[rows], -1)
        ),
        "email_domain_kind": vocab_strings(EMAIL_DOMAIN_KINDS, pop.email[rows]),
        "payment_fingerprint": ids.fingerprint(np.where(after, pop.card_after[rows], pop.card[rows])),
        "phone_verified": pa.array(np.where(after, pop.phone_after[rows], pop.phone[rows])),
        "signup_ip_hash": ids.fingerprint(pop.signup_ip[rows]),
        "device_hash": ids.fingerprint(pop.device[rows]),
        "updated_at": pa.array(updated * 1_000_000, type=ACCOUNTS.arrow_schema.field("updated_at").type),
    }
    return pa.Table.from_pydict(columns, schema=ACCOUNTS.arrow_schema)


__all__ = ["NEVER", "AccountIds", "Population", "accounts_table", "build_population"]

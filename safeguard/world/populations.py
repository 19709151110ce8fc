"""Who lives in the synthetic world: benign populations and abuse archetypes, as behaviour profiles.

Each :class:`Profile` describes how an account of one kind uses the API (activity, volume, timing, models,
clients, classifier flags, refusals, stop reasons, prompt templates, network) and how it signs up. The numbers are
chosen so that every abuse archetype overlaps some benign population on every single signal:

- volume: enterprise and batch users are as heavy as spammers and scrapers;
- few prompt templates: batch jobs and startups' apps reuse templates like spam does;
- cyber flags and refusals: security researchers look like jailbreak probing;
- shared payment fingerprints / signup IPs / orgs: colleagues of one company share them like rings do;
- night-time and uniform traffic: batch jobs run around the clock;
- max_tokens stops: batch summarisation hits the limit like distillation does.

Only combinations separate abuse from benign use, which is what a detector should have to learn.
The tables at the bottom turn the profiles into numpy arrays indexed by profile code for vectorized lookups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from safeguard.contract import POLICY_CATEGORIES

MODELS = ("claude-3-5-haiku", "claude-sonnet-4", "claude-opus-4")
CLIENTS = ("python-sdk", "ts-sdk", "curl", "web", "go-http")
NON_REFUSAL_STOPS = ("end_turn", "max_tokens", "stop_sequence", "tool_use")
TIME_MODES = ("daytime", "night", "uniform")  # local-time shape of an event's timestamp
MAX_TOKENS_LIMITS = np.array([512, 1024, 2048, 4096])

# (code, population weight, UTC offset in whole hours): home countries of accounts.
COUNTRIES = (
    ("US", 30, -5),
    ("IN", 9, 5),
    ("GB", 7, 0),
    ("DE", 6, 1),
    ("BR", 5, -3),
    ("FR", 4, 1),
    ("CA", 4, -5),
    ("JP", 4, 9),
    ("KR", 3, 9),
    ("AU", 3, 10),
    ("NL", 3, 1),
    ("SG", 2, 8),
    ("ES", 2, 1),
    ("PL", 2, 1),
    ("MX", 2, -6),
    ("ID", 2, 7),
    ("VN", 2, 7),
    ("NG", 2, 1),
    ("UA", 2, 2),
    ("RU", 2, 3),
    ("TR", 2, 3),
    ("PH", 2, 8),
    ("RO", 1, 2),
    ("PK", 1, 5),
)
COUNTRY_CODES = tuple(c for c, _, _ in COUNTRIES)
COUNTRY_WEIGHTS = np.array([w for _, w, _ in COUNTRIES], dtype=float) / sum(w for _, w, _ in COUNTRIES)
COUNTRY_UTC_OFFSET_H = np.array([o for _, _, o in COUNTRIES], dtype=np.int64)
# Abusers sign up from the same countries, weighted differently (overlapping, not a giveaway).
ABUSER_COUNTRY_WEIGHTS = (
    np.where(np.isin(COUNTRY_CODES, ("NG", "VN", "ID", "RU", "UA", "PH", "RO", "PK", "TR")), 4.0, 1.0) * COUNTRY_WEIGHTS
)
ABUSER_COUNTRY_WEIGHTS /= ABUSER_COUNTRY_WEIGHTS.sum()

# Probability of each local hour for human daytime use and for night-time use.
_DAYTIME = np.array([1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 11, 11, 10, 11, 11, 10, 9, 8, 7, 7, 6, 5, 3, 2], dtype=float)
_NIGHT = np.array([10, 11, 11, 10, 9, 7, 4, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 5, 7, 9], dtype=float)
HOUR_CDF = np.cumsum(np.stack([_DAYTIME / _DAYTIME.sum(), _NIGHT / _NIGHT.sum()]), axis=1)


def _categories(**weights: float) -> tuple[float, ...]:
    """A pmf over POLICY_CATEGORIES; unnamed categories share a small background rate."""
    background = 0.002
    raw = [weights.get(c, background) for c in POLICY_CATEGORIES]
    return tuple(x / sum(raw) for x in raw)


# What "edgy" benign accounts (fiction writers, moderation teams, red-teamers on their own product) get flagged for.
EDGY_CATEGORIES = _categories(
    none=0.0, sexual=0.3, violent_extremism=0.15, harassment=0.2, self_harm=0.1, weapons=0.1, deception=0.1, cyber=0.05
)
EDGY_CDF = np.cumsum(EDGY_CATEGORIES)[:-1]
EDGY_BETA = (3.0, 3.0)
BENIGN_CATEGORIES = _categories(
    none=0.93, cyber=0.01, fraud_scams=0.008, harassment=0.008, sexual=0.012, deception=0.008, self_harm=0.004
)


@dataclass(frozen=True)
class Profile:
    """How one kind of account behaves; ``*_pmf`` fields follow the vocabulary tuples above."""

    name: str
    is_abuser: bool
    share: float  # of all accounts
    # usage volume and timing
    p_active: float  # probability of any use on a given day
    rate_median: float  # median over accounts of extra events on an active day (Poisson mean)
    rate_sigma: float  # spread of that rate across accounts (lognormal sigma)
    weekend_factor: float
    time_pmf: tuple[float, float, float]  # TIME_MODES
    # content of events
    model_pmf: tuple[float, ...]
    client_pmf: tuple[float, ...]
    stop_pmf: tuple[float, ...]  # NON_REFUSAL_STOPS
    refusal_base: float
    refusal_per_score: float  # refusal probability added per unit of a flagged event's classifier score
    category_pmf: tuple[float, ...]  # POLICY_CATEGORIES
    flag_beta: tuple[float, float]  # classifier score of flagged (not "none") events
    input_median: float
    output_median: float
    templates: tuple[float, float]  # per-account template pool size, log-uniform range
    template_concentration: float  # >1 concentrates use on the first templates of the pool
    template_rotation_days: int  # 0: fixed pool; k: the pool changes every k days
    p_travel: float  # an event from a random country (travel, VPN), before the account's own roaming factor
    n_ips: tuple[int, int]
    n_keys: tuple[int, int]
    # signup
    plan_pmf: tuple[float, ...]  # contract.PLANS
    email_pmf: tuple[float, ...]  # contract.EMAIL_DOMAIN_KINDS
    p_phone_verified: float
    p_payment: float
    p_device: float
    p_org: float
    org_size: tuple[int, int]


_BENIGN = {
    "is_abuser": False,
    "weekend_factor": 1.0,
    "refusal_base": 0.01,
    "refusal_per_score": 0.3,
    "category_pmf": BENIGN_CATEGORIES,
    "flag_beta": (2.0, 5.0),
    "template_concentration": 2.0,
    "template_rotation_days": 0,
}
_ABUSE = {"is_abuser": True, "weekend_factor": 1.0, "template_concentration": 2.0, "template_rotation_days": 0}
UNIQUE_PROMPTS = (1e12, 1e12)  # free-form prompts: effectively a new template every time

PROFILES: tuple[Profile, ...] = (
    Profile(
        name="hobbyist",
        share=0.534,
        p_active=0.22,
        rate_median=0.8,
        rate_sigma=0.6,
        time_pmf=(0.85, 0.05, 0.10),
        model_pmf=(0.3, 0.6, 0.1),
        client_pmf=(0.15, 0.05, 0.05, 0.75, 0.0),
        stop_pmf=(0.9, 0.05, 0.02, 0.03),
        input_median=400,
        output_median=300,
        templates=UNIQUE_PROMPTS,
        p_travel=0.03,
        n_ips=(1, 4),
        n_keys=(1, 2),
        plan_pmf=(0.6, 0.38, 0.02, 0.0, 0.0),
        email_pmf=(0.05, 0.9, 0.05),
        p_phone_verified=0.5,
        p_payment=0.4,
        p_device=0.9,
        p_org=0.05,
        org_size=(1, 3),
        **_BENIGN,
    ),
    Profile(
        name="startup",
        share=0.20,
        p_active=0.35,
        rate_median=2.0,
        rate_sigma=0.8,
        time_pmf=(0.8, 0.05, 0.15),
        model_pmf=(0.4, 0.5, 0.1),
        client_pmf=(0.45, 0.35, 0.05, 0.1, 0.05),
        stop_pmf=(0.7, 0.05, 0.1, 0.15),
        input_median=900,
        output_median=400,
        templates=(3, 60),
        p_travel=0.03,
        n_ips=(1, 3),
        n_keys=(1, 4),
        plan_pmf=(0.05, 0.15, 0.45, 0.0, 0.35),
        email_pmf=(0.8, 0.2, 0.0),
        p_phone_verified=0.7,
        p_payment=0.95,
        p_device=0.6,
        p_org=1.0,
        org_size=(2, 8),
        **(_BENIGN | {"weekend_factor": 0.5}),
    ),
    Profile(
        name="enterprise",
        share=0.004,
        p_active=0.9,
        rate_median=60,
        rate_sigma=0.6,
        time_pmf=(0.7, 0.05, 0.25),
        model_pmf=(0.3, 0.5, 0.2),
        client_pmf=(0.45, 0.25, 0.02, 0.08, 0.2),
        stop_pmf=(0.6, 0.05, 0.1, 0.25),
        input_median=1500,
        output_median=500,
        templates=(20, 400),
        p_travel=0.05,
        n_ips=(2, 20),
        n_keys=(3, 25),
        plan_pmf=(0.0, 0.0, 0.1, 0.7, 0.2),
        email_pmf=(0.98, 0.02, 0.0),
        p_phone_verified=0.9,
        p_payment=1.0,
        p_device=0.5,
        p_org=1.0,
        org_size=(5, 40),
        **(_BENIGN | {"weekend_factor": 0.6}),
    ),
    Profile(
        name="security_researcher",
        share=0.012,
        p_active=0.4,
        rate_median=8,
        rate_sigma=0.7,
        time_pmf=(0.7, 0.15, 0.15),
        model_pmf=(0.2, 0.5, 0.3),
        client_pmf=(0.5, 0.05, 0.25, 0.15, 0.05),
        stop_pmf=(0.85, 0.1, 0.02, 0.03),
        input_median=1200,
        output_median=600,
        templates=(30, 500),
        p_travel=0.1,
        n_ips=(1, 6),
        n_keys=(1, 3),
        plan_pmf=(0.2, 0.5, 0.1, 0.05, 0.15),
        email_pmf=(0.5, 0.5, 0.0),
        p_phone_verified=0.7,
        p_payment=0.7,
        p_device=0.7,
        p_org=0.5,
        org_size=(1, 4),
        **(
            _BENIGN
            | {
                "refusal_base": 0.05,
                "flag_beta": (5.0, 3.0),
                "category_pmf": _categories(none=0.5, cyber=0.4, deception=0.03, weapons=0.01, cbrn=0.005),
            }
        ),
    ),
    Profile(
        name="batch_api",
        share=0.17,
        p_active=0.1,
        rate_median=8,
        rate_sigma=0.9,
        time_pmf=(0.3, 0.4, 0.3),
        model_pmf=(0.7, 0.25, 0.05),
        client_pmf=(0.6, 0.1, 0.1, 0.0, 0.2),
        stop_pmf=(0.6, 0.3, 0.08, 0.02),
        input_median=2000,
        output_median=700,
        templates=(1, 8),
        p_travel=0.01,
        n_ips=(1, 2),
        n_keys=(1, 3),
        plan_pmf=(0.0, 0.1, 0.1, 0.1, 0.7),
        email_pmf=(0.6, 0.38, 0.02),
        p_phone_verified=0.6,
        p_payment=0.95,
        p_device=0.5,
        p_org=0.6,
        org_size=(1, 3),
        **(_BENIGN | {"template_concentration": 3.0}),
    ),
    Profile(
        name="templated_spam",
        share=0.012,
        p_active=0.7,
        rate_median=25,
        rate_sigma=0.7,
        time_pmf=(0.3, 0.3, 0.4),
        model_pmf=(0.8, 0.2, 0.0),
        client_pmf=(0.4, 0.1, 0.2, 0.1, 0.2),
        stop_pmf=(0.8, 0.15, 0.05, 0.0),
        refusal_base=0.03,
        refusal_per_score=0.2,
        category_pmf=_categories(fraud_scams=0.5, deception=0.15, harassment=0.03, none=0.32),
        flag_beta=(6.0, 2.5),
        input_median=300,
        output_median=350,
        templates=(1, 6),
        p_travel=0.05,
        n_ips=(2, 30),
        n_keys=(1, 5),
        plan_pmf=(0.5, 0.2, 0.0, 0.0, 0.3),
        email_pmf=(0.1, 0.6, 0.3),
        p_phone_verified=0.25,
        p_payment=0.6,
        p_device=0.6,
        p_org=0.3,
        org_size=(1, 2),
        **_ABUSE,
    ),
    Profile(
        name="jailbreak_probing",
        share=0.009,
        p_active=0.5,
        rate_median=12,
        rate_sigma=0.7,
        time_pmf=(0.5, 0.3, 0.2),
        model_pmf=(0.2, 0.5, 0.3),
        client_pmf=(0.3, 0.05, 0.2, 0.4, 0.05),
        stop_pmf=(0.9, 0.08, 0.02, 0.0),
        refusal_base=0.12,
        refusal_per_score=0.5,
        category_pmf=_categories(
            cbrn=0.1,
            weapons=0.1,
            cyber=0.12,
            violent_extremism=0.05,
            self_harm=0.04,
            sexual=0.08,
            harassment=0.05,
            deception=0.05,
            none=0.4,
        ),
        flag_beta=(5.0, 2.5),
        input_median=800,
        output_median=250,
        templates=(4, 10),
        p_travel=0.15,
        n_ips=(2, 40),
        n_keys=(1, 2),
        plan_pmf=(0.55, 0.4, 0.0, 0.0, 0.05),
        email_pmf=(0.05, 0.75, 0.2),
        p_phone_verified=0.3,
        p_payment=0.4,
        p_device=0.8,
        p_org=0.05,
        org_size=(1, 1),
        **(_ABUSE | {"template_concentration": 1.0, "template_rotation_days": 2}),
    ),
    Profile(
        name="coordinated_ring",
        share=0.012,
        p_active=0.6,
        rate_median=15,
        rate_sigma=0.6,
        time_pmf=(0.3, 0.3, 0.4),
        model_pmf=(0.7, 0.3, 0.0),
        client_pmf=(0.4, 0.1, 0.2, 0.1, 0.2),
        stop_pmf=(0.8, 0.15, 0.05, 0.0),
        refusal_base=0.03,
        refusal_per_score=0.2,
        category_pmf=_categories(fraud_scams=0.35, deception=0.2, harassment=0.05, none=0.4),
        flag_beta=(5.0, 3.0),
        input_median=300,
        output_median=350,
        templates=(2, 12),
        p_travel=0.05,
        n_ips=(3, 15),
        n_keys=(1, 2),
        plan_pmf=(0.5, 0.2, 0.05, 0.0, 0.25),
        email_pmf=(0.2, 0.5, 0.3),
        p_phone_verified=0.3,
        p_payment=0.8,
        p_device=0.7,
        p_org=1.0,
        org_size=(2, 4),
        **_ABUSE,
    ),
    Profile(
        name="account_takeover",
        share=0.007,
        p_active=0.8,
        rate_median=30,
        rate_sigma=0.7,
        time_pmf=(0.25, 0.4, 0.35),
        model_pmf=(0.4, 0.4, 0.2),
        client_pmf=(0.2, 0.05, 0.4, 0.05, 0.3),
        stop_pmf=(0.75, 0.2, 0.05, 0.0),
        refusal_base=0.03,
        refusal_per_score=0.3,
        category_pmf=_categories(fraud_scams=0.3, deception=0.1, cyber=0.05, none=0.55),
        flag_beta=(4.0, 3.0),
        input_median=500,
        output_median=400,
        templates=(5, 50),
        p_travel=0.05,
        n_ips=(1, 5),
        n_keys=(1, 2),
        plan_pmf=(0.6, 0.38, 0.02, 0.0, 0.0),
        email_pmf=(0.05, 0.9, 0.05),
        p_phone_verified=0.5,
        p_payment=0.4,
        p_device=0.9,
        p_org=0.05,
        org_size=(1, 1),
        **_ABUSE,
    ),
    Profile(
        name="distillation_scraping",
        share=0.004,
        p_active=0.85,
        rate_median=100,
        rate_sigma=0.6,
        time_pmf=(0.15, 0.25, 0.6),
        model_pmf=(0.1, 0.4, 0.5),
        client_pmf=(0.5, 0.05, 0.15, 0.0, 0.3),
        stop_pmf=(0.45, 0.5, 0.05, 0.0),
        refusal_base=0.01,
        refusal_per_score=0.2,
        category_pmf=_categories(none=0.9, cyber=0.02, deception=0.01),
        flag_beta=(2.0, 5.0),
        input_median=250,
        output_median=900,
        templates=(5e3, 1e6),
        p_travel=0.08,
        n_ips=(5, 100),
        n_keys=(2, 10),
        plan_pmf=(0.0, 0.1, 0.1, 0.0, 0.8),
        email_pmf=(0.4, 0.4, 0.2),
        p_phone_verified=0.4,
        p_payment=0.95,
        p_device=0.5,
        p_org=0.6,
        org_size=(1, 2),
        **(_ABUSE | {"template_concentration": 1.0}),
    ),
    # Robustness-only archetypes (share 0 here; a robustness world gives them a share, see world/params.py).
    # An old account's owner turns to harmful use: same network, client and keys as its benign habit (which is
    # the hobbyist or startup cover), free-form prompts on sensitive categories scored just under 0.5 (the
    # generator maps them there), many refusals. Signup fields are a hobbyist's: it signed up long ago as one.
    Profile(
        name="behaviour_change",
        share=0.0,
        p_active=0.6,
        rate_median=6,
        rate_sigma=0.7,
        time_pmf=(0.6, 0.3, 0.1),
        model_pmf=(0.2, 0.5, 0.3),
        client_pmf=(0.15, 0.05, 0.05, 0.75, 0.0),
        stop_pmf=(0.9, 0.05, 0.02, 0.03),
        refusal_base=0.15,
        refusal_per_score=0.6,
        category_pmf=_categories(
            cbrn=0.08,
            weapons=0.12,
            cyber=0.15,
            violent_extremism=0.08,
            self_harm=0.05,
            fraud_scams=0.1,
            deception=0.07,
            harassment=0.05,
            none=0.3,
        ),
        flag_beta=(5.0, 2.5),
        input_median=700,
        output_median=300,
        templates=UNIQUE_PROMPTS,
        p_travel=0.03,
        n_ips=(1, 4),
        n_keys=(1, 2),
        plan_pmf=(0.6, 0.38, 0.02, 0.0, 0.0),
        email_pmf=(0.05, 0.9, 0.05),
        p_phone_verified=0.5,
        p_payment=0.4,
        p_device=0.9,
        p_org=0.05,
        org_size=(1, 3),
        **_ABUSE,
    ),
    # A young abuser tuned to the classifier: flagged requests score just under 0.5, fresh prompts every time,
    # moderate volume, few refusals; looks like a hobbyist on volume and templates.
    Profile(
        name="evasive_abuse",
        share=0.0,
        p_active=0.55,
        rate_median=10,
        rate_sigma=0.7,
        time_pmf=(0.5, 0.3, 0.2),
        model_pmf=(0.2, 0.5, 0.3),
        client_pmf=(0.4, 0.1, 0.2, 0.2, 0.1),
        stop_pmf=(0.85, 0.1, 0.05, 0.0),
        refusal_base=0.06,
        refusal_per_score=0.4,
        category_pmf=_categories(
            cbrn=0.05, weapons=0.1, cyber=0.2, fraud_scams=0.15, deception=0.1, violent_extremism=0.05, none=0.35
        ),
        flag_beta=(5.0, 2.5),
        input_median=600,
        output_median=350,
        templates=UNIQUE_PROMPTS,
        p_travel=0.08,
        n_ips=(2, 20),
        n_keys=(1, 3),
        plan_pmf=(0.55, 0.4, 0.0, 0.0, 0.05),
        email_pmf=(0.05, 0.75, 0.2),
        p_phone_verified=0.3,
        p_payment=0.45,
        p_device=0.8,
        p_org=0.05,
        org_size=(1, 1),
        **_ABUSE,
    ),
)

ARCHETYPES = tuple(p.name for p in PROFILES)
CODE = {name: i for i, name in enumerate(ARCHETYPES)}
HOBBYIST, STARTUP = CODE["hobbyist"], CODE["startup"]
RING, TAKEOVER = CODE["coordinated_ring"], CODE["account_takeover"]
BEHAVIOUR_CHANGE, EVASIVE = CODE["behaviour_change"], CODE["evasive_abuse"]
IS_ABUSER = np.array([p.is_abuser for p in PROFILES])
SHARES = np.array([p.share for p in PROFILES]) / sum(p.share for p in PROFILES)
DEFAULT_ARCHETYPES = tuple(p.name for p in PROFILES if p.share > 0)  # the demo world's mix


def archetype_cdf(shares: np.ndarray) -> np.ndarray:
    """Cumulative shares without the last column, for :func:`categorical`. Past the last archetype with a share,
    the columns are 2.0, so no draw (u < 1) lands on an archetype without one, not even through rounding: the
    draws of the demo mix are those of the mix without the robustness-only archetypes."""
    cdf = np.cumsum(shares)[:-1]
    cdf[int(np.flatnonzero(shares > 0).max()) :] = 2.0
    return cdf


def _column(field: str, dtype=float) -> np.ndarray:
    return np.array([getattr(p, field) for p in PROFILES], dtype=dtype)


def _cdf(field: str) -> np.ndarray:
    """Cumulative pmf per profile without its last column (u >= cdf[k] counts the categories passed)."""
    pmf = _column(field)
    pmf = pmf / pmf.sum(axis=1, keepdims=True)
    return np.cumsum(pmf, axis=1)[:, :-1]


class P:
    """Per-profile parameter arrays, indexed by profile code."""

    p_active = _column("p_active")
    rate_median = _column("rate_median")
    rate_sigma = _column("rate_sigma")
    weekend_factor = _column("weekend_factor")
    time_cdf = _cdf("time_pmf")
    model_cdf = _cdf("model_pmf")
    client_cdf = _cdf("client_pmf")
    stop_cdf = _cdf("stop_pmf")
    refusal_base = _column("refusal_base")
    refusal_per_score = _column("refusal_per_score")
    category_cdf = _cdf("category_pmf")
    flag_beta = _column("flag_beta")
    input_median = _column("input_median")
    output_median = _column("output_median")
    templates = _column("templates")
    template_concentration = _column("template_concentration")
    template_rotation_days = _column("template_rotation_days", np.int64)
    p_travel = _column("p_travel")
    n_ips = _column("n_ips", np.int64)
    n_keys = _column("n_keys", np.int64)
    plan_cdf = _cdf("plan_pmf")
    email_cdf = _cdf("email_pmf")
    p_phone_verified = _column("p_phone_verified")
    p_payment = _column("p_payment")
    p_device = _column("p_device")
    p_org = _column("p_org")
    org_size = _column("org_size", np.int64)


NONE_CATEGORY = POLICY_CATEGORIES.index("none")


def categorical(rng: np.random.Generator, cdf: np.ndarray) -> np.ndarray:
    """One draw per row of ``cdf`` (rows: cumulative pmfs without their last column)."""
    u = rng.random(cdf.shape[0])
    return (u[:, None] >= cdf).sum(axis=1)


def log_uniform_int(rng: np.random.Generator, lo_hi: np.ndarray) -> np.ndarray:
    """Integers log-uniform in [lo, hi] per row of ``lo_hi`` (n x 2)."""
    lo, hi = np.log(lo_hi[:, 0]), np.log(lo_hi[:, 1] + 1)
    return np.minimum(np.exp(lo + (hi - lo) * rng.random(lo_hi.shape[0])).astype(np.int64), lo_hi[:, 1])

"""Days of ``scoring.served_risk_scores`` (contracts: one row per account and day) for tests and benchmarks.

Deterministic for (day, n, seed); vectorized (numpy + Arrow compute), so a benchmark can ask for a million rows.
Accounts at or above ``elevated`` carry 1 to 4 reasons; a small share of low accounts too (the monitoring
sample); the rest have ``'[]'``. About 3% of accounts are in a 'candidate' arm served by another model version.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

THRESHOLDS = np.array([0.30, 0.60, 0.85])  # elevated, high, critical
TIERS = np.array(["low", "elevated", "high", "critical"], dtype=object)
FEATURES = np.array(["flag_rate_cyber_7d", "events_1d", "distinct_ips_7d", "account_age_days", "email_disposable"])
REASONS = np.array(
    [
        "Many requests flagged as cyber misuse in the last 7 days",
        "Many requests on the day",
        'Requests from many different IP addresses in the last 7 days, "proxy-like"',
        "Recently created account",
        "Signed up with a disposable email domain",
    ]
)
SERVED_SCHEMA = pa.schema(
    [
        ("score_date", pa.date32()),
        ("account_id", pa.string()),
        ("served_model_version", pa.string()),
        ("arm", pa.string()),
        ("probability", pa.float64()),
        ("tier", pa.string()),
        ("reasons_json", pa.string()),
        ("explained", pa.bool_()),
        ("champion_version", pa.string()),
        ("candidate_version", pa.string()),
        ("rollout_id", pa.string()),
        ("stage", pa.string()),
        ("bucket", pa.uint8()),
    ]
)


def account_ids(n: int, prefix: str = "acct-") -> pa.Array:
    numbers = pc.utf8_lpad(pc.cast(pa.array(np.arange(n)), pa.string()), width=7, padding="0")
    return pc.binary_join_element_wise(pa.scalar(prefix), numbers, "")


def _reasons_json(rng: np.random.Generator, counts: np.ndarray) -> pa.Array:
    """Per row a JSON list of ``counts[i]`` reasons, contributions decreasing, built column-wise."""
    rows = np.repeat(np.arange(counts.size), counts)
    feature = rng.integers(0, FEATURES.size, rows.size)
    contribution = np.round(np.sort(rng.uniform(0.01, 2.0, rows.size))[::-1], 4)
    value = np.round(rng.uniform(0, 50, rows.size), 3)
    value_text = pc.cast(pa.array(value), pa.string())
    value_text = pc.if_else(pa.array(rng.random(rows.size) < 0.05), "null", value_text)  # a missing value
    objects = pc.binary_join_element_wise(
        '{"feature": "',
        pa.array(FEATURES[feature]),
        '", "value": ',
        value_text,
        ', "contribution": ',
        pc.cast(pa.array(contribution), pa.string()),
        ', "reason": "',
        pc.replace_substring(pa.array(REASONS[feature]), '"', '\\"'),
        '"}',
        "",
    )
    offsets = pa.array(np.r_[0, np.cumsum(counts)].astype(np.int32))
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, objects), ", ")
    return pc.binary_join_element_wise("[", joined, "]", "")


def served_day(
    day: str | date,
    n: int,
    *,
    seed: int = 0,
    champion: str = "m-champion",
    candidate: str = "m-candidate",
    prefix: str = "acct-",
    first: int = 0,
) -> pa.Table:
    """``n`` accounts ``prefix{first..first+n-1}`` served on ``day``; a different seed changes every score."""
    rng = np.random.default_rng(seed)
    ids = account_ids(first + n, prefix).slice(first)
    probability = rng.beta(0.6, 4.0, n)
    tier_index = np.searchsorted(THRESHOLDS, probability, side="right")
    explained = (tier_index >= 1) | (rng.random(n) < 0.01)
    counts = np.where(explained, rng.integers(1, 5, n), 0)
    candidate_arm = rng.random(n) < 0.03
    d = date.fromisoformat(str(day))
    return pa.table(
        {
            "score_date": pa.array(np.full(n, np.datetime64(d, "D")), pa.date32()),
            "account_id": ids,
            "served_model_version": pa.array(np.where(candidate_arm, candidate, champion).astype(object)),
            "arm": pa.array(np.where(candidate_arm, "candidate", "champion").astype(object)),
            "probability": probability,
            "tier": pa.array(TIERS[tier_index]),
            "reasons_json": _reasons_json(rng, counts),
            "explained": pa.array(explained),
            "champion_version": pa.array(np.full(n, champion, dtype=object)),
            "candidate_version": pa.array(np.full(n, candidate, dtype=object)),
            "rollout_id": pa.array(np.full(n, "ro-1", dtype=object)),
            "stage": pa.array(np.full(n, "pct_5", dtype=object)),
            "bucket": pa.array(rng.integers(1, 101, n).astype(np.uint8)),
        },
        schema=SERVED_SCHEMA,
    )

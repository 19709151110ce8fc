"""Sticky rollout buckets: the Unleash hash exactly, monotone arms, uniform buckets, stable across processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache

import mmh3
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguard.rollout.bucketing import bucket, buckets, in_candidate_arm

# Any Unicode text that UTF-8 can encode (lone surrogates cannot be account ids in Arrow or JSON either).
ids_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
salts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)


@cache
def million_ids() -> list[str]:
    return [f"acct_{i:07d}" for i in range(1_000_000)]


def reference_bucket(account_id: str, salt: str) -> int:
    """The Unleash normalizedHash, written out independently of the module under test."""
    return mmh3.hash(f"{salt}:{account_id}".encode(), 0, signed=False) % 100 + 1


def test_known_unleash_values():
    assert bucket("123", salt="gr1") == 73
    assert bucket("999", salt="groupX") == 25
    assert buckets(["123"], "gr1").tolist() == [73]
    assert buckets(["999"], "groupX").tolist() == [25]


@settings(max_examples=200, deadline=None)
@given(ids=st.lists(ids_text, max_size=30), salt=salts)
def test_vectorized_buckets_equal_the_reference_hash(ids, salt):
    expected = [reference_bucket(a, salt) for a in ids]
    got = buckets(ids, salt)
    assert got.dtype == np.uint8
    assert got.tolist() == expected
    assert [bucket(a, salt) for a in ids] == expected


def test_every_input_form_gives_the_same_buckets():
    ids = ["a", "", "ü-ßé", "acct_0001", "日本語のアカウント", "x" * 50]
    expected = [reference_bucket(a, "r7") for a in ids]
    chunked = pa.chunked_array([pa.array(ids[:2]), pa.array(ids[2:])])
    for form in (
        ids,
        tuple(ids),
        pa.array(ids),
        pa.array(ids, type=pa.large_string()),
        chunked,
        pa.array(ids).slice(0),
        np.array(ids),
        np.array(ids, dtype=object),
        pd.Series(ids),
    ):
        assert buckets(form, "r7").tolist() == expected, type(form)
    assert buckets(pa.array(ids).slice(2, 3), "r7").tolist() == expected[2:5]
    assert buckets([], "r7").tolist() == []


@settings(max_examples=50, deadline=None)
@given(salt=salts, p=st.integers(0, 100), q=st.integers(0, 100))
def test_arm_is_monotone_in_the_percent(salt, p, q):
    p, q = min(p, q), max(p, q)
    b = buckets(million_ids()[:5000], salt)
    at_p, at_q = in_candidate_arm(b, p), in_candidate_arm(b, q)
    assert not (at_p & ~at_q).any(), "an account left the arm as the stage grew"
    assert at_p.sum() <= at_q.sum()


def test_percent_zero_is_nobody_and_hundred_is_everybody():
    b = buckets(million_ids()[:2000], "shadow-test")
    assert b.min() >= 1 and b.max() <= 100
    assert not in_candidate_arm(b, 0).any()
    assert in_candidate_arm(b, 100).all()
    for bad in (-1, 101, 2.5, True, "5"):
        with pytest.raises(ValueError, match="percent"):
            in_candidate_arm(b, bad)


@pytest.mark.parametrize("salt", ["rollout-2026-09-01-lgbm-v7", "r1"])
def test_buckets_are_uniform_at_a_million_ids(salt):
    """Each bucket holds 10,000 +- 5% of 10^6 ids.

    A bucket's count is Binomial(10^6, 0.01): sd = 99.5, so +-500 is 5 sd; the chance that any of the 100 buckets
    strays that far by luck is about 100 * 5.7e-7 = 6e-5, while a biased hash (e.g. a salt ignored or a modulo on a
    signed value) moves whole buckets by far more. The salts are fixed, so the test is deterministic.
    """
    counts = np.bincount(buckets(million_ids(), salt), minlength=101)[1:]
    assert counts.sum() == 1_000_000
    assert np.abs(counts - 10_000).max() <= 500, counts
    # Arms of each stage hold their share: the cumulative count at p is p% of accounts within 0.2 points.
    shares = np.cumsum(counts) / 1_000_000
    for p in (1, 5, 25, 50):
        assert abs(shares[p - 1] - p / 100) < 0.002


def test_salt_changes_the_subset():
    a, b = buckets(million_ids()[:10_000], "rollout-a"), buckets(million_ids()[:10_000], "rollout-b")
    both = (in_candidate_arm(a, 5) & in_candidate_arm(b, 5)).sum()
    # Independent 5% arms overlap on about 0.25% of accounts (25 of 10,000), not on the whole arm (~500).
    assert both < 100


def test_buckets_are_stable_across_processes():
    ids = million_ids()[:1000] + ["ü-ßé", ""]
    script = (
        "import json, sys; from safeguard.rollout.bucketing import buckets; "
        "ids = json.load(sys.stdin); print(json.dumps(buckets(ids, 'cross-process').tolist()))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(ids),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert json.loads(out.stdout) == buckets(ids, "cross-process").tolist()


def test_bad_input_is_refused_with_its_position():
    with pytest.raises(ValueError, match="position 1"):
        buckets(pa.array(["a", None, "c"]), "r")
    with pytest.raises(TypeError, match=r"account_ids\[2\] is int"):
        buckets(["a", "b", 3], "r")
    with pytest.raises(TypeError, match=r"account_ids\[0\] is NoneType"):
        buckets([None], "r")
    with pytest.raises(TypeError, match="Arrow string array"):
        buckets(pa.array([1, 2]), "r")
    with pytest.raises(TypeError, match="numpy array"):
        buckets(np.arange(3), "r")
    with pytest.raises(TypeError, match="single string"):
        buckets("acct_1", "r")
    with pytest.raises(ValueError, match="salt"):
        buckets(["a"], "")
    with pytest.raises(TypeError, match="account_id must be a string"):
        bucket(123, salt="gr1")

"""Sticky rollout buckets: the Unleash gradual-rollout hash, so any feature-flag SDK reproduces the arm (design §3.4).

``bucket = murmur3_x86_32("{salt}:{account_id}", seed 0) % 100 + 1`` on the unsigned 32-bit hash, the salt being the
rollout id. An account is in the candidate arm iff ``bucket <= percent``; since the bucket never changes for a rollout,
the arm only grows as the percent grows (sticky and monotone).

Speed: the hash runs in mmh3's C code, one call per id driven by ``map`` (no Python bytecode per id). Measured here
(bench/bench_bucketing.py, 10^6 ids of varying length, 2 cores): 0.17 s from a list and 0.24 s from an Arrow array,
against 0.19 s for a plain per-id loop and 0.26 s for murmur3 written in numpy over the Arrow byte buffers, whose
gathers of variable-length strings into padded blocks cost more than the C calls they replace.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import repeat

import mmh3
import numpy as np
import pyarrow as pa

BUCKET_COUNT = 100
HASH_SEED = 0

AccountIds = Sequence[str] | pa.Array | pa.ChunkedArray | np.ndarray


def _hash_key(salt: str) -> str:
    if not isinstance(salt, str) or not salt:
        raise ValueError(f"rollout salt must be a non-empty string (the rollout id), got {salt!r}")
    return f"{salt}:"


def bucket(account_id: str, salt: str) -> int:
    """The bucket (1..100) of one account for the rollout ``salt``."""
    if not isinstance(account_id, str):
        raise TypeError(f"account_id must be a string, got {type(account_id).__name__}: {account_id!r}")
    return mmh3.hash(_hash_key(salt) + account_id, HASH_SEED, signed=False) % BUCKET_COUNT + 1


def _as_list(account_ids: AccountIds) -> list:
    """The ids as a Python list, the form mmh3's C loop consumes fastest; nulls are refused with their position."""
    if isinstance(account_ids, (pa.Array, pa.ChunkedArray)):
        if not (pa.types.is_string(account_ids.type) or pa.types.is_large_string(account_ids.type)):
            raise TypeError(f"account_ids must be an Arrow string array, got type {account_ids.type}")
        if account_ids.null_count:
            first = int(np.flatnonzero(account_ids.is_null().to_numpy(zero_copy_only=False))[0])
            raise ValueError(f"account_ids has {account_ids.null_count} null(s); the first at position {first}")
        return account_ids.to_pylist()
    if isinstance(account_ids, np.ndarray):
        if account_ids.ndim != 1 or account_ids.dtype.kind not in "UO":
            raise TypeError(
                f"account_ids must be a 1-d numpy array of str or object, got {account_ids.dtype} "
                f"with shape {account_ids.shape}"
            )
        return account_ids.tolist()
    if isinstance(account_ids, str):
        raise TypeError("account_ids must be a sequence of ids, not a single string; use bucket() for one id")
    if hasattr(account_ids, "tolist"):  # pandas / polars Series
        return account_ids.tolist()
    return list(account_ids)


def _first_non_string(values: Iterable) -> tuple[int, object]:
    return next((i, v) for i, v in enumerate(values) if not isinstance(v, str))


def buckets(account_ids: AccountIds, salt: str) -> np.ndarray:
    """The bucket (1..100, uint8) of every account, in input order, for the rollout ``salt``.

    Accepts a list/tuple of str, a pyarrow (chunked) string array, a numpy str/object array or a pandas Series.
    """
    prefix = _hash_key(salt)
    ids = _as_list(account_ids)
    try:
        hashes = np.fromiter(
            map(mmh3.hash, map(prefix.__add__, ids), repeat(HASH_SEED), repeat(False)),
            dtype=np.uint32,
            count=len(ids),
        )
    except TypeError:
        position, value = _first_non_string(ids)
        raise TypeError(
            f"account_ids[{position}] is {type(value).__name__} {value!r}; account ids must be strings"
        ) from None
    return (hashes % BUCKET_COUNT + 1).astype(np.uint8)


def check_percent(percent: int) -> int:
    """``percent`` as an int in 0..100, or a ValueError naming it."""
    if isinstance(percent, bool) or not isinstance(percent, (int, np.integer)) or not 0 <= percent <= 100:
        raise ValueError(f"rollout percent must be an integer in 0..100, got {percent!r}")
    return int(percent)


def in_candidate_arm(bucket_values: np.ndarray, percent: int) -> np.ndarray:
    """Which accounts the candidate serves at ``percent``: bucket <= percent (0 = nobody, as in shadow)."""
    return np.asarray(bucket_values) <= check_percent(percent)

"""Rollout buckets for 1,000,000 accounts: the shipped path next to the alternatives it was chosen over.

- ``plain_loop``: one Python-level ``mmh3.hash(f"{salt}:{id}")`` per id in a list comprehension;
- ``buckets_list`` / ``buckets_arrow``: ``safeguard.rollout.buckets`` (mmh3's C hash driven by ``map``) on a list and
  on an Arrow string array (what a DuckDB query returns);
- ``numpy_murmur3``: murmur3_x86_32 written in numpy over the Arrow byte buffers (salt joined in Arrow), the fully
  vectorized candidate; it must gather every string's bytes into a padded block matrix, which costs more than the
  C calls it saves.

Every path's buckets are checked equal. Usage: ``python bench/bench_bucketing.py [--n 1000000]``; writes
``bench/results/bucketing.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import mmh3
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from safeguard.rollout.bucketing import buckets

RESULTS = Path(__file__).parent / "results" / "bucketing.json"
SALT = "rollout-bench"
C1, C2 = np.uint32(0xCC9E2D51), np.uint32(0x1B873593)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _murmur3_rows(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """murmur3_x86_32 (seed 0) of the byte strings ``data[start:start+length]``, all rows at once."""
    width = (int(lengths.max()) // 4 + 1) * 4  # every row gets one trailing (tail) word
    cols = np.arange(width)
    inside = cols < lengths[:, None]
    padded = np.where(inside, data[np.where(inside, starts[:, None] + cols, 0)], 0).astype(np.uint8)
    words = padded.view("<u4")
    full_blocks = lengths // 4
    h = np.zeros(len(starts), np.uint32)
    for j in range(words.shape[1] - 1):
        k = _rotl(words[:, j] * C1, 15) * C2
        h = np.where(full_blocks > j, _rotl(h ^ k, 13) * np.uint32(5) + np.uint32(0xE6546B64), h)
    tail = np.take_along_axis(words, full_blocks[:, None], axis=1)[:, 0]  # zero-padded, so 0 when no tail
    h ^= _rotl(tail * C1, 15) * C2
    h ^= lengths.astype(np.uint32)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


def numpy_murmur3_buckets(ids: pa.Array, salt: str, chunk: int = 1 << 18) -> np.ndarray:
    keys = pc.binary_join_element_wise(pa.scalar(f"{salt}:"), ids, "").cast(pa.large_binary())
    _, offsets_buf, data_buf = keys.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64, count=len(keys) + 1)
    data = np.frombuffer(data_buf, dtype=np.uint8)
    out = np.empty(len(keys), np.uint32)
    for lo in range(0, len(keys), chunk):  # chunks bound the padded matrix's memory
        bounds = offsets[lo : lo + chunk + 1]
        out[lo : lo + chunk] = _murmur3_rows(data, bounds[:-1], np.diff(bounds))
    return (out % 100 + 1).astype(np.uint8)


def plain_loop(ids: list[str], salt: str) -> np.ndarray:
    return np.array([mmh3.hash(f"{salt}:{a}", 0, signed=False) % 100 + 1 for a in ids], dtype=np.uint8)


def best_of(repeats: int, fn, *args) -> tuple[float, np.ndarray]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    # Variable-length ids (6 to 12 characters) so no path gets a fixed-width shortcut.
    ids = [f"a{i}" + "x" * (i % 5) for i in range(args.n)]
    arrow_ids = pa.array(ids)
    runs = {
        "plain_loop": (plain_loop, ids),
        "buckets_list": (buckets, ids),
        "buckets_arrow": (buckets, arrow_ids),
        "numpy_murmur3": (numpy_murmur3_buckets, arrow_ids),
    }
    seconds, results = {}, {}
    for name, (fn, data) in runs.items():
        seconds[name], results[name] = best_of(args.repeats, fn, data, SALT)
        print(f"{name:>14}: {seconds[name]:.3f} s  ({seconds[name] / args.n * 1e9:.0f} ns/id)")
    reference = results["plain_loop"]
    mismatched = [name for name, r in results.items() if not np.array_equal(r, reference)]
    if mismatched:
        raise SystemExit(f"buckets differ from the plain mmh3 loop: {mismatched}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "n_ids": args.n,
                "repeats": args.repeats,
                "seconds_best": seconds,
                "ns_per_id": {k: v / args.n * 1e9 for k, v in seconds.items()},
                "all_equal": True,
                "python": platform.python_version(),
                "machine": platform.machine(),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

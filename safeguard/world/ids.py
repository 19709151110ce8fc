"""Vectorized identifiers and hash strings for the synthetic world.

Every id and hash in the landing data is built here from integers, whole arrays at a time: a Python f-string per
row would dominate the generator's run time at tens of millions of events. Strings are laid out as fixed-width
ASCII in one numpy buffer and handed to Arrow without copying them one by one.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)


def mix64(values: np.ndarray | int, salt: int = 0) -> np.ndarray:
    """SplitMix64 finalizer of ``values + salt``: a bijection on uint64, so distinct inputs give distinct outputs.

    Used both as a cheap deterministic hash (fingerprints, template hashes) and, being a bijection, to turn unique
    counters into unique opaque ids.
    """
    with np.errstate(over="ignore"):
        z = np.asarray(values).astype(np.uint64) + np.uint64(salt & 0xFFFFFFFFFFFFFFFF)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _fixed_width(prefix: str, body: np.ndarray, valid: np.ndarray | None) -> pa.StringArray:
    """An Arrow string array from ``prefix`` + the rows of ``body`` (n x width ASCII bytes)."""
    n, width = body.shape
    pre = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    row = len(pre) + width
    buf = np.empty((n, row), dtype=np.uint8)
    buf[:, : len(pre)] = pre
    buf[:, len(pre) :] = body
    # Arrow's plain string type has 32-bit offsets; a bigger buffer needs the large type, then a cast.
    large = (n + 1) * row >= 2**31
    offsets = np.arange(0, (n + 1) * row, row, dtype=np.int64 if large else np.int32)
    array_type = pa.LargeStringArray if large else pa.StringArray
    bitmap, null_count = None, 0
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        bitmap, null_count = pa.py_buffer(np.packbits(valid, bitorder="little")), int(n - valid.sum())
    arr = array_type.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(buf), null_bitmap=bitmap, null_count=null_count
    )
    return arr.cast(pa.string()) if large else arr


def hex_strings(values: np.ndarray, prefix: str = "", valid: np.ndarray | None = None) -> pa.StringArray:
    """``prefix`` + 16 lowercase hex digits of each uint64; rows where ``valid`` is False are null."""
    raw = np.ascontiguousarray(np.asarray(values, dtype=np.uint64).astype(">u8")).view(np.uint8).reshape(-1, 8)
    body = np.empty((raw.shape[0], 16), dtype=np.uint8)
    body[:, 0::2] = _HEX[raw >> 4]
    body[:, 1::2] = _HEX[raw & 0x0F]
    return _fixed_width(prefix, body, valid)


def decimal_strings(values: np.ndarray, prefix: str, width: int, valid: np.ndarray | None = None) -> pa.StringArray:
    """``prefix`` + each non-negative integer zero-padded to ``width`` digits, e.g. ``acct_0000123``."""
    v = np.asarray(values, dtype=np.int64)
    if v.size and (v.min() < 0 or v.max() >= 10**width):
        raise ValueError(f"values do not fit {width} decimal digits for ids {prefix!r}")
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    body = _DIGITS[(v[:, None] // powers) % 10]
    return _fixed_width(prefix, body, valid)


def vocab_strings(vocabulary: tuple[str, ...], codes: np.ndarray) -> pa.StringArray:
    """Strings of a small vocabulary by integer code; a negative code is null."""
    codes = np.asarray(codes)
    indices = pa.array(codes.astype(np.int32), mask=codes < 0)
    return pa.array(vocabulary, type=pa.string()).take(indices)

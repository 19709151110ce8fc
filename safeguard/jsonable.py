"""Values made storable as JSON: NaN and infinity become None (PostgreSQL's JSON, like the JSON standard, has no
such numbers) and numpy scalars plain Python numbers, through dicts, lists and tuples."""

from __future__ import annotations

import math

import numpy as np


def json_safe(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value

"""The time-ordered split of the training days (design §3.3).

Oldest to newest::

    | fit | early stopping + calibration | gap >= H | validation |

``H`` is the label horizon: the label of day D looks at (D, D+H], so a gap of H days keeps every label of an
earlier slice from overlapping a validation day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from safeguard.examples import TrainingDataError
from safeguard.vocabulary import LABEL_HORIZON_DAYS

DEFAULT_LABEL_HORIZON_DAYS = LABEL_HORIZON_DAYS


@dataclass(frozen=True)
class TimeSplit:
    fit: np.ndarray  # datetime64[D] days of each slice
    early_stopping: np.ndarray
    validation: np.ndarray

    def window(self, name: str) -> tuple[str, str]:
        days = getattr(self, name)
        return str(days[0]), str(days[-1])


def _minimum_days(label_horizon_days: int, validation_fraction: float) -> int:
    """The fewest distinct days that leave two days before the gap (one to fit, one to stop early)."""
    n = label_horizon_days + 2
    while n - max(1, round(n * validation_fraction)) - label_horizon_days < 1:
        n += 1
    return n


def time_split(
    days,
    label_horizon_days: int = DEFAULT_LABEL_HORIZON_DAYS,
    *,
    validation_fraction: float = 0.25,
    early_stopping_fraction: float = 0.2,
) -> TimeSplit:
    """Split distinct days into fit / early-stopping / validation, oldest first.

    The validation slice is the newest ``validation_fraction`` of the days, and a gap of at least H days separates
    it from everything the model learns from, so no label window of a training day reaches into validation and
    the metrics and tier thresholds are honest out-of-time estimates. Of the days before the gap, the newest
    ``early_stopping_fraction`` stop boosting and fit the calibrator; the older ones are fitted. There is no second
    gap between fitting and early stopping: it would cost another H days of a short history for little gain, as
    early stopping and calibration only pick a tree count and a monotone map.
    """
    d = np.unique(np.asarray(days, dtype="datetime64[D]"))
    gap = np.timedelta64(label_horizon_days, "D")
    n_val = max(1, round(d.size * validation_fraction))
    val = d[-n_val:]
    pool = d[d <= val[0] - gap]
    n_es = max(1, round(pool.size * early_stopping_fraction))
    es = pool[-n_es:]
    fit = pool[pool < es[0]] if pool.size else pool
    if fit.size == 0:
        span = f"{d[0]} .. {d[-1]}" if d.size else "no days"
        raise TrainingDataError(
            f"training examples span {d.size} as_of_date(s) ({span}): too few for a time split with a "
            f"{label_horizon_days}-day gap (fit, early stopping, gap, validation) to keep any day to fit on; "
            f"give more days (at least {_minimum_days(label_horizon_days, validation_fraction)}, more in practice)"
        )
    return TimeSplit(fit, es, val)

"""Calibration of the risk model's raw margin into a probability (design §3.3).

Centered isotonic regression when the calibration slice has at least ``MIN_POSITIVES_FOR_ISOTONIC`` positives,
else Platt scaling (a logistic curve on the margin). Centered isotonic (Oron & Flournoy 2017) joins the centers
of the isotonic steps with straight lines, so the map stays strictly increasing and does not tie accounts that
the model ranks apart. Stored as plain numbers, so an artifact needs no pickle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from safeguard.examples import TrainingDataError

MIN_POSITIVES_FOR_ISOTONIC = 100


@dataclass(frozen=True)
class Calibrator:
    """Raw margin -> calibrated probability; stored as plain numbers so the artifact needs no pickle."""

    method: str  # "isotonic" (centered, piecewise linear through ``knots``) or "platt"
    knots_x: tuple[float, ...] = ()
    knots_y: tuple[float, ...] = ()
    slope: float = 1.0
    intercept: float = 0.0

    def __call__(self, margin) -> np.ndarray:
        m = np.asarray(margin, dtype=np.float64)
        if self.method in ("isotonic", "rules_share"):  # rules_share: a straight line, see safeguard.rules_model
            return np.interp(m, self.knots_x, self.knots_y)
        if self.method == "platt":
            return 1.0 / (1.0 + np.exp(-(self.slope * m + self.intercept)))
        raise ValueError(f"unknown calibration method {self.method!r}")

    @classmethod
    def fit(cls, margin, y, weight=None, *, min_positives_for_isotonic: int = MIN_POSITIVES_FOR_ISOTONIC):
        m = np.asarray(margin, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        w = np.ones_like(m) if weight is None else np.asarray(weight, dtype=np.float64)
        if y.sum() >= min_positives_for_isotonic:
            return cls._fit_centered_isotonic(m, y, w)
        return cls._fit_platt(m, y, w)

    @classmethod
    def _fit_centered_isotonic(cls, m, y, w) -> Calibrator:
        from sklearn.isotonic import IsotonicRegression

        order = np.argsort(m, kind="mergesort")
        m, y, w = m[order], y[order], w[order]
        fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(m, y, sample_weight=w).predict(m)
        # Each step (run of equal fitted values) becomes one knot at its weighted mean margin.
        starts = np.r_[0, np.flatnonzero(np.diff(fitted)) + 1]
        wsum = np.add.reduceat(w, starts)
        centers = np.add.reduceat(w * m, starts) / wsum
        values = fitted[starts]
        # Pin the ends to the observed margin range so the extreme steps keep their full extent.
        xs = np.r_[m[0], centers, m[-1]]
        ys = np.r_[values[0], values, values[-1]]
        keep = np.r_[True, np.diff(xs) > 0]
        return cls("isotonic", tuple(xs[keep].tolist()), tuple(ys[keep].tolist()))

    @classmethod
    def _fit_platt(cls, m, y, w) -> Calibrator:
        from sklearn.linear_model import LogisticRegression

        if y.min() == y.max():
            raise TrainingDataError("the calibration slice holds a single class; cannot calibrate")
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(m.reshape(-1, 1), y, sample_weight=w)
        return cls("platt", slope=float(lr.coef_[0, 0]), intercept=float(lr.intercept_[0]))

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "knots_x": list(self.knots_x),
            "knots_y": list(self.knots_y),
            "slope": self.slope,
            "intercept": self.intercept,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> Calibrator:
        return cls(d["method"], tuple(d["knots_x"]), tuple(d["knots_y"]), float(d["slope"]), float(d["intercept"]))

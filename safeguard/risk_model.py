"""The trained risk model: booster, calibrator, tier thresholds and catalog, and its artifact format.

Artifact: a zip of ``manifest.json`` and ``booster.txt`` (no pickle: loading never executes code). The registry
(:mod:`safeguard.registry`) stores it and checks its sha256 on every load.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow as pa

from safeguard.calibration import Calibrator
from safeguard.catalog import FeatureSpec
from safeguard.examples import LABEL_COLUMN, example_weights, feature_matrix
from safeguard.metrics import evaluate
from safeguard.tiers import TierThresholds

ARTIFACT_FORMAT = "safeguard-risk-model/1"


@dataclass
class TrainedModel:
    """A booster, its calibrator and tier thresholds, and what is needed to reproduce and explain it.

    ``validation_examples`` is set only right after training (the gate re-scores the champion on it); a model
    loaded from the registry has it ``None``.
    """

    version: str
    created_at: datetime
    booster: lgb.Booster
    calibrator: Calibrator
    features: list[FeatureSpec]
    thresholds: TierThresholds
    params: dict
    metrics: dict
    windows: dict[str, tuple[str, str]]  # "fit" / "early_stopping" / "validation" -> (first, last) ISO days
    label_horizon_days: int
    validation_examples: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def training_window(self) -> tuple[str, str]:
        """First and last as_of_date whose examples the model's trees learned from: every matured day before
        validation for a refitted model, else the fit and early-stopping slices."""
        if "refit" in self.windows:
            return self.windows["refit"]
        return self.windows["fit"][0], self.windows["early_stopping"][1]

    def matrix(self, frame: pd.DataFrame | pa.Table, *, where: str = "features") -> np.ndarray:
        return feature_matrix(frame, self.feature_names, where=where)

    def raw_margin(self, X: np.ndarray) -> np.ndarray:
        return self.booster.predict(X, raw_score=True)

    def probability(self, X: np.ndarray) -> np.ndarray:
        return self.calibrator(self.raw_margin(X))

    def feature_importance(self) -> pd.DataFrame:
        """Gain and split counts per feature, highest gain first, with each feature's share of the total gain."""
        gain = self.booster.feature_importance("gain")
        df = pd.DataFrame(
            {"feature": self.feature_names, "gain": gain, "splits": self.booster.feature_importance("split")}
        )
        df["gain_share"] = df["gain"] / max(float(gain.sum()), 1e-12)
        return df.sort_values(["gain", "feature"], ascending=[False, True], ignore_index=True)

    # -- artifact: a zip of manifest.json + booster.txt (no pickle: loading never executes code) -------------

    def to_artifact(self) -> bytes:
        manifest = {
            "format": ARTIFACT_FORMAT,
            "version": self.version,
            "created_at": self.created_at.isoformat(),
            "features": [vars(f) for f in self.features],
            "calibrator": self.calibrator.to_dict(),
            "thresholds": self.thresholds.to_dict(),
            "params": self.params,
            "metrics": self.metrics,
            "windows": {k: list(v) for k, v in self.windows.items()},
            "label_horizon_days": self.label_horizon_days,
        }
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, text in (
                ("manifest.json", json.dumps(manifest, sort_keys=True, indent=1)),
                ("booster.txt", self.booster.model_to_string()),
            ):
                z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), text)
        return buf.getvalue()

    @classmethod
    def from_artifact(cls, data: bytes) -> TrainedModel:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            manifest = json.loads(z.read("manifest.json"))
            booster_text = z.read("booster.txt").decode()
        if manifest.get("format") != ARTIFACT_FORMAT:
            raise ValueError(f"unknown model artifact format {manifest.get('format')!r}")
        return cls(
            version=manifest["version"],
            created_at=datetime.fromisoformat(manifest["created_at"]),
            booster=lgb.Booster(model_str=booster_text),
            calibrator=Calibrator.from_dict(manifest["calibrator"]),
            features=[FeatureSpec(**f) for f in manifest["features"]],
            thresholds=TierThresholds.from_dict(manifest["thresholds"]),
            params=manifest["params"],
            metrics=manifest["metrics"],
            windows={k: tuple(v) for k, v in manifest["windows"].items()},
            label_horizon_days=int(manifest["label_horizon_days"]),
        )


def model_metrics(model: TrainedModel, examples: pd.DataFrame, *, review_capacity: int) -> dict:
    """The registry's metrics of ``model`` on labelled ``examples`` (ranking on margin, calibration on probability)."""
    X = model.matrix(examples, where="evaluation examples")
    margin = model.raw_margin(X)
    y = examples[LABEL_COLUMN].to_numpy(dtype=np.float64)
    return evaluate(
        y,
        margin,
        examples["as_of_date"].to_numpy(),
        probability=model.calibrator(margin),
        weight=example_weights(examples),
        review_capacity=review_capacity,
    )

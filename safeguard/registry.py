"""The model registry: artifacts in an object store, one ``model_versions`` row per version (design §3.3).

Artifact: ``models/<version>/model.bin`` (the zip of :meth:`TrainedModel.to_artifact`: booster text, calibrator,
features, thresholds; no pickle). Its sha256 is recorded in the row and verified on every load, so a corrupted or
swapped artifact is refused rather than scored with.

Status life cycle: a model that fails the quality gate is ``rejected`` and can never be loaded for scoring again.
The first model that passes becomes ``champion``; later passing models become ``candidate`` (the staged rollout
promotes them). Promoting a new champion retires the old one in the same transaction; the database also holds
at most one champion (a partial unique index).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from botocore.exceptions import ClientError
from sqlalchemy.engine import Engine

from safeguard.gate import GateResult
from safeguard.jsonable import json_safe as _json_safe
from safeguard.landing import ObjectStore
from safeguard.risk_model import TrainedModel
from safeguard.rules_model import is_rules_model
from safeguard.serving.state_tables import model_versions
from safeguard.vocabulary import (
    CANDIDATE,
    CHAMPION,
    MODEL_STATUSES,
    REJECTED,
    RETIRED,
    RULES_KIND,
    TRAINED_KIND,
    utcnow,
)


class RegistryError(RuntimeError):
    """A registry operation is not allowed; the message names the version and why."""


class ModelIntegrityError(RegistryError):
    """An artifact is missing or its sha256 differs from the one recorded at registration."""


class RejectedModelError(RegistryError):
    """The version failed the quality gate: it is never loaded for scoring."""


@dataclass(frozen=True)
class ModelVersion:
    """One ``model_versions`` row."""

    version: str
    created_at: datetime
    train_start: date
    train_end: date
    validation_start: date
    validation_end: date
    label_horizon_days: int
    features: list[str]
    params: dict
    metrics: dict
    thresholds: dict
    gate: dict | None
    artifact_uri: str
    sha256: str
    status: str
    status_changed_at: datetime
    kind: str = TRAINED_KIND  # MODEL_KINDS: a trained model, or the rules score serving as cold-start champion

    @property
    def is_rules(self) -> bool:
        return self.kind == RULES_KIND


def artifact_path(version: str) -> str:
    return f"models/{version}/model.bin"


def card_path(version: str) -> str:
    """The model card, as Markdown, next to the artifact (``safeguard model show`` prints it)."""
    return f"models/{version}/model_card.md"


def _utcnow() -> datetime:
    return utcnow().replace(microsecond=0)  # model_versions' times are to the second


class ModelRegistry:
    """Registers, finds and loads model versions. ``engine``: the serving database (migrated to head)."""

    def __init__(self, engine: Engine, store: ObjectStore):
        self.engine = engine
        self.store = store

    # -- writing -------------------------------------------------------------------------------------------------

    def register(self, trained: TrainedModel, status: str, *, gate: GateResult | None = None) -> ModelVersion:
        """Store the artifact and record the version with ``status``.

        Registering a champion retires the current one in the same transaction.
        """
        if status not in MODEL_STATUSES:
            raise RegistryError(f"model {trained.version}: unknown status {status!r}; expected {MODEL_STATUSES}")
        with self.engine.begin() as conn:
            self._insert(conn, trained, status, gate)
        return self.get(trained.version)

    def register_gated(self, trained: TrainedModel, gate: GateResult) -> ModelVersion:
        """Register after the quality gate: rejected if it failed; else champion if no trained model is champion
        (none at all, or the cold-start rules score, which the gate has just compared it with on the same rows:
        auc_pr_vs_rules and the champion comparison); else candidate, for a staged rollout.

        The choice and the insert happen in one transaction.
        """
        with self.engine.begin() as conn:
            if not gate.passed:
                status = REJECTED
            else:
                trained_champions = conn.execute(
                    sa.select(sa.func.count()).where(
                        model_versions.c.status == CHAMPION, model_versions.c.kind != RULES_KIND
                    )
                ).scalar_one()
                status = CANDIDATE if trained_champions else CHAMPION
            self._insert(conn, trained, status, gate)
        return self.get(trained.version)

    def _insert(self, conn: sa.Connection, trained: TrainedModel, status: str, gate: GateResult | None) -> None:
        exists = conn.execute(
            sa.select(model_versions.c.version).where(model_versions.c.version == trained.version)
        ).first()
        if exists:
            raise RegistryError(f"model {trained.version} is already registered")
        data = trained.to_artifact()
        rel = artifact_path(trained.version)
        self.store.write_bytes(rel, data)
        now = _utcnow()
        if status == CHAMPION:
            self._retire_champion(conn, now)
        conn.execute(
            model_versions.insert().values(
                version=trained.version,
                created_at=trained.created_at.astimezone(UTC).replace(tzinfo=None)
                if trained.created_at.tzinfo
                else trained.created_at,
                train_start=date.fromisoformat(trained.training_window[0]),
                train_end=date.fromisoformat(trained.training_window[1]),
                validation_start=date.fromisoformat(trained.windows["validation"][0]),
                validation_end=date.fromisoformat(trained.windows["validation"][1]),
                label_horizon_days=trained.label_horizon_days,
                features=trained.feature_names,
                params=_json_safe(trained.params),
                metrics=_json_safe(trained.metrics),
                thresholds=_json_safe(trained.thresholds.to_dict()),
                gate=_json_safe(gate.to_dict()) if gate is not None else None,
                artifact_uri=self.store.full_uri(rel),
                sha256=hashlib.sha256(data).hexdigest(),
                status=status,
                status_changed_at=now,
                kind=RULES_KIND if is_rules_model(trained) else TRAINED_KIND,
            )
        )

    @staticmethod
    def _retire_champion(conn: sa.Connection, now: datetime) -> None:
        conn.execute(
            model_versions.update()
            .where(model_versions.c.status == CHAMPION)
            .values(status=RETIRED, status_changed_at=now)
        )

    def set_status(self, version: str, status: str) -> ModelVersion:
        """Move a version to ``status``; a new champion retires the old one. Rejected is final."""
        if status not in MODEL_STATUSES:
            raise RegistryError(f"model {version}: unknown status {status!r}; expected {MODEL_STATUSES}")
        with self.engine.begin() as conn:
            current = self._status(conn, version)
            if current == REJECTED and status != REJECTED:
                raise RejectedModelError(f"model {version} was rejected by the quality gate; it cannot become {status}")
            if current == status:
                return self.get(version)
            now = _utcnow()
            if status == CHAMPION:
                self._retire_champion(conn, now)
            conn.execute(
                model_versions.update()
                .where(model_versions.c.version == version)
                .values(status=status, status_changed_at=now)
            )
        return self.get(version)

    # -- reading -------------------------------------------------------------------------------------------------

    @staticmethod
    def _status(conn: sa.Connection, version: str) -> str:
        status = conn.execute(
            sa.select(model_versions.c.status).where(model_versions.c.version == version)
        ).scalar_one_or_none()
        if status is None:
            raise RegistryError(f"model {version} is not registered")
        return status

    def _rows(self, *where) -> list[ModelVersion]:
        query = sa.select(model_versions).where(*where).order_by(model_versions.c.created_at, model_versions.c.version)
        with self.engine.connect() as conn:
            return [ModelVersion(**row._mapping) for row in conn.execute(query)]

    def get(self, version: str) -> ModelVersion:
        rows = self._rows(model_versions.c.version == version)
        if not rows:
            raise RegistryError(f"model {version} is not registered")
        return rows[0]

    def versions(self) -> list[ModelVersion]:
        """Every registered version, oldest first."""
        return self._rows()

    def champion(self) -> ModelVersion | None:
        rows = self._rows(model_versions.c.status == CHAMPION)
        return rows[0] if rows else None

    def candidates(self) -> list[ModelVersion]:
        """The versions waiting for (or in) a staged rollout, oldest first."""
        return self._rows(model_versions.c.status == CANDIDATE)

    def write_card(self, version: str, markdown: str) -> str:
        """Store ``version``'s model card next to its artifact; returns its URI."""
        self.get(version)  # a registered version only
        self.store.write_bytes(card_path(version), markdown.encode())
        return self.store.full_uri(card_path(version))

    def card(self, version: str) -> str | None:
        """``version``'s stored model card, or None when it has none (registered before cards were stored)."""
        if not self.store.exists(card_path(version)):
            return None
        return self.store.read_bytes(card_path(version)).decode()

    def load(self, version: str, *, replay: bool = False) -> TrainedModel:
        """The model of ``version``, after checking its artifact's sha256 against the registry.

        A rejected model is never loaded, except with ``replay`` to re-score the days it already scored (a
        candidate rolled back after serving canary days: re-running those days needs its scores again).
        """
        row = self.get(version)
        if row.status == REJECTED and not replay:
            raise RejectedModelError(
                f"model {version} was rejected (by the quality gate or a rollback) and is never loaded to score "
                "a new day"
            )
        rel = artifact_path(version)
        try:
            data = self.store.read_bytes(rel)
        except (OSError, ClientError) as e:
            raise ModelIntegrityError(f"model {version}: artifact {row.artifact_uri} cannot be read: {e}") from e
        digest = hashlib.sha256(data).hexdigest()
        if digest != row.sha256:
            raise ModelIntegrityError(
                f"model {version}: artifact {row.artifact_uri} has sha256 {digest}, but {row.sha256} was registered; "
                "refusing to load a changed artifact"
            )
        model = TrainedModel.from_artifact(data)
        if model.version != version:
            raise ModelIntegrityError(f"model {version}: artifact {row.artifact_uri} holds model {model.version}")
        return model

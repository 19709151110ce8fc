"""Score one day's accounts: probability, tier and reasons per model; owns ``scoring.account_risk_scores``.

Every model in play (the champion and any candidates) scores every account of the day; the staged rollout later
decides whose score is served. Per account and model: calibrated probability, raw margin, tier, and for the
explained set (elevated or above, the monitoring sample, accounts asked for) the top reasons as JSON.

Vectorized end to end: one ``predict`` over all accounts, one ``pred_contrib`` over the explained subset, and the
reasons JSON assembled column-wise in Arrow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from safeguard import explain
from safeguard.linked_reasons import EnforcedLinks, name_linked_accounts
from safeguard.risk_model import TrainedModel
from safeguard.tiers import tier_index
from safeguard.vocabulary import CANDIDATE, CHAMPION, MODEL_ROLES, TIERS
from safeguard.warehouse import create_table_ddl, table_exists, transaction

FEATURES_TABLE = "marts.fct_account_features"
SCORES_TABLE = "scoring.account_risk_scores"

SCORES_SCHEMA = pa.schema(
    [
        pa.field("score_date", pa.date32(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("model_version", pa.string(), nullable=False),
        pa.field("model_role", pa.string(), nullable=False),
        pa.field("probability", pa.float64(), nullable=False),
        pa.field("raw_margin", pa.float64(), nullable=False),
        pa.field("tier", pa.string(), nullable=False),
        pa.field("explained", pa.bool_(), nullable=False),
        pa.field("explain_reason", pa.string()),  # tier / monitoring_sample / requested; null if not explained
        pa.field("reasons_json", pa.string()),  # JSON list of {feature, value, contribution, reason}; null likewise
    ]
)

# One row per (score_date, account_id, model_version); write_scores keeps that by replacing whole days. No
# declared key: an index over hundreds of millions of rows would slow every day's insert for nothing.
SCORES_DDL = create_table_ddl(SCORES_TABLE, SCORES_SCHEMA)


class ScoringError(ValueError):
    """A day cannot be scored; the message names the day and what is wrong."""


@dataclass
class ScoredDay:
    table: pa.Table  # SCORES_SCHEMA, one row per account and model
    additivity_error: float  # max |Σ contributions + base − raw margin| over every explained row of every model
    explained_rows: int

    def tier_counts(self) -> dict[str, dict[str, int]]:
        """``{model_version: {tier: accounts}}``, every tier present (0 when empty)."""
        grouped = self.table.group_by(["model_version", "tier"]).aggregate([("account_id", "count")])
        out: dict[str, dict[str, int]] = {}
        for version, tier, n in zip(
            *(grouped.column(c).to_pylist() for c in ("model_version", "tier", "account_id_count"))
        ):
            out.setdefault(version, dict.fromkeys(TIERS, 0))[tier] = n
        return out


def _day_frame(features: pd.DataFrame | pa.Table, score_date: str) -> pd.DataFrame:
    df = features.to_pandas() if isinstance(features, pa.Table) else features
    if "account_id" not in df.columns:
        raise ScoringError(f"features for {score_date}: no account_id column")
    if "as_of_date" in df.columns:
        days = pd.to_datetime(pd.Series(df["as_of_date"].unique())).dt.strftime("%Y-%m-%d")
        other = sorted(set(days) - {score_date})
        if other:
            raise ScoringError(f"features for {score_date} hold rows of other as_of_date(s) {other[:5]}")
    dup = df["account_id"].duplicated()
    if dup.any():
        raise ScoringError(
            f"features for {score_date}: {int(dup.sum())} duplicate account_id(s), e.g. "
            f"{df.loc[dup, 'account_id'].head(3).tolist()}"
        )
    return df


def score_accounts(
    features: pd.DataFrame | pa.Table,
    models: Mapping[str, TrainedModel] | Sequence[tuple[str, TrainedModel]],
    score_date: str,
    *,
    sample_rate: float = explain.DEFAULT_SAMPLE_RATE,
    requested: Sequence[str] | None = None,
    top_k: int = explain.DEFAULT_TOP_REASONS,
    enforced_links: EnforcedLinks | None = None,
) -> ScoredDay:
    """Score every account of ``features`` (one as_of_date = ``score_date``) with each ``(role, model)``.

    ``models``: role -> model, or (role, model) pairs when several candidates share the role.
    ``enforced_links``: the day's :func:`safeguard.linked_reasons.read_enforced_links`; the reasons of link
    features then name the enforced account that links the account.
    """
    pairs = list(models.items()) if isinstance(models, Mapping) else list(models)
    if not pairs:
        raise ScoringError(f"no model to score {score_date} with")
    bad_roles = sorted({r for r, _ in pairs} - set(MODEL_ROLES))
    if bad_roles:
        raise ScoringError(f"unknown model role(s) {bad_roles}; expected one of {MODEL_ROLES}")
    df = _day_frame(features, score_date)
    ids = pa.array(df["account_id"].to_numpy(), type=pa.string())
    n = len(ids)
    day = pa.array(np.full(n, np.datetime64(score_date, "D")), type=pa.date32())
    sampled = explain.monitoring_sample(ids, score_date, sample_rate)
    asked = explain.requested_mask(ids, requested)
    tables, worst, explained_total = [], 0.0, 0
    for role, model in pairs:
        X = model.matrix(df, where=f"features for {score_date}")
        margin = model.raw_margin(X)
        probability = model.calibrator(margin)
        tiers = tier_index(probability, model.thresholds)
        why = explain.explain_selection(tiers, sampled, asked)
        rows = np.flatnonzero(np.not_equal(why, None))
        contribs = explain.contributions(model.booster, X[rows])
        worst = max(worst, explain.additivity_error(contribs, margin[rows]))
        reasons = pa.nulls(n, pa.string())
        if rows.size:
            # Scatter the explained rows' JSON into a column of nulls, in Arrow.
            position = np.full(n, -1, dtype=np.int64)
            position[rows] = np.arange(rows.size)
            explained_reasons = explain.reasons_json(contribs, X[rows], model.features, top_k)
            if enforced_links:
                explained_reasons = name_linked_accounts(
                    explained_reasons, ids.take(pa.array(rows)), model.features, enforced_links
                )
            reasons = explained_reasons.take(pa.array(position, mask=position < 0))
        explained_total += int(rows.size)
        tables.append(
            pa.table(
                {
                    "score_date": day,
                    "account_id": ids,
                    "model_version": pa.array(np.full(n, model.version, dtype=object), type=pa.string()),
                    "model_role": pa.array(np.full(n, role, dtype=object), type=pa.string()),
                    "probability": probability,
                    "raw_margin": margin,
                    "tier": pa.array(np.asarray(TIERS, dtype=object)[tiers], type=pa.string()),
                    "explained": pa.array(np.not_equal(why, None)),
                    "explain_reason": pa.array(why, type=pa.string()),
                    "reasons_json": reasons,
                },
                schema=SCORES_SCHEMA,
            )
        )
    return ScoredDay(pa.concat_tables(tables), worst, explained_total)


def ensure_scores_table(con) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS scoring")
    con.execute(SCORES_DDL)


def write_scores(con, table: pa.Table, days: Sequence[str]) -> int:
    """Replace exactly ``days`` of ``scoring.account_risk_scores`` with ``table`` in one transaction.

    Every row of ``table`` must fall on one of ``days``; a day in ``days`` without rows ends up empty.
    Returns the rows written.
    """
    days = sorted({date.fromisoformat(d).isoformat() for d in days})
    if not days:
        raise ScoringError("write_scores needs at least one day")
    if table.schema.remove_metadata() != SCORES_SCHEMA:
        table = table.select(SCORES_SCHEMA.names).cast(SCORES_SCHEMA)
    present = {d.isoformat() for d in pc.unique(table.column("score_date")).to_pylist()}
    stray = sorted(present - set(days))
    if stray:
        raise ScoringError(f"scores hold rows for day(s) {stray} outside the days being replaced {days}")
    ensure_scores_table(con)
    con.register("_scores_to_write", table)
    try:
        with transaction(con):
            con.execute(f"DELETE FROM {SCORES_TABLE} WHERE score_date IN (SELECT UNNEST(?::DATE[]))", [days])
            con.execute(f"INSERT INTO {SCORES_TABLE} BY NAME SELECT * FROM _scores_to_write")
    finally:
        con.unregister("_scores_to_write")
    return table.num_rows


def read_day_features(con, day: str) -> pd.DataFrame:
    """One day's rows of ``marts.fct_account_features``, sorted by account."""
    return con.execute(f"SELECT * FROM {FEATURES_TABLE} WHERE as_of_date = ?::DATE ORDER BY account_id", [day]).df()


def scored_versions(con, day: str) -> list[tuple[str, str]]:
    """(role, version) of the models whose scores ``scoring.account_risk_scores`` holds for ``day``, champion first."""
    if not table_exists(con, SCORES_TABLE):
        return []
    rows = con.execute(
        f"SELECT DISTINCT model_role, model_version FROM {SCORES_TABLE} WHERE score_date = ?::DATE", [day]
    ).fetchall()
    return sorted(rows, key=lambda row: (MODEL_ROLES.index(row[0]), row[1]))


def versions_for_day(
    *,
    rollout_versions: tuple[str, str] | None,
    scored_before: Sequence[tuple[str, str]],
    champion: str,
    candidates: Sequence[str],
) -> list[tuple[str, str]]:
    """(role, version) of the models that score a day, champion first, so that re-running a day replaces it exactly.

    1. A rollout serves the day (``rollout_versions`` = its champion and candidate): those two, whatever the
       registry says now (after a rollback or a promotion the day still needs the models its stage served).
    2. The day was scored before: the same versions again (a re-run never changes a day's models).
    3. A new day: the registry's champion and its candidates.
    """
    if rollout_versions is not None:
        champion_version, candidate_version = rollout_versions
        return [(CHAMPION, champion_version), (CANDIDATE, candidate_version)]
    if scored_before:
        return list(scored_before)
    return [(CHAMPION, champion)] + [(CANDIDATE, version) for version in candidates]

"""The offline backtest's replay: the candidate scored on the newest feature days, next to the champion's published
scores and the labels matured by now (issue 15). Owns ``scoring.backtest_scores``.

1. Days: the newest ``days`` as_of_dates of ``marts.fct_account_features`` (point in time by construction: the row
   of day D uses only data before D + 1 day).
2. The candidate (from the registry) scores every account of each day: probability and tier only, no reasons
   (explaining is the expensive part of daily scoring, and a backtest needs none). Written to
   ``scoring.backtest_scores``, replacing exactly those (model_version, score_date) rows in one transaction;
   the rollout evaluation reads candidate tiers of days before the candidate existed from there.
3. The champion's side is what it *published*: its rows of ``scoring.account_risk_scores``; a day without them
   is reported ``no_champion_scores`` (not comparable), never skipped silently.
4. Labels: ``marts.fct_training_examples`` (a row exists only once its label window has closed). A matured day
   before the candidate's ``validation_start`` is in the candidate's fit (in-sample): reported per day as
   ``in_training``, left out of the pooled judgement. Only matured days on or after ``validation_start`` are
   ``judged`` (out of the fit, after the label-horizon gap of :mod:`safeguard.time_split`).
5. :mod:`safeguard.rollout.backtest` compares and judges.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from safeguard.examples import EXAMPLES_TABLE
from safeguard.registry import ModelRegistry, ModelVersion, RegistryError
from safeguard.risk_model import TrainedModel
from safeguard.rollout.backtest import (
    IN_TRAINING,
    JUDGED,
    LABELS_PENDING,
    NO_CHAMPION_SCORES,
    BacktestRule,
    backtest_verdict,
    compare_alerts,
    compare_outcomes,
    pooled_summary,
)
from safeguard.scoring import FEATURES_TABLE, SCORES_TABLE
from safeguard.tiers import tier_index
from safeguard.vocabulary import MODEL_ROLES, TIERS
from safeguard.warehouse import create_table_ddl, table_exists, transaction

BACKTEST_SCORES_TABLE = "scoring.backtest_scores"
BACKTEST_SCORES_SCHEMA = pa.schema(
    [
        pa.field("model_version", pa.string(), nullable=False),
        pa.field("score_date", pa.date32(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("probability", pa.float64(), nullable=False),
        pa.field("tier", pa.string(), nullable=False),
    ]
)
BACKTEST_SCORES_DDL = create_table_ddl(BACKTEST_SCORES_TABLE, BACKTEST_SCORES_SCHEMA)


class BacktestError(ValueError):
    """A backtest cannot run; the message says what is missing or wrong. Nothing was written."""


@dataclass
class BacktestResult:
    """One backtest: the models, the days, each day's figures, the pooled summary and its verdict."""

    candidate_version: str
    champion_version: str
    champion_kind: str
    days: list[str]
    per_day: list[dict[str, Any]]
    summary: dict[str, Any]
    rule: BacktestRule
    verdict: str
    reasons: list[str]
    rows_scored: int
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def first_day(self) -> str:
        return self.days[0]

    @property
    def last_day(self) -> str:
        return self.days[-1]


# -- days and models ------------------------------------------------------------------------------------------------


def feature_days(con, days: int) -> list[str]:
    """The newest ``days`` as_of_dates of the features, oldest first; refused when the history is shorter."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise BacktestError(f"--days must be a whole number of days, at least 1; got {days!r}")
    if not table_exists(con, FEATURES_TABLE):
        raise BacktestError(f"{FEATURES_TABLE} does not exist: build the features before a backtest")
    history = [
        d.isoformat()
        for (d,) in con.execute(f"SELECT DISTINCT as_of_date FROM {FEATURES_TABLE} ORDER BY as_of_date").fetchall()
    ]
    if len(history) < days:
        span = f" ({history[0]} .. {history[-1]})" if history else ""
        raise BacktestError(
            f"--days {days} is beyond the feature history: {FEATURES_TABLE} holds {len(history)} day(s){span}"
        )
    return history[-days:]


def backtest_models(registry: ModelRegistry, candidate_version: str | None) -> tuple[ModelVersion, ModelVersion]:
    """(candidate, champion) rows of the registry; the candidate defaults to the only one."""
    champion = registry.champion()
    if champion is None:
        raise BacktestError("the registry has no champion; a backtest compares a candidate with it")
    if candidate_version is None:
        candidates = [m.version for m in registry.candidates()]
        if len(candidates) != 1:
            raise BacktestError(
                f"the registry has {len(candidates)} candidate(s) {candidates}; name one with --candidate"
            )
        candidate_version = candidates[0]
    candidate = registry.get(candidate_version)  # RegistryError when unknown
    if candidate.status != "candidate":
        raise RegistryError(
            f"model {candidate_version} is {candidate.status}, not a candidate; only candidates are backtested"
        )
    return candidate, champion


# -- the candidate's scores -----------------------------------------------------------------------------------------


def score_day(model: TrainedModel, features: pd.DataFrame, day: str) -> pa.Table:
    """Probability and tier of every account of one day's features, as the daily scoring computes them."""
    X = model.matrix(features, where=f"features for {day}")
    probability = model.calibrator(model.raw_margin(X))
    tiers = np.asarray(TIERS, dtype=object)[tier_index(probability, model.thresholds)]
    n = len(features)
    return pa.table(
        {
            "model_version": pa.array([model.version] * n, pa.string()),
            "score_date": pa.array(np.full(n, np.datetime64(day, "D")), pa.date32()),
            "account_id": pa.array(features["account_id"].to_numpy(), pa.string()),
            "probability": pa.array(probability, pa.float64()),
            "tier": pa.array(tiers, pa.string()),
        },
        schema=BACKTEST_SCORES_SCHEMA,
    )


def write_backtest_scores(con, table: pa.Table, model_version: str, days: Sequence[str]) -> int:
    """Replace exactly the (``model_version``, day) rows of ``days`` with ``table``, in one transaction."""
    con.execute("CREATE SCHEMA IF NOT EXISTS scoring")
    con.execute(BACKTEST_SCORES_DDL)
    days = sorted({date.fromisoformat(d).isoformat() for d in days})
    con.register("_backtest_scores", table)
    try:
        with transaction(con):
            con.execute(
                f"DELETE FROM {BACKTEST_SCORES_TABLE} WHERE model_version = ? "
                "AND score_date IN (SELECT UNNEST(?::DATE[]))",
                [model_version, days],
            )
            con.execute(f"INSERT INTO {BACKTEST_SCORES_TABLE} BY NAME SELECT * FROM _backtest_scores")
    finally:
        con.unregister("_backtest_scores")
    return table.num_rows


def read_backtest_scores(con, model_version: str, first_day: str | date, last_day: str | date) -> pd.DataFrame:
    """``scoring.backtest_scores`` of ``model_version`` for score days ``first_day`` .. ``last_day`` (empty when
    the table does not exist): score_date, account_id, probability, tier."""
    if not table_exists(con, BACKTEST_SCORES_TABLE):
        return pd.DataFrame(columns=["score_date", "account_id", "probability", "tier"])
    return con.execute(
        f"""SELECT score_date, account_id, probability, tier FROM {BACKTEST_SCORES_TABLE}
            WHERE model_version = ? AND score_date BETWEEN ?::DATE AND ?::DATE ORDER BY score_date, account_id""",
        [model_version, str(first_day), str(last_day)],
    ).df()


# -- the comparison -------------------------------------------------------------------------------------------------


# Columns the replay reads next to each day's features: prefixed so that no feature name can clash.
_CHAMPION_PROBABILITY, _CHAMPION_TIER, _LABEL, _ACCOUNT_KEY = (
    "_backtest_champion_probability",
    "_backtest_champion_tier",
    "_backtest_label",
    "_backtest_account_key",
)


def read_day_with_champion(con, day: str, champion: str) -> pd.DataFrame:
    """One day's rows of ``marts.fct_account_features`` (as :func:`safeguard.scoring.read_day_features`: every
    column, sorted by account) with, per account, what the backtest compares the candidate against:

    - the champion's published probability and tier (index into ``TIERS``; NULL where it published none);
    - the matured label (NULL while the label window is open);
    - a 64-bit key of the account id (DuckDB's ``hash``), which clusters the intervals by account with no Python
      string per row (two of a million accounts share a key with probability ~3e-8; they would only be counted
      as one cluster).

    One read per day, joined where the rows are: no second pass over the candidate's scores."""
    champion_scores = (
        f"(SELECT account_id, probability, tier FROM {SCORES_TABLE} WHERE score_date = $day AND model_version = $champion)"
        if table_exists(con, SCORES_TABLE)
        else "(SELECT NULL::VARCHAR AS account_id, NULL::DOUBLE AS probability, NULL::VARCHAR AS tier)"
    )
    labels = (
        f"(SELECT account_id, label FROM {EXAMPLES_TABLE} WHERE as_of_date = $day)"
        if table_exists(con, EXAMPLES_TABLE)
        else "(SELECT NULL::VARCHAR AS account_id, NULL::INT AS label)"
    )
    tiers = "[" + ", ".join(f"'{t}'" for t in TIERS) + "]"
    return con.execute(
        f"""SELECT f.*, ch.probability AS {_CHAMPION_PROBABILITY},
                   CAST(list_position({tiers}, ch.tier) - 1 AS TINYINT) AS {_CHAMPION_TIER},
                   CAST(ex.label AS DOUBLE) AS {_LABEL}, hash(f.account_id) AS {_ACCOUNT_KEY}
            FROM {FEATURES_TABLE} AS f
            LEFT JOIN {champion_scores} AS ch ON ch.account_id = f.account_id
            LEFT JOIN {labels} AS ex ON ex.account_id = f.account_id
            WHERE f.as_of_date = $day
            ORDER BY f.account_id""",
        {"day": date.fromisoformat(day), "champion": champion},
    ).df()


def comparison_rows(day: str, features: pd.DataFrame, candidate_scores: pa.Table) -> pd.DataFrame:
    """The day's rows both models scored: day, account_key, both probabilities and tiers, label (NaN while
    pending). ``features`` as :func:`read_day_with_champion` reads them, ``candidate_scores`` as :func:`score_day`
    scores them (the same rows, in the same order)."""
    accounts = features["account_id"].to_numpy()
    if len(accounts) > 1 and (accounts[1:] == accounts[:-1]).any():  # sorted by account: a repeat is adjacent
        repeated = accounts[1:][accounts[1:] == accounts[:-1]][0]
        raise BacktestError(
            f"{day}: account {repeated} has more than one row in the features, the champion's published scores or "
            "the labels of that day; each must hold one row per account and day"
        )
    published = features[_CHAMPION_PROBABILITY].notna().to_numpy()
    champion_tier = features[_CHAMPION_TIER].to_numpy()[published]
    if (champion_tier < 0).any():
        raise BacktestError(f"champion scores of {day} hold a tier outside {list(TIERS)}")
    candidate_tier = pc.index_in(candidate_scores.column("tier"), value_set=pa.array(TIERS)).to_numpy(
        zero_copy_only=False
    )
    return pd.DataFrame(
        {
            "account_key": features[_ACCOUNT_KEY].to_numpy()[published],
            "candidate_probability": candidate_scores.column("probability").to_numpy()[published],
            "candidate_tier": candidate_tier[published].astype(np.int8),
            "champion_probability": features[_CHAMPION_PROBABILITY].to_numpy(dtype=np.float64)[published],
            "champion_tier": champion_tier.astype(np.int8),
            "label": features[_LABEL].to_numpy(dtype=np.float64, na_value=np.nan)[published],
        }
    )


def _with_days(days: list[str], chunks: list[pd.DataFrame]) -> pd.DataFrame:
    """The days' comparison rows as one frame, ``day`` a Categorical over ``days`` (sorted ISO dates)."""
    rows = pd.concat(chunks, ignore_index=True)
    codes = np.repeat(np.arange(len(days), dtype=np.int32), [len(c) for c in chunks])
    rows.insert(0, "day", pd.Categorical.from_codes(codes, categories=days))
    return rows


def _champion_scored_days(con, champion: str, days: list[str]) -> set[str]:
    if not table_exists(con, SCORES_TABLE):
        return set()
    rows = con.execute(
        f"SELECT DISTINCT strftime(score_date, '%Y-%m-%d') FROM {SCORES_TABLE} "
        "WHERE model_version = ? AND score_date BETWEEN ?::DATE AND ?::DATE",
        [champion, days[0], days[-1]],
    ).fetchall()
    return {d for (d,) in rows}


def _matured_days(con, days: list[str]) -> set[str]:
    if not table_exists(con, EXAMPLES_TABLE):
        return set()
    rows = con.execute(
        f"SELECT DISTINCT strftime(as_of_date, '%Y-%m-%d') FROM {EXAMPLES_TABLE} WHERE as_of_date BETWEEN ?::DATE AND ?::DATE",
        [days[0], days[-1]],
    ).fetchall()
    return {d for (d,) in rows}


def _codes(column: pd.Series) -> tuple[np.ndarray, np.ndarray | None]:
    """(integer codes, their categories) of a Categorical column, (values, None) of any other."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(), np.asarray(column.cat.categories)
    return column.to_numpy(), None


def _outcomes(rows: pd.DataFrame, pooled_days: list[str], rule: BacktestRule):
    """Outcome figures of every matured day and of the pooled days.

    A Categorical day column (see :func:`_with_days`) goes in as its codes, the order ``np.unique`` would give the
    day strings; the account key (a 64-bit hash) goes in as it is."""
    labelled = rows[rows["label"].notna()]
    day, day_names = _codes(labelled["day"])
    account, _ = _codes(labelled["account_key"])
    pooled = pooled_days
    if day_names is not None:
        position = {d: i for i, d in enumerate(day_names.tolist())}
        pooled = [position[d] for d in pooled_days if d in position]
    per_day, pooled_figures = compare_outcomes(
        labelled["label"].to_numpy(dtype=np.float64),
        account,
        day,
        {m: labelled[f"{m}_probability"].to_numpy(dtype=np.float64) for m in MODEL_ROLES},
        {m: labelled[f"{m}_tier"].to_numpy() for m in MODEL_ROLES},
        pooled,
        confidence=rule.confidence,
    )
    if day_names is not None:
        per_day = {day_names[k]: v for k, v in per_day.items()}
    return per_day, pooled_figures


def _alerts(rows: pd.DataFrame, rule: BacktestRule) -> dict[str, Any]:
    return compare_alerts({m: rows[f"{m}_tier"].to_numpy() for m in MODEL_ROLES}, rule.confidence)


def judge(
    rows: pd.DataFrame,
    days: list[str],
    candidate_scored: dict[str, dict[str, int]],
    champion_days: set[str],
    matured_days: set[str],
    validation_start: date,
    rule: BacktestRule,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each day's status and figures, and the pooled summary of the judged days."""
    status = {}
    for day in days:
        if day not in champion_days:
            status[day] = NO_CHAMPION_SCORES
        elif day not in matured_days:
            status[day] = LABELS_PENDING
        else:
            status[day] = IN_TRAINING if date.fromisoformat(day) < validation_start else JUDGED
    matured = [d for d in days if status[d] in (JUDGED, IN_TRAINING)]
    judged = [d for d in days if status[d] == JUDGED]
    outcomes, pooled_outcomes = _outcomes(rows[rows["day"].isin(matured)], judged, rule)
    by_day = dict(tuple(rows.groupby("day", sort=True, observed=True))) if len(rows) else {}
    notes = {
        NO_CHAMPION_SCORES: "the champion published no scores this day: not comparable",
        LABELS_PENDING: "label window not closed yet: alerts only",
        IN_TRAINING: f"before the candidate's validation_start {validation_start}: in its fit, not pooled",
        JUDGED: "out of the candidate's fit: pooled",
    }
    per_day = []
    for day in days:
        entry: dict[str, Any] = {
            "day": day,
            "status": status[day],
            "note": notes[status[day]],
            "candidate_tiers": candidate_scored.get(day, {}),
        }
        if status[day] != NO_CHAMPION_SCORES:
            entry["alerts"] = _alerts(by_day.get(day, rows.iloc[:0]), rule)
        if day in outcomes:
            entry["outcomes"] = outcomes[day]
        per_day.append(entry)
    pooled = rows[rows["day"].isin(judged)] if judged else None
    return per_day, pooled_summary(per_day, _alerts(pooled, rule) if pooled is not None else None, pooled_outcomes)


def run_backtest(
    con,
    registry: ModelRegistry,
    *,
    candidate_version: str | None = None,
    days: int | None = None,
    rule: BacktestRule | None = None,
) -> BacktestResult:
    """Replay the candidate over the newest ``days`` feature days (default ``rule.days``), write its scores to
    ``scoring.backtest_scores`` and judge it against the champion's published scores and the matured labels.

    Every check (days, models, feature history) comes before anything is written.
    """
    rule = rule or BacktestRule()
    days = rule.days if days is None else days
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise BacktestError(f"--days must be a whole number of days, at least 1; got {days!r}")
    candidate, champion = backtest_models(registry, candidate_version)
    replay_days = feature_days(con, days)
    model = registry.load(candidate.version)
    started = time.perf_counter()
    tables, chunks, scored = [], [], {}
    for day in replay_days:
        features = read_day_with_champion(con, day, champion.version)
        table = score_day(model, features, day)
        tables.append(table)
        chunks.append(comparison_rows(day, features, table))
        tiers = {row["values"]: row["counts"] for row in pc.value_counts(table.column("tier")).to_pylist()}
        scored[day] = {t: int(tiers.get(t, 0)) for t in TIERS}
    scoring_done = time.perf_counter()
    rows_scored = write_backtest_scores(con, pa.concat_tables(tables), candidate.version, replay_days)
    written = time.perf_counter()
    per_day, summary = judge(
        _with_days(replay_days, chunks),
        replay_days,
        scored,
        _champion_scored_days(con, champion.version, replay_days),
        _matured_days(con, replay_days),
        candidate.validation_start,
        rule,
    )
    summary["candidate_validation_start"] = candidate.validation_start.isoformat()
    summary["champion_kind"] = champion.kind
    verdict, reasons = backtest_verdict(summary, rule)
    done = time.perf_counter()
    return BacktestResult(
        candidate_version=candidate.version,
        champion_version=champion.version,
        champion_kind=champion.kind,
        days=replay_days,
        per_day=per_day,
        summary=summary,
        rule=rule,
        verdict=verdict,
        reasons=reasons,
        rows_scored=rows_scored,
        seconds={
            "score": round(scoring_done - started, 3),
            "write": round(written - scoring_done, 3),
            "judge": round(done - written, 3),
        },
    )

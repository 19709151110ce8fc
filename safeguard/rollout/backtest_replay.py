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


def _detached(column: pa.ChunkedArray) -> pa.Array:
    """A copy of ``column`` that owns its buffers. A column of a table DuckDB exported shares the release of the
    whole record batch: holding it for the write would keep every day's feature table alive (about 17 MB a day at
    100k accounts, 170 MB a day at 1M), and each new day would touch fresh memory."""
    return pa.concat_arrays(column.chunks) if column.num_chunks else pa.array([], column.type)


def score_day(model: TrainedModel, features: pd.DataFrame | pa.Table, day: str) -> pa.Table:
    """Probability and tier of every account of one day's features, as the daily scoring computes them.

    ``features``: a frame (as :func:`safeguard.scoring.read_day_features` reads it) or an Arrow table (as
    :func:`read_day_with_champion` reads it: no account id becomes a Python string)."""
    X = model.matrix(features, where=f"features for {day}")
    probability = model.calibrator(model.raw_margin(X))
    tier = tier_index(probability, model.thresholds)
    n = len(features)
    accounts = features["account_id"]
    return pa.table(
        {
            "model_version": pa.DictionaryArray.from_arrays(np.zeros(n, np.int8), [model.version]).cast(pa.string()),
            "score_date": pa.array(np.full(n, np.datetime64(day, "D")), pa.date32()),
            "account_id": _detached(accounts)
            if isinstance(accounts, pa.ChunkedArray)
            else pa.array(accounts, pa.string()),
            "probability": pa.array(probability, pa.float64()),
            "tier": pa.DictionaryArray.from_arrays(tier.astype(np.int8), list(TIERS)).cast(pa.string()),
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


def read_day_with_champion(con, day: str, champion: str) -> pa.Table:
    """One day's rows of ``marts.fct_account_features`` (every column, in no particular order) as an Arrow table,
    with, per account, what the backtest compares the candidate against:

    - the champion's published probability and tier (index into ``TIERS``; NULL where it published none);
    - the matured label (NULL while the label window is open);
    - a 64-bit key of the account id (DuckDB's ``hash``), which clusters the intervals by account with no Python
      string per row (two of a million accounts share a key with probability ~3e-8; they would only be counted
      as one cluster).

    One read per day, joined where the rows are: no second pass over the candidate's scores. Arrow, unsorted: the
    scores are written and judged as sets, and nothing turns an account id into a Python string."""
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
            WHERE f.as_of_date = $day""",
        {"day": date.fromisoformat(day), "champion": champion},
    ).to_arrow_table()


def _repeated_account(accounts: pa.ChunkedArray, keys: np.ndarray) -> str | None:
    """An account id that occurs more than once, or None. Distinct 64-bit keys prove distinct ids (a hash count
    of integers, no string touched); only when two keys agree are the ids themselves counted."""
    if len(pd.unique(keys)) == len(keys):
        return None
    counts = pc.value_counts(accounts)
    repeated = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
    return repeated[0].as_py() if len(repeated) else None  # None: two ids that share a hash, no repeat


def comparison_rows(day: str, features: pa.Table, candidate_scores: pa.Table) -> pd.DataFrame:
    """The day's rows both models scored: account_key, both probabilities and tiers, label (NaN while pending).
    ``features`` as :func:`read_day_with_champion` reads them, ``candidate_scores`` as :func:`score_day` scores them
    (the same rows, in the same order). A repeated account (in the features, the champion's scores or the labels:
    the join multiplies it) or a champion tier outside ``TIERS`` is refused before anything is written."""
    keys = features.column(_ACCOUNT_KEY).to_numpy()
    repeated = _repeated_account(features.column("account_id"), keys)
    if repeated is not None:
        raise BacktestError(
            f"{day}: account {repeated} has more than one row in the features, the champion's published scores or "
            "the labels of that day; each must hold one row per account and day"
        )
    published = features.column(_CHAMPION_PROBABILITY).is_valid().to_numpy(zero_copy_only=False)
    champion_tier = pc.fill_null(features.column(_CHAMPION_TIER), -1).to_numpy()[published]
    if (champion_tier < 0).any():
        raise BacktestError(f"champion scores of {day} hold a tier outside {list(TIERS)}")
    candidate_tier = pc.index_in(candidate_scores.column("tier"), value_set=pa.array(TIERS)).to_numpy(
        zero_copy_only=False
    )

    def numbers(column: str) -> np.ndarray:  # float64, NULL as NaN
        return pc.fill_null(features.column(column).cast(pa.float64()), np.nan).to_numpy()[published]

    return pd.DataFrame(
        {
            "account_key": keys[published],
            "candidate_probability": candidate_scores.column("probability").to_numpy()[published],
            "candidate_tier": candidate_tier[published].astype(np.int8),
            "champion_probability": numbers(_CHAMPION_PROBABILITY),
            "champion_tier": champion_tier.astype(np.int8),
            "label": numbers(_LABEL),
        },
        copy=False,
    )


def _with_days(days: list[str], chunks: list[pd.DataFrame]) -> pd.DataFrame:
    """The days' comparison rows as one frame, ``day`` a Categorical over ``days`` (sorted ISO dates). Column by
    column, and the frame holds the concatenated arrays without copying them again."""
    columns = {c: np.concatenate([chunk[c].to_numpy() for chunk in chunks]) for c in chunks[0].columns}
    codes = np.repeat(np.arange(len(days), dtype=np.int32), [len(c) for c in chunks])
    return pd.DataFrame({"day": pd.Categorical.from_codes(codes, categories=days), **columns}, copy=False)


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


def _day_codes(column: pd.Series, days: list[str]) -> np.ndarray:
    """Each row's position in ``days`` (-1 for a day not in it): a Categorical's codes (see :func:`_with_days`)
    are mapped through its categories, any other column is matched by value."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        position = np.array([days.index(d) if d in days else -1 for d in column.cat.categories], dtype=np.int32)
        return position[column.cat.codes.to_numpy()] if position.size else np.full(len(column), -1, np.int32)
    return pd.Index(days).get_indexer(column.to_numpy())


def _outcomes(rows: pd.DataFrame, day: np.ndarray, matured: np.ndarray, pooled_days: list[int], rule: BacktestRule):
    """Outcome figures of every matured day and of the pooled days: the labelled rows of the days whose position
    is in ``matured``; the account key (a 64-bit hash) goes in as it is. Keyed by day position."""
    labelled = np.flatnonzero(matured[day] & rows["label"].notna().to_numpy())

    def column(name: str, dtype=None) -> np.ndarray:
        return rows[name].to_numpy(dtype=dtype)[labelled]

    return compare_outcomes(
        column("label", np.float64),
        column("account_key"),
        day[labelled],
        {m: column(f"{m}_probability", np.float64) for m in MODEL_ROLES},
        {m: column(f"{m}_tier") for m in MODEL_ROLES},
        pooled_days,
        confidence=rule.confidence,
    )


def judge(
    rows: pd.DataFrame,
    days: list[str],
    candidate_scored: dict[str, dict[str, int]],
    champion_days: set[str],
    matured_days: set[str],
    validation_start: date,
    rule: BacktestRule,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each day's status and figures, and the pooled summary of the judged days.

    ``rows``: the comparison rows of ``days`` (day, account_key, both models' probability and tier, label NaN
    while pending). Worked on as numpy columns: no copy of the frame per day or per selection."""
    status = {}
    for day in days:
        if day not in champion_days:
            status[day] = NO_CHAMPION_SCORES
        elif day not in matured_days:
            status[day] = LABELS_PENDING
        else:
            status[day] = IN_TRAINING if date.fromisoformat(day) < validation_start else JUDGED
    day_of_row = _day_codes(rows["day"], days)
    in_days = np.r_[np.array([status[d] for d in days], dtype=object), None]  # position -1: not a replayed day
    matured = np.isin(in_days, [JUDGED, IN_TRAINING])
    judged = np.flatnonzero(in_days == JUDGED).tolist()
    outcomes, pooled_outcomes = _outcomes(rows, day_of_row, matured, judged, rule)
    tiers = {m: rows[f"{m}_tier"].to_numpy() for m in MODEL_ROLES}
    order = np.argsort(day_of_row, kind="stable")
    bounds = np.searchsorted(day_of_row[order], np.arange(len(days) + 1))

    def alerts(selection: np.ndarray) -> dict[str, Any]:
        return compare_alerts({m: t[selection] for m, t in tiers.items()}, rule.confidence)

    notes = {
        NO_CHAMPION_SCORES: "the champion published no scores this day: not comparable",
        LABELS_PENDING: "label window not closed yet: alerts only",
        IN_TRAINING: f"before the candidate's validation_start {validation_start}: in its fit, not pooled",
        JUDGED: "out of the candidate's fit: pooled",
    }
    per_day = []
    for j, day in enumerate(days):
        entry: dict[str, Any] = {
            "day": day,
            "status": status[day],
            "note": notes[status[day]],
            "candidate_tiers": candidate_scored.get(day, {}),
        }
        if status[day] != NO_CHAMPION_SCORES:
            entry["alerts"] = alerts(order[bounds[j] : bounds[j + 1]])
        if j in outcomes:
            entry["outcomes"] = outcomes[j]
        per_day.append(entry)
    pooled = alerts(np.flatnonzero(np.isin(day_of_row, judged))) if judged else None
    return per_day, pooled_summary(per_day, pooled, pooled_outcomes)


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

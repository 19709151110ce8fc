"""Detection quality on held-out days, overall and per abuse archetype, next to the transparent rules baseline.

The registry's validation metrics say how well a model ranks the *enforcement label* overall. A reviewer also
needs to know *which* abuse it finds and whether it finds more than simple rules would: this module scores the
same held-out examples with the model and with a :class:`~safeguard.baseline.RulesBaseline` and measures both,
overall and per abuse archetype, using the ground truth of a synthetic world (``account_id, archetype,
is_abuser, abuse_start``; only a generated world has one).

Two kinds of figures, for two questions:

*Row level, against the enforcement label* (AUC-ROC, AUC-PR, recall at 1% FPR, precision at the daily review
capacity k): the label the model was trained on, "suspended or banned, not reinstated, within H days after D".
Overall = every held-out example. Per archetype A = A's examples (labelled as they are: an abuser before it
is caught is a negative) against the benign accounts' negative examples on the same days. Benign accounts'
*positive* examples (mistaken blocks) belong to no archetype, so they count in the overall row only; other
archetypes' examples are left out, so each row answers "how well does it tell A apart from normal use". Precision
at k is then the precision of the top k per day *within that slice*.

*Account level, against the ground truth* ("abuser recall"): the share of truly abusive accounts, i.e. the
truth's ``is_abuser`` with ``abuse_start`` by the end of a held-out day D (their features as of D could show it),
that the scorer puts above its 1%-FPR alert threshold on at least one held-out day on which they were abusing.
The threshold is the lowest score at which at most 1% of the *truly benign* accounts' examples alert, the same
false-alarm budget for model and rules. Why this figure as well: enforcement labels are late and incomplete (many
abusers are never caught in the window; some are caught weeks after they start), so the row-level metrics count
every uncaught abuser the scorer finds as a false positive and every abuser it finds before the analysts as a
miss; and operations act on accounts, not days: an account that alerts once goes to review. Ties are kept
together (a tied group alerts as a whole or not at all), so a coarse score such as the rules' count of broken
rules cannot reach a finer operating point than its ties allow.

Benign populations get their own small table: the share of each one's examples and accounts that alert at the
same thresholds, i.e. where the false alarms come from (security researchers look like jailbreak probing).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from safeguard.baseline import RulesBaseline
from safeguard.dates import day_range
from safeguard.examples import KEY_COLUMNS, LABEL_COLUMN, example_weights
from safeguard.metrics import (
    DEFAULT_FPR,
    DEFAULT_REVIEW_CAPACITY,
    average_precision,
    precision_at_k,
    recall_at_fpr,
    roc_auc,
    threshold_curve,
)
from safeguard.quality_report import (
    HEADING,
    MODEL,
    OVERALL,
    RULES,
    SCORERS,
    BenignAlerts,
    DetectionReport,
    SegmentQuality,
)
from safeguard.risk_model import TrainedModel

__all__ = [  # what callers import from here; the report's types live in safeguard.quality_report
    "HEADING",
    "MODEL",
    "OVERALL",
    "RULES",
    "SCORERS",
    "TRUTH_COLUMNS",
    "BenignAlerts",
    "DetectionReport",
    "QualityDataError",
    "SegmentQuality",
    "alert_threshold",
    "card_section",
    "check_truth",
    "evaluate_detection",
    "read_truth",
]

TRUTH_COLUMNS = ("account_id", "archetype", "is_abuser", "abuse_start")


class QualityDataError(ValueError):
    """The examples or the ground truth cannot be evaluated; the message says what is wrong and where."""


# --------------------------------------------------------------------------------------------------------------
# Inputs


def read_truth(path) -> pd.DataFrame:
    """The ground-truth Parquet file of a synthetic world, checked (see :func:`check_truth`)."""
    return check_truth(pd.read_parquet(path), where=str(path))


def check_truth(truth: pd.DataFrame, *, where: str = "ground truth") -> pd.DataFrame:
    """The truth with ``abuse_start`` as naive UTC, after checking its columns and that accounts are unique."""
    missing = [c for c in TRUTH_COLUMNS if c not in truth.columns]
    if missing:
        raise QualityDataError(f"{where}: missing column(s) {missing}; expected {list(TRUTH_COLUMNS)}")
    duplicated = truth["account_id"][truth["account_id"].duplicated()]
    if not duplicated.empty:
        raise QualityDataError(
            f"{where}: {duplicated.nunique()} account_id(s) appear more than once, e.g. {duplicated.iloc[:3].tolist()}"
        )
    if truth["is_abuser"].isna().any() or truth["archetype"].isna().any():
        raise QualityDataError(f"{where}: is_abuser and archetype must not be null")
    start = pd.to_datetime(truth["abuse_start"], utc=True).dt.tz_localize(None)
    no_start = truth["is_abuser"].astype(bool) & start.isna()
    if no_start.any():
        raise QualityDataError(
            f"{where}: abusive account(s) without abuse_start, e.g. {truth['account_id'][no_start].iloc[:3].tolist()}"
        )
    return truth.assign(is_abuser=truth["is_abuser"].astype(bool), abuse_start=start)


def _held_out_rows(examples: pd.DataFrame, days: Iterable) -> pd.DataFrame:
    """The examples of exactly ``days``, in hashed order; every requested day must have examples (nothing is
    silently skipped)."""
    missing = [c for c in (*KEY_COLUMNS, LABEL_COLUMN) if c not in examples.columns]
    if missing:
        raise QualityDataError(f"held-out examples: missing column(s) {missing}")
    wanted = pd.DatetimeIndex(pd.to_datetime(list(days))).normalize().unique()
    if wanted.empty:
        raise QualityDataError("no held-out days given")
    as_of = pd.to_datetime(examples["as_of_date"]).dt.normalize()
    keep = as_of.isin(wanted).to_numpy()
    absent = wanted.difference(pd.DatetimeIndex(as_of[keep].unique()))
    if not absent.empty:
        span = f"{as_of.min().date()} .. {as_of.max().date()}" if len(as_of) else "no rows"
        raise QualityDataError(
            f"held-out examples: no example on {len(absent)} of the {len(wanted)} held-out day(s), e.g. "
            f"{[d.date().isoformat() for d in absent[:5]]}; the examples cover {span}"
        )
    rows = examples.loc[keep].assign(as_of_date=as_of[keep])
    # A reproducible stand-in for random order, whatever order the rows came in: precision at k breaks ties at
    # the cut by row order, and the rules' small integer scores tie a lot.
    order = np.argsort(pd.util.hash_pandas_object(rows[list(KEY_COLUMNS)], index=False).to_numpy(), kind="stable")
    return rows.iloc[order].reset_index(drop=True)


# --------------------------------------------------------------------------------------------------------------
# Evaluation


def alert_threshold(score: np.ndarray, benign: np.ndarray, weight: np.ndarray, max_fpr: float) -> float:
    """The lowest score s such that at most ``max_fpr`` of the benign rows (weighted) score >= s; +inf if none.

    Tied scores move together: a tie group either alerts as a whole or not at all.
    """
    n_benign = float(weight[benign].sum())
    if n_benign == 0:
        raise QualityDataError("held-out examples: no benign account, so no false-positive rate can be measured")
    _, fp, thresholds = threshold_curve((~benign).astype(np.float64), score, weight)
    ok = fp / n_benign <= max_fpr
    return float(thresholds[ok][-1]) if ok.any() else float("inf")


def _ranking(y, s, w, day, mask, review_capacity: int, max_fpr: float) -> dict[str, float]:
    y, s, w, day = y[mask], s[mask], w[mask], day[mask]
    return {
        "auc_roc": roc_auc(y, s, w),
        "auc_pr": average_precision(y, s, w),
        "recall_at_1pct_fpr": recall_at_fpr(y, s, max_fpr, w),
        "precision_at_k": precision_at_k(y, s, day, review_capacity, w) if y.size else float("nan"),
    }


def evaluate_detection(
    examples: pd.DataFrame,
    truth: pd.DataFrame,
    model: TrainedModel,
    baseline: RulesBaseline,
    days: Iterable[str | date],
    *,
    review_capacity: int = DEFAULT_REVIEW_CAPACITY,
    max_fpr: float = DEFAULT_FPR,
) -> DetectionReport:
    """Model and rules on the examples of the held-out ``days``, overall and per abuse archetype.

    ``examples``: ``account_id, as_of_date, label`` plus the model's and the rules' feature columns (and
    ``sample_weight`` if sampled); ``truth``: the world's ground truth (every example's account must be in it).
    The model ranks by its raw margin (as the registry's metrics do), the rules by the number of rules broken.
    """
    truth = check_truth(truth)
    rows = _held_out_rows(examples, days)
    at = pd.Index(truth["account_id"]).get_indexer(rows["account_id"])
    if (at < 0).any():
        unknown = rows["account_id"][at < 0].unique()
        raise QualityDataError(
            f"ground truth: {unknown.size} account(s) of the held-out examples are not in it, e.g. "
            f"{unknown[:3].tolist()}; is it the truth file of the world these examples come from?"
        )
    archetype = truth["archetype"].to_numpy().astype(str)[at]
    abuser = truth["is_abuser"].to_numpy()[at]
    as_of = rows["as_of_date"].to_numpy()
    # Abusing on D: abuse began before the end of D, so the features as of D (events < D + 1 day) can show it.
    abusing = abuser & (truth["abuse_start"].to_numpy()[at] < as_of + np.timedelta64(1, "D"))
    benign = ~abuser
    y = rows[LABEL_COLUMN].to_numpy(dtype=np.float64)
    w = example_weights(rows)
    day = as_of.astype("datetime64[D]")
    account, account_ids = pd.factorize(rows["account_id"])
    n_accounts = account_ids.size

    def per_account_any(flag: np.ndarray) -> np.ndarray:
        return np.bincount(account, weights=flag.astype(np.float64), minlength=n_accounts) > 0

    account_archetype = np.empty(n_accounts, dtype=object)
    account_archetype[account] = archetype
    account_abusing = per_account_any(abusing)

    scores = {
        MODEL: model.raw_margin(model.matrix(rows, where="held-out examples")),
        RULES: baseline.score(rows),
    }
    abuse_archetypes = sorted(truth.loc[truth["is_abuser"], "archetype"].astype(str).unique())
    benign_populations = sorted(truth.loc[~truth["is_abuser"], "archetype"].astype(str).unique())
    slices = {OVERALL: np.ones(len(rows), dtype=bool)}
    slices.update({a: (archetype == a) | (benign & (y == 0)) for a in abuse_archetypes})

    segments, benign_alerts, thresholds = [], [], {}
    for scorer, s in scores.items():
        threshold = alert_threshold(s, benign, w, max_fpr)
        thresholds[scorer] = threshold
        alerted = s >= threshold
        abuser_alerted = per_account_any(abusing & alerted)
        account_alerted = per_account_any(alerted)
        for name, mask in slices.items():
            abusers = account_abusing if name == OVERALL else account_abusing & (account_archetype == name)
            n_abusers, caught = int(abusers.sum()), int((abusers & abuser_alerted).sum())
            segments.append(
                SegmentQuality(
                    scorer=scorer,
                    segment=name,
                    accounts=n_accounts if name == OVERALL else int((account_archetype == name).sum()),
                    examples=int(mask.sum()),
                    positive_accounts=int(per_account_any(mask & (y == 1)).sum()),
                    positives=float((y * w)[mask].sum()),
                    **_ranking(y, s, w, day, mask, review_capacity, max_fpr),
                    abusers=n_abusers,
                    abusers_alerted=caught,
                    abuser_recall=caught / n_abusers if n_abusers else float("nan"),
                )
            )
        for population in benign_populations:
            rows_of = archetype == population
            accounts_of = account_archetype == population
            n_rows_of = float(w[rows_of].sum())
            benign_alerts.append(
                BenignAlerts(
                    scorer=scorer,
                    population=population,
                    accounts=int(accounts_of.sum()),
                    examples=int(rows_of.sum()),
                    example_alert_rate=float(w[rows_of & alerted].sum()) / n_rows_of if n_rows_of else float("nan"),
                    account_alert_rate=float((accounts_of & account_alerted).sum() / accounts_of.sum())
                    if accounts_of.any()
                    else float("nan"),
                )
            )
    first, last = day.min(), day.max()
    return DetectionReport(
        model_version=model.version,
        days=(str(first), str(last)),
        n_days=int(np.unique(day).size),
        review_capacity=review_capacity,
        max_fpr=max_fpr,
        rules=tuple(baseline.describe()),
        alert_thresholds=thresholds,
        segments=tuple(segments),
        benign=tuple(sorted(benign_alerts, key=lambda b: (b.population, b.scorer))),
    )


def card_section(model: TrainedModel, baseline: RulesBaseline | None, truth_path: str | Path) -> str:
    """The model card's per-archetype section for a freshly trained model, on its validation days.

    Only a synthetic world has a ground-truth file: without one (or when it cannot be used) the section says
    why it is missing instead of failing the training run, which has already registered the model.
    """
    heading = f"## {HEADING}"
    if not Path(truth_path).exists():
        return f"{heading}\n\nSkipped: no ground-truth file at {truth_path} (only a synthetic world has one).\n"
    if baseline is None:
        return f"{heading}\n\nSkipped: the examples lack the signal columns the rules read.\n"
    if model.validation_examples is None:
        raise ValueError(f"model {model.version} has no validation examples (only a freshly trained one has)")
    try:
        report = evaluate_detection(
            model.validation_examples,
            read_truth(truth_path),
            model,
            baseline,
            day_range(*model.windows["validation"]),
        )
    except QualityDataError as e:
        return f"{heading}\n\nSkipped: {e}\n"
    return report.markdown(heading_level=2)

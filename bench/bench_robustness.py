"""Detection on worlds the model was never tuned on (issue 14): the pipeline run as an operator runs it, scored on
the worlds' truth next to the rules score and a ceiling. Writes bench/results/robustness.json.

Per world (a preset of :mod:`safeguard.world.params` and a seed; defaults: the three robustness presets and the
default preset, with seeds the demo never uses, 20,000 accounts x 45 days):

1. ``safeguard generate --preset P --seed S`` into a fresh work folder (landing zone + truth file).
2. As an operator: a backfill of the first ``days - eval_days`` days in one ``safeguard run`` (it trains the
   first model, or falls back to the rules champion when no model passes its gate), then the last ``eval_days``
   days with ``--one-run-per-day``, as the daily schedule runs them.
3. Evaluation on those last days (:mod:`safeguard.robustness`): every account-day of the features mart, labelled
   by the truth (an abuser is positive from its ``abuse_start``; abusers already blocked that day are left out),
   overall and per abuse pattern, for these scorers:

   - ``champion``: what the pipeline served (``scoring.account_risk_scores``, role champion; an account-day the
     pipeline did not score counts as the lowest score);
   - ``rules``: the project's transparent rules baseline (:class:`safeguard.baseline.RulesBaseline`, thresholds
     at the 95th percentile of the 14 days before the evaluation; no labels);
   - ``rules_4signal``: the issue's 4-signal rules (flag rate, refusal rate, volume, template reuse), the same way;
   - ``oracle``: the project's LightGBM recipe trained on the TRUE labels of the 14 days before the evaluation:
     a ceiling for what the features allow, not a model anyone could ship;
   - ``policy:<name>``: a model trained by :func:`safeguard.training.train_risk_model` with each label policy of
     :mod:`safeguard.labels` on the examples whose label had matured before the evaluation began (what the
     pipeline could have trained then): the comparison that chooses ``DEFAULT_LABEL_POLICY``.

4. Goal (issue 14): per slice, the champion's AUC-PR at least 4x the rules' and recall at 1% FPR at least 0.8.

Usage::

    python bench/bench_robustness.py                                   # 3 worlds, 20k x 45 (about 20 min each)
    python bench/bench_robustness.py --worlds robust-a:101 --accounts 4000   # one small world, a quick look
    python bench/report.py                                             # REPORT.md from the results
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "bench"
RESULTS = HERE / "results" / "robustness.json"
BIN = Path(sys.executable).parent
sys.path[:0] = [str(ROOT), str(HERE)]

import duckdb
import numpy as np
import pandas as pd
from bench_pipeline import pipeline_env
from process_measure import run_or_die

from safeguard.baseline import DEFAULT_SIGNALS, RulesBaseline
from safeguard.catalog import load_catalog
from safeguard.examples import EXAMPLES_TABLE, read_training_examples
from safeguard.labels import DEFAULT_LABEL_POLICY, LABEL_POLICIES
from safeguard.progress import progress
from safeguard.robustness import (
    LABEL,
    OVERALL,
    RobustnessDataError,
    enforced_account_days,
    evaluate_scorers,
    evaluation_rows,
    goal_checks,
    oracle_scores,
    truth_labels,
)
from safeguard.training import DEFAULT_PARAMS, train_risk_model
from safeguard.world.params import ROBUSTNESS_PRESETS

# The three robustness presets and the default preset, each with a seed the demo never uses.
DEFAULT_WORLDS = (*(f"{p}:{seed}" for p, seed in zip(ROBUSTNESS_PRESETS, (101, 202, 303))), "default:11")
FOUR_SIGNALS = ("flag_rate_any_7d", "refusal_rate_7d", "events_7d", "template_reuse_share_7d")
REFERENCE_DAYS = 14  # the days before the evaluation the rules and the oracle are fitted on
FEATURES_TABLE = "marts.fct_account_features"
LABEL_HORIZON_DAYS = 14
ORACLE_MAX_NEGATIVES = 400_000


def parse_world(text: str) -> tuple[str, int]:
    preset, _, seed = text.partition(":")
    if preset not in ROBUSTNESS_PRESETS + ("default",) or not seed.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected PRESET:SEED with PRESET in {ROBUSTNESS_PRESETS}")
    return preset, int(seed)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------------------------
# 1-2. Generate and run as an operator


def generate(preset: str, seed: int, accounts: int, days: int, start: date, work: Path) -> tuple[Path, Path, dict]:
    landing, truth = work / "landing", work / "truth" / "accounts.parquet"
    figures = run_or_die(
        "generate",
        [
            str(BIN / "safeguard"),
            "generate",
            "--accounts",
            str(accounts),
            "--days",
            str(days),
            "--start",
            start.isoformat(),
            "--seed",
            str(seed),
            "--preset",
            preset,
            "--out",
            str(landing),
            "--truth",
            str(truth),
            "--no-progress",
        ],
        {**os.environ, "PYTHONPATH": str(ROOT)},
        work / "generate.log",
    )
    return landing, truth, figures


def operate(env: dict, start: date, backfill_days: int, eval_days: int, logs: Path) -> dict:
    first_eval = start + timedelta(days=backfill_days)
    last = first_eval + timedelta(days=eval_days - 1)
    safeguard = str(BIN / "safeguard")
    backfill = run_or_die(
        "backfill",
        [safeguard, "run", "--start", start.isoformat(), "--end", (first_eval - timedelta(days=1)).isoformat()],
        env,
        logs / "backfill.log",
    )
    log(f"  backfill of {backfill_days} days: {backfill['wall_s']:.0f} s")
    daily = run_or_die(
        "daily runs",
        [safeguard, "run", "--start", first_eval.isoformat(), "--end", last.isoformat(), "--one-run-per-day"],
        env,
        logs / "daily.log",
    )
    log(f"  {eval_days} daily runs: {daily['wall_s']:.0f} s")
    return {
        "backfill": {k: backfill[k] for k in ("wall_s", "cpu_s", "peak_rss_mib", "log")},
        "daily": {k: daily[k] for k in ("wall_s", "cpu_s", "peak_rss_mib", "log")},
        "eval_days": [first_eval.isoformat(), last.isoformat()],
    }


# ---------------------------------------------------------------------------------------------------------------
# 3. Evaluate


def _days(table: str, column: str, first: date, last: date) -> str:
    return f"{table} WHERE {column} BETWEEN DATE '{first.isoformat()}' AND DATE '{last.isoformat()}'"


def read_world(warehouse: Path, first_eval: date, last: date, names: list[str]) -> dict:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cols = ", ".join(["account_id", "as_of_date", *names])
        ref_first = first_eval - timedelta(days=REFERENCE_DAYS)
        evaluated = con.execute(f"SELECT {cols} FROM {_days(FEATURES_TABLE, 'as_of_date', first_eval, last)}").df()
        reference = con.execute(
            f"SELECT {cols} FROM {_days(FEATURES_TABLE, 'as_of_date', ref_first, first_eval - timedelta(days=1))}"
        ).df()
        scores = con.execute(
            "SELECT account_id, score_date AS as_of_date, raw_margin AS champion_score, model_version "
            f"FROM {_days('scoring.account_risk_scores', 'score_date', first_eval, last)} "
            "AND model_role = 'champion'"
        ).df()
        actions = con.execute("SELECT account_id, action, action_ts FROM raw.enforcement_actions").df()
        # the examples whose label had matured before the evaluation began: what a retrain then could use
        matured_last = first_eval - timedelta(days=LABEL_HORIZON_DAYS + 1)
        con.execute(
            f"CREATE TEMP VIEW matured AS SELECT * FROM {EXAMPLES_TABLE} "
            f"WHERE as_of_date <= DATE '{matured_last.isoformat()}'"
        )
        examples = read_training_examples(con, table="matured")
        versions = con.execute(
            "SELECT model_version, count(DISTINCT score_date) FROM scoring.account_risk_scores "
            "WHERE model_role = 'champion' AND score_date BETWEEN ? AND ? GROUP BY 1 ORDER BY 1",
            [first_eval, last],
        ).fetchall()
    finally:
        con.close()
    return {
        "evaluated": evaluated,
        "reference": reference,
        "scores": scores,
        "actions": actions,
        "examples": examples,
        "champion_versions": {v: int(n) for v, n in versions},
    }


def _days_index(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(as_of_date=pd.to_datetime(frame["as_of_date"]).dt.normalize())


def evaluate_world(warehouse: Path, truth_path: Path, first_eval: date, last: date, policies: list[str]) -> dict:
    catalog = load_catalog()
    names = [f.name for f in catalog]
    data = read_world(warehouse, first_eval, last, names)
    truth = pd.read_parquet(truth_path)
    days = pd.date_range(first_eval, last, freq="D")
    evaluated = _days_index(data["evaluated"])
    frame = evaluation_rows(evaluated, truth, enforced_account_days(data["actions"], days))

    scores = _days_index(data["scores"])
    frame = frame.merge(
        scores[["account_id", "as_of_date", "champion_score"]],
        on=["account_id", "as_of_date"],
        how="left",
        validate="one_to_one",
    )
    unscored = int(frame["champion_score"].isna().sum())
    if unscored:  # not scored = not flagged: below every served score
        served = frame["champion_score"].dropna()
        frame["champion_score"] = frame["champion_score"].fillna(served.min() - 1.0 if len(served) else 0.0)

    reference = _days_index(data["reference"])
    rules = RulesBaseline.fit(reference, DEFAULT_SIGNALS)
    four = RulesBaseline.fit(reference, FOUR_SIGNALS)
    frame["rules_score"] = rules.score(frame)
    frame["rules_4signal_score"] = four.score(frame)
    scorers = {"champion": "champion_score", "rules": "rules_score", "rules_4signal": "rules_4signal_score"}
    timings: dict[str, float] = {}

    started = time.perf_counter()
    ref_labelled = truth_labels(reference, truth)
    y = ref_labelled[LABEL].to_numpy(dtype=np.float64)
    rng = np.random.default_rng(0)
    neg = np.flatnonzero(y == 0)
    keep = np.sort(
        np.concatenate([np.flatnonzero(y == 1), rng.choice(neg, min(len(neg), ORACLE_MAX_NEGATIVES), replace=False)])
    )
    X_ref = ref_labelled[names].to_numpy(dtype=np.float64)[keep]
    frame["oracle_score"] = oracle_scores(X_ref, y[keep], frame[names].to_numpy(dtype=np.float64), DEFAULT_PARAMS)
    scorers["oracle"] = "oracle_score"
    timings["oracle_s"] = round(time.perf_counter() - started, 1)

    trained: dict[str, dict] = {}
    for policy in policies:
        started = time.perf_counter()
        try:
            model = train_risk_model(data["examples"], catalog, label_policy=policy)
        except ValueError as e:  # TrainingDataError: a refusal is a result, not a crash
            trained[policy] = {"refused": str(e)}
            continue
        column = f"policy_{policy}_score"
        frame[column] = model.raw_margin(model.matrix(frame))
        scorers[f"policy:{policy}"] = column
        trained[policy] = {
            "version": model.version,
            "train_s": round(time.perf_counter() - started, 1),
            "enforcement_label_metrics": {k: model.metrics.get(k) for k in ("auc_pr", "auc_roc", "recall_at_1pct_fpr")},
            "training_window": list(model.training_window),
        }

    metrics = evaluate_scorers(frame, scorers)
    goals = {
        "vs_rules": goal_checks(metrics, "champion", "rules"),
        "vs_rules_4signal": goal_checks(metrics, "champion", "rules_4signal"),
    }
    return {
        "rows": len(frame),
        "positives": int(frame[LABEL].sum()),
        "abusers_scored": int(frame.loc[frame[LABEL], "account_id"].nunique()),
        "champion_unscored_rows": unscored,
        "champion_versions": data["champion_versions"],
        "matured_examples": len(data["examples"]),
        "rules": rules.describe(),
        "rules_4signal": four.describe(),
        "policies": trained,
        "default_label_policy": DEFAULT_LABEL_POLICY,
        "metrics": metrics,
        "goal": goals,
        "timings": timings,
    }


# ---------------------------------------------------------------------------------------------------------------


def run_world(preset: str, seed: int, args) -> dict:
    name = f"{preset}-{seed}"
    work = Path(args.work) / name
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if args.evaluate_only:  # the world and its pipeline run are already in the work folder
        truth, gen = work / "truth" / "accounts.parquet", {"wall_s": None}
        env = {"WAREHOUSE_PATH": str(work / "pipeline" / "home" / "warehouse.duckdb")}
        first_eval = args.start + timedelta(days=args.days - args.eval_days)
        ran = {
            "eval_days": [first_eval.isoformat(), (first_eval + timedelta(days=args.eval_days - 1)).isoformat()],
            "backfill": {"wall_s": None},
            "daily": {"wall_s": None},
            "evaluate_only": True,
        }
        if not Path(env["WAREHOUSE_PATH"]).exists():
            raise SystemExit(f"--evaluate-only: no pipeline run in {work}")
    else:
        log(f"{name}: generating {args.accounts:,} accounts x {args.days} days")
        landing, truth, gen = generate(preset, seed, args.accounts, args.days, args.start, work)
        env = pipeline_env(work / "pipeline", str(landing), truth, args.start.isoformat(), None, None)
        ran = operate(env, args.start, args.days - args.eval_days, args.eval_days, work)
    first_eval, last = (date.fromisoformat(d) for d in ran["eval_days"])
    log(f"{name}: evaluating {first_eval} .. {last}")
    started_eval = time.perf_counter()
    result = evaluate_world(Path(env["WAREHOUSE_PATH"]), truth, first_eval, last, args.policies)
    result["timings"]["evaluate_s"] = round(time.perf_counter() - started_eval, 1)
    truth_frame = pd.read_parquet(truth)
    out = {
        "world": {
            "preset": preset,
            "seed": seed,
            "accounts": args.accounts,
            "days": args.days,
            "start": args.start.isoformat(),
            "abusers": int(truth_frame["is_abuser"].sum()),
            "archetypes": truth_frame["archetype"].value_counts().to_dict(),
            "generate_s": gen["wall_s"],
        },
        "operation": ran,
        **result,
        "seconds": round(time.perf_counter() - started, 1),
    }
    m = out["metrics"]
    log(
        f"{name}: AUC-PR champion {m['champion'][OVERALL]['auc_pr']:.3f}, rules {m['rules'][OVERALL]['auc_pr']:.3f}, "
        f"oracle {m['oracle'][OVERALL]['auc_pr']:.3f}; recall@1%FPR champion "
        f"{m['champion'][OVERALL]['recall_at_1pct_fpr']:.3f} ({out['seconds']:.0f} s)"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--worlds",
        nargs="+",
        type=parse_world,
        default=[parse_world(w) for w in DEFAULT_WORLDS],
        metavar="PRESET:SEED",
        help=f"worlds to run (default: {' '.join(DEFAULT_WORLDS)})",
    )
    parser.add_argument("--accounts", type=int, default=20_000, help="accounts per world")
    parser.add_argument("--days", type=int, default=45, help="days per world (backfill = days - eval-days)")
    parser.add_argument("--eval-days", type=int, default=7, help="last days, run one per day and evaluated")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 9, 1), help="first day")
    parser.add_argument(
        "--policies",
        nargs="*",
        default=list(LABEL_POLICIES),
        choices=list(LABEL_POLICIES),
        help="label policies to train and compare (none: skip the comparison)",
    )
    parser.add_argument("--work", default="/tmp/bench-robustness", help="work folder (one sub-folder per world)")
    parser.add_argument(
        "--evaluate-only",
        action="store_true",
        help="do not generate or run: evaluate the worlds a previous run left in --work",
    )
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    if args.days - args.eval_days < LABEL_HORIZON_DAYS + 20:
        parser.error("the backfill needs at least 34 days (20 days of examples + the 14-day label horizon)")

    worlds = []
    # a bar on a terminal; in a log, a line with the worlds done and the time left after each world
    for preset, seed in progress(args.worlds, "robustness", unit="world", every_s=0.0):
        try:
            worlds.append(run_world(preset, seed, args))
        except (SystemExit, RobustnessDataError) as e:
            log(f"{preset}-{seed}: FAILED: {e}")
            worlds.append(
                {
                    "world": {"preset": preset, "seed": seed, "accounts": args.accounts, "days": args.days},
                    "failed": str(e),
                }
            )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "what": "detection on unseen worlds, the pipeline run as an operator runs it (see bench_robustness.py)",
                "measured_on": date.today().isoformat(),
                "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
                "goal": {"auc_pr_vs_rules": 4.0, "recall_at_1pct_fpr": 0.8},
                "worlds": worlds,
            },
            indent=1,
            default=str,
        )
        + "\n"
    )
    log(f"wrote {out}")


if __name__ == "__main__":
    main()

"""Benchmark: the offline backtest over 28 days next to scoring the same 28 days directly with the same model.

A throwaway DuckDB warehouse holds ``--accounts`` accounts x ``--days`` feature days of synthetic marts rows
(``tests.model_factory``: 20 features, ~3% positives), matured labels for the older half of the days, and the
champion's published scores for every day; a throwaway SQLite registry holds a champion and a candidate (real
LightGBM models trained on the factory's examples). Then, in one process, best of ``--repeats``:

- floor: score the days directly, as the daily scoring does without reasons: for each day read its features and
  compute probability and tier with the candidate, then store those rows (the same table and the same write as the
  backtest's, under a version of the floor's; from the second repeat on, both replace their previous rows). Its
  compute-only part (nothing stored) is reported too, with the backtest's ratio to it;
- backtest: :func:`safeguard.rollout.backtest_replay.run_backtest` (each day read with the champion's scores and
  its labels, the same scoring, the write to ``scoring.backtest_scores``, the per-day and pooled figures with
  their intervals).

Writes ``bench/results/backtest.json``; ``bench/report.py`` turns it into the REPORT section.

    python bench/bench_backtest.py [--accounts 100000] [--days 28] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from safeguard.landing import ObjectStore
from safeguard.registry import ModelRegistry
from safeguard.rollout.backtest_replay import run_backtest, score_day, write_backtest_scores
from safeguard.scoring import SCORES_SCHEMA, read_day_features, write_scores
from safeguard.serving.db import engine_for, upgrade
from safeguard.tiers import tier_index
from safeguard.vocabulary import TIERS
from tests import model_factory as mf

RESULTS = ROOT / "bench" / "results" / "backtest.json"
FIRST_DAY = "2026-08-15"  # after both models' training days (the factory's examples end 2026-07-30)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_world(folder: str, accounts: int, days: int):
    from safeguard.training import train_risk_model

    champion = mf.trained_model(seed=7)
    candidate = train_risk_model(mf.training_examples(seed=1), mf.feature_specs(), seed=8)
    engine = engine_for(f"sqlite:///{folder}/serving.db")
    upgrade(engine)
    registry = ModelRegistry(engine, ObjectStore(f"{folder}/models"))
    registry.register(champion, "champion")
    registry.register(candidate, "candidate")
    day_list = mf.day_strings(FIRST_DAY, days)
    con = duckdb.connect(f"{folder}/warehouse.duckdb")
    con.execute("CREATE SCHEMA marts")
    for i, day in enumerate(day_list):
        frame = mf.synthetic_frame(accounts, [day], seed=100 + i)
        frame["as_of_date"] = pd.to_datetime(frame["as_of_date"]).dt.date
        features = frame.drop(columns="label")
        for table, rows in (("fct_account_features", features), ("fct_training_examples", frame)):
            if table == "fct_training_examples" and i >= days // 2:
                continue  # the newer half's labels have not matured
            con.register("_rows", rows)
            exists = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'marts' AND table_name = ?",
                [table],
            ).fetchone()[0]
            con.execute(
                f"INSERT INTO marts.{table} SELECT * FROM _rows"
                if exists
                else f"CREATE TABLE marts.{table} AS SELECT * FROM _rows"
            )
            con.unregister("_rows")
        margin = champion.raw_margin(champion.matrix(features))
        p = champion.calibrator(margin)
        n = len(features)
        write_scores(
            con,
            pa.table(
                {
                    "score_date": pa.array(np.full(n, np.datetime64(day, "D")), pa.date32()),
                    "account_id": features["account_id"].to_numpy(),
                    "model_version": [champion.version] * n,
                    "model_role": ["champion"] * n,
                    "probability": p,
                    "raw_margin": margin,
                    "tier": np.asarray(TIERS, dtype=object)[tier_index(p, champion.thresholds)],
                    "explained": np.zeros(n, dtype=bool),
                    "explain_reason": pa.nulls(n, pa.string()),
                    "reasons_json": pa.nulls(n, pa.string()),
                },
                schema=SCORES_SCHEMA,
            ),
            [day],
        )
    return con, registry, candidate.version, day_list


def floor(con, model, day_list) -> dict[str, float]:
    """Score the days directly, as the daily scoring does without reasons: read each day's features, compute
    probability and tier, and store them (the backtest's own table, under a version of the floor's: the same rows
    and the same write as the backtest's; from the second repeat on, each replaces its previous repeat's rows)."""
    version = f"{model.version}-floor"
    start = time.perf_counter()
    tables = [score_day(model, read_day_features(con, day), day) for day in day_list]
    scored = time.perf_counter()
    write_backtest_scores(con, pa.concat_tables(tables), version, day_list)
    done = time.perf_counter()
    return {"score": scored - start, "write": done - scored}


def _rounded(seconds: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 2) for k, v in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--notes", default="", help="what changed and where the time goes, printed under the table")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as folder:
        started = time.perf_counter()
        con, registry, candidate, day_list = build_world(folder, args.accounts, args.days)
        setup = time.perf_counter() - started
        print(f"world: {args.accounts:,} accounts x {args.days} days in {setup:.1f}s", flush=True)
        model = registry.load(candidate)
        floors, backtests, parts, result = [], [], [], None
        for _ in range(args.repeats):
            floors.append(floor(con, model, day_list))
            start = time.perf_counter()
            result = run_backtest(con, registry, days=args.days)
            backtests.append(time.perf_counter() - start)
            parts.append(result.seconds)
            print(
                f"floor {sum(floors[-1].values()):.2f}s {_rounded(floors[-1])}, backtest {backtests[-1]:.2f}s "
                f"{result.seconds}",
                flush=True,
            )
        con.close()
    report = {
        "accounts": args.accounts,
        "days": args.days,
        "features": 20,
        "trees": int(model.booster.num_trees()),
        "repeats": args.repeats,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average": list(os.getloadavg()),
        "floor_seconds": round(min(sum(f.values()) for f in floors), 2),
        "floor_parts_seconds": _rounded(min(floors, key=lambda f: sum(f.values()))),
        "floor_compute_only_seconds": round(min(f["score"] for f in floors), 2),
        "backtest_seconds": round(min(backtests), 2),
        "ratio": round(min(backtests) / min(sum(f.values()) for f in floors), 2),
        "ratio_to_compute_only": round(min(backtests) / min(f["score"] for f in floors), 2),
        "backtest_parts_seconds": parts[backtests.index(min(backtests))],  # of the best repeat
        "repeat_ratios": [round(b / sum(f.values()), 2) for f, b in zip(floors, backtests, strict=True)],
        "judged_days": result.summary["judged_days"],
        "pooled_labelled_rows": result.summary["outcomes"]["labelled"],
        "intervals": "linearized, clustered by account (safeguard/rollout/influence.py)",
        "verdict": result.verdict,
        "peak_rss_mib": round(peak_rss_mib()),
        "setup_seconds": round(setup, 1),
        "notes": args.notes,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

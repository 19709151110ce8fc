"""Detection quality of the champion model on later, held-out days of a synthetic world, next to the rules baseline.

- Model: the registry's champion (or ``--version``), loaded with its artifact checksum verified.
- Held-out days: the model's validation window, i.e. later than every day it learned from, after a gap of the
  label horizon, so no training label looks into them.
- Rules baseline (safeguard.baseline): thresholds fitted on the model's training window only (fit through early
  stopping; the rules use no label), scored on the same held-out examples.
- Figures (safeguard.quality): AUC-ROC, AUC-PR, recall at 1% FPR, precision at k per day, overall and per abuse
  archetype from the world's ground-truth file, and the account-level abuser recall; plus alert rates of the
  benign populations.
- Rows: every held-out example up to ``--max-rows`` (default 3M); beyond it, the rows of benign accounts'
  negative examples are sampled and weighted (abusers' and positive rows are all kept), so the figures estimate
  the full population and abuser recall stays exact; the account counts are then of the rows read.

Reads SAFEGUARD_HOME (``--home``): warehouse.duckdb (marts.fct_training_examples), serving.db (model_versions),
models/ and ground_truth/accounts.parquet. Opens the warehouse read-only: when a run may be writing it, copy
the file first and pass the copy with ``--warehouse``. Writes bench/results/quality.json and quality.md.

    python bench/bench_quality.py --home /tmp/demo2 --warehouse /tmp/scratch/warehouse.duckdb
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from safeguard.baseline import DEFAULT_SIGNALS, RulesBaseline
from safeguard.config import settings
from safeguard.dates import day_range
from safeguard.examples import EXAMPLES_TABLE, WEIGHT_COLUMN
from safeguard.landing import ObjectStore
from safeguard.quality import DetectionReport, evaluate_detection, read_truth
from safeguard.registry import ModelRegistry
from safeguard.risk_model import TrainedModel
from safeguard.serving.db import engine_for


def load_model(serving_db_url: str, store: ObjectStore, version: str | None) -> TrainedModel:
    """The champion (or ``version``) from the registry; a clear error when there is none to evaluate."""
    engine = engine_for(serving_db_url)
    try:
        registry = ModelRegistry(engine, store)
        if version is None:
            champion = registry.champion()
            if champion is None:
                known = [f"{v.version} ({v.status})" for v in registry.versions()] or ["none"]
                raise SystemExit(
                    f"{serving_db_url}: no champion model to evaluate; registered versions: {', '.join(known)}. "
                    "Pass --version for a candidate."
                )
            version = champion.version
        return registry.load(version)
    finally:
        engine.dispose()


def read_held_out(con, first: str, last: str, truth_path: str, max_rows: int):
    """The examples of the held-out days, at most about ``max_rows`` of them.

    Every row of a truly abusive account, of a positive example and of an account missing from the truth is
    kept (so abuser recall is exact and a wrong truth file is still refused); the other rows are kept at one rate
    by a deterministic hash and carry ``sample_weight`` = 1/rate, so the row-level metrics and the benign alert
    rates estimate the full population.
    """
    kept = f"""
        FROM {EXAMPLES_TABLE} e
        LEFT JOIN (SELECT account_id, is_abuser FROM read_parquet(?)) t USING (account_id)
        WHERE e.as_of_date BETWEEN ?::DATE AND ?::DATE
    """
    always = "(t.account_id IS NULL OR t.is_abuser OR e.label = 1)"
    n_always, n_all = con.execute(
        f"SELECT count(*) FILTER (WHERE {always}), count(*) {kept}", [truth_path, first, last]
    ).fetchone()
    rate = min(1.0, max(max_rows - n_always, 1) / max(n_all - n_always, 1))
    return con.execute(
        f"""
        SELECT e.*, CASE WHEN {always} THEN 1.0 ELSE 1.0 / ?::DOUBLE END AS {WEIGHT_COLUMN}
        {kept}
          AND ({always} OR (hash(e.account_id || '|' || CAST(e.as_of_date AS VARCHAR)) % 1000000) < ? * 1000000)
        ORDER BY e.as_of_date, e.account_id
        """,
        [rate, truth_path, first, last, rate],
    ).df()


def read_signals(con, first: str, last: str, max_rows: int):
    """The rules' signal columns on the days ``first`` .. ``last`` (a fixed-seed sample of at most ``max_rows``:
    plenty for a 95th percentile)."""
    return con.execute(
        f"SELECT {', '.join(DEFAULT_SIGNALS)} FROM {EXAMPLES_TABLE} "
        f"WHERE as_of_date BETWEEN ?::DATE AND ?::DATE USING SAMPLE reservoir({int(max_rows)} ROWS) REPEATABLE (42)",
        [first, last],
    ).df()


def evaluate(
    home: str, warehouse: str | None, version: str | None, review_capacity: int, max_rows: int
) -> tuple[DetectionReport, dict]:
    cfg = settings({**os.environ, "SAFEGUARD_HOME": home})
    warehouse_path = warehouse or cfg.warehouse_path
    if not cfg.truth_path.exists():
        raise SystemExit(
            f"no ground truth at {cfg.truth_path}: per-archetype quality needs a synthetic world's truth file"
        )
    model = load_model(
        cfg.serving_db_url, ObjectStore(cfg.model_store_uri, s3_endpoint_url=cfg.s3_endpoint_url), version
    )
    held_out = day_range(*model.windows["validation"])
    train_first, train_last = model.training_window

    start = time.perf_counter()
    con = duckdb.connect(warehouse_path, read_only=True)
    try:
        examples = read_held_out(con, held_out[0], held_out[-1], str(cfg.truth_path), max_rows)
        training = read_signals(con, train_first, train_last, max_rows)
    finally:
        con.close()
    read_seconds = time.perf_counter() - start

    rules = RulesBaseline.fit(training)
    truth = read_truth(cfg.truth_path)
    start = time.perf_counter()
    report = evaluate_detection(examples, truth, model, rules, held_out, review_capacity=review_capacity)
    context = {
        "home": str(cfg.home),
        "warehouse": warehouse_path,
        "truth": str(cfg.truth_path),
        "training_window": [train_first, train_last],
        "rules_fitted_on_rows": len(training),
        "held_out_rows": len(examples),
        "held_out_rows_estimated": round(float(examples[WEIGHT_COLUMN].sum())),
        "world_accounts": len(truth),
        "world_abusers": int(truth["is_abuser"].sum()),
        "registry_validation_metrics": {
            k: model.metrics.get(k) for k in ("auc_roc", "auc_pr", "recall_at_1pct_fpr", "precision_at_k")
        },
        "read_seconds": round(read_seconds, 2),
        "evaluate_seconds": round(time.perf_counter() - start, 2),
    }
    return report, context


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", required=True, help="SAFEGUARD_HOME of a materialized synthetic world")
    parser.add_argument("--warehouse", help="DuckDB file to read instead of the home's (e.g. a copy)")
    parser.add_argument("--version", help="model version to evaluate instead of the champion")
    parser.add_argument("--review-capacity", type=int, default=100, help="k of precision at k (per day)")
    parser.add_argument(
        "--max-rows", type=int, default=3_000_000, help="held-out rows to read at most (benign ones sampled)"
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "quality.json"))
    args = parser.parse_args()

    report, context = evaluate(args.home, args.warehouse, args.version, args.review_capacity, args.max_rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        **context,
        "report": report.to_dict(),
    }
    out.write_text(json.dumps(result, indent=1) + "\n")
    md = out.with_suffix(".md")
    md.write_text(
        report.markdown(heading_level=1)
        + f"\nWorld: {context['home']} ({context['world_accounts']} accounts, {context['world_abusers']} abusers); "
        f"rules fitted on {context['rules_fitted_on_rows']} examples of {' .. '.join(context['training_window'])}.\n"
    )
    print(report.markdown())
    print(f"wrote {out} and {md}")


if __name__ == "__main__":
    main()

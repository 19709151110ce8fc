"""Benchmark: how useful the review queue is, against the synthetic world's truth (issue 17).

Reads a deployment the whole pipeline has run on (``make demo`` leaves one in ``SAFEGUARD_HOME``): the published
risk of every day (serving database) and the accounts' links as of each day (the warehouse's point-in-time
account snapshot). Over the last ``--days`` published days, day by day, two ways of spending the same analyst
capacity of ``--capacity`` cases a day:

- **queue**: :func:`safeguard.review.queue.build_queue`, linked accounts as one case, ranked by expected abuse;
- **top of the risk table**: the ``--capacity`` highest-probability accounts at the alert tier, one per case,
  no grouping (what an analyst does with ``account_risk_current`` alone).

Both see the same accounts (alerts, not enforced) and simulate the same reviewers, who read the truth: an account
that is abusive by the day is confirmed (never queued again), any other is cleared (out for the 14-day
cool-down unless its score rises by 0.2), the decision recorded the next day. Reported per strategy: abusers
confirmed per 100 cases and per 100 accounts reviewed, precision, days from an abuser's abuse start to its first
review, and for the world's coordinated rings (rebuilt from the seed, :func:`safeguard.world.generate.world_rings`)
the share of rings whose first review came as one case of two or more members.

Writes ``bench/results/review.json``; ``bench/report.py`` turns it into the REPORT section.

    python bench/bench_review.py [--home $SAFEGUARD_HOME] [--capacity 10 25] [--days 28]
                                 [--accounts 5000 --world-days 70 --start 2026-09-01 --seed 7]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb
import numpy as np
import pandas as pd
import sqlalchemy as sa

from safeguard.review.links import links_as_of
from safeguard.review.queue import CLEARED, CONFIRMED, Decision, QueueRule, ScoredAccount, build_queue, queueable
from safeguard.serving.schema import account_risk_history, published_days
from safeguard.world.generate import world_rings

RESULTS = ROOT / "bench" / "results" / "review.json"


def published(engine, days: int) -> tuple[list[date], dict[date, list[ScoredAccount]]]:
    h = account_risk_history.c
    with engine.connect() as conn:
        all_days = sorted(conn.execute(sa.select(published_days.c.score_date)).scalars())[-days:]
        rows = conn.execute(
            sa.select(h.score_date, h.account_id, h.probability, h.tier).where(
                h.score_date >= all_days[0], h.tier != "low"
            )
        ).all()
    by_day: dict[date, list[ScoredAccount]] = defaultdict(list)
    for r in rows:
        by_day[r.score_date].append(ScoredAccount(r.account_id, float(r.probability), r.tier))
    return all_days, by_day


def top_of_table(day, scored, enforced, decisions, rule) -> list[list[ScoredAccount]]:
    eligible = queueable(scored, day, enforced, decisions, rule)
    return [[a] for a in sorted(eligible, key=lambda a: (-a.probability, a.account_id))[: rule.capacity]]


def simulate(strategy: str, days, scored_by_day, links_by_day, truth, rings, rule) -> dict:
    decisions: dict[str, Decision] = {}
    cases = accounts = confirmed = 0
    first_review: dict[str, date] = {}
    ring_first: dict[int, tuple[date, bool]] = {}  # ring -> (first day reviewed, came as one case of >= 2)
    for day in days:
        links, enforced = links_by_day[day]
        scored = scored_by_day.get(day, [])
        if strategy == "queue":
            groups = [list(c.members) for c in build_queue(day, scored, links, enforced, decisions, rule)]
        else:
            groups = top_of_table(day, scored, enforced, decisions, rule)
        seen_rings: dict[int, list[int]] = defaultdict(list)
        for index, members in enumerate(groups):
            cases += 1
            for m in members:
                accounts += 1
                start = truth.get(m.account_id)
                abusive = start is not None and start <= day
                confirmed += abusive
                first_review.setdefault(m.account_id, day)
                decisions[m.account_id] = Decision(
                    m.account_id, CONFIRMED if abusive else CLEARED, day + timedelta(days=1), m.probability
                )
                if m.account_id in rings:
                    seen_rings[rings[m.account_id]].append(index)
        for ring, case_indexes in seen_rings.items():
            if ring not in ring_first:
                ring_first[ring] = (day, len(case_indexes) >= 2 and len(set(case_indexes)) == 1)
    delays = [(first_review[a] - truth[a]).days for a in first_review if a in truth and truth[a] <= first_review[a]]
    reviewed_rings = len(ring_first)
    return {
        "cases": cases,
        "accounts_reviewed": accounts,
        "abusers_confirmed": confirmed,
        "abusers_per_100_cases": round(100 * confirmed / cases, 1) if cases else 0.0,
        "abusers_per_100_accounts": round(100 * confirmed / accounts, 1) if accounts else 0.0,
        "median_days_abuse_start_to_first_review": float(np.median(delays)) if delays else None,
        "abusers_reviewed": len(delays),
        "rings_reviewed": reviewed_rings,
        "rings_first_reviewed_as_one_case": sum(one for _, one in ring_first.values()),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--home",
        default=os.environ.get("SAFEGUARD_HOME", str(ROOT / "data")),
        help="a deployment the pipeline ran on (default: SAFEGUARD_HOME, else data/)",
    )
    parser.add_argument("--capacity", type=int, nargs="+", default=[10, 25], help="cases a day (several: one run each)")
    parser.add_argument("--days", type=int, default=28, help="the last N published days (default 28)")
    parser.add_argument("--accounts", type=int, default=5000, help="the world's accounts (the demo's: 5000)")
    parser.add_argument("--world-days", type=int, default=70, help="the world's days (the demo's: 70)")
    parser.add_argument("--start", default="2026-09-01", help="the world's first day (the demo's)")
    parser.add_argument("--seed", type=int, default=7, help="the world's seed (the demo's: 7)")
    args = parser.parse_args(argv)

    home = Path(args.home)
    began = time.perf_counter()
    engine = sa.create_engine(f"sqlite:///{home / 'serving.db'}")
    days, scored_by_day = published(engine, args.days)
    engine.dispose()
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        links_by_day = {day: links_as_of(con, day) for day in days}
    truth_frame = pd.read_parquet(home / "ground_truth" / "accounts.parquet")
    abusers = truth_frame[truth_frame.is_abuser]
    truth = {a: s.date() for a, s in zip(abusers.account_id, pd.to_datetime(abusers.abuse_start, utc=True))}
    ring_frame = world_rings(args.accounts, args.world_days, args.start, args.seed).to_pandas()
    rings = dict(zip(ring_frame.account_id, ring_frame.ring))
    if not set(rings) <= set(truth_frame.account_id):
        parser.error("the world arguments do not match the deployment's world (its ring members are unknown)")

    runs = []
    for capacity in args.capacity:
        rule = QueueRule(capacity=capacity)
        for strategy in ("queue", "top_of_table"):
            result = simulate(strategy, days, scored_by_day, links_by_day, truth, rings, rule)
            runs.append({"capacity": capacity, "strategy": strategy, **result})
            print(f"capacity {capacity:>3}  {strategy:<13} " + "  ".join(f"{k} {v}" for k, v in result.items()))
    alerts = sum(len(v) for v in scored_by_day.values())
    report = {
        "home": str(home),
        "accounts": args.accounts,
        "world_days": args.world_days,
        "seed": args.seed,
        "days": len(days),
        "first_day": days[0].isoformat(),
        "last_day": days[-1].isoformat(),
        "alerts": alerts,
        "abusers": len(truth),
        "rings": len(set(rings.values())),
        "ring_members": len(rings),
        "runs": runs,
        "seconds": round(time.perf_counter() - began, 1),
        "measured_at": datetime.now().isoformat(timespec="seconds"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: building a day's review queue at 1M accounts, with the links DuckDB narrows to the day's alerts next
to every account's links (the baseline: the same queue, the same rings; a test holds them equal).

A synthetic ``intermediate.int_account_snapshot`` of ``--accounts`` accounts (card, signup IP, device, an org for
one in five) in an in-memory DuckDB, ``--alerts`` of them at the alert tier. Writes
``bench/results/review_links.json``; ``bench/report.py`` prints it under the review queue's section.

    python bench/bench_review_links.py [--accounts 1000000] [--alerts 50000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb
import numpy as np

from safeguard.review.links import SNAPSHOT_TABLE, links_as_of
from safeguard.review.queue import QueueRule, ScoredAccount, build_queue

RESULTS = ROOT / "bench" / "results" / "review_links.json"
DAY = date(2026, 11, 9)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--alerts", type=int, default=50_000)
    args = parser.parse_args(argv)
    con = duckdb.connect()
    con.execute("CREATE SCHEMA intermediate")
    con.execute(f"""CREATE TABLE {SNAPSHOT_TABLE} AS SELECT DATE '{DAY}' AS as_of_date,
        'acct_' || lpad(i::VARCHAR, 7, '0') AS account_id, (i % 97 = 0)::INT AS is_enforced,
        'card' || (hash(i) % {int(args.accounts * 0.9)})::VARCHAR AS payment_fingerprint,
        'ip' || (hash(i + 1) % {int(args.accounts * 0.7)})::VARCHAR AS signup_ip_hash,
        'dev' || (hash(i + 2) % {int(args.accounts * 0.95)})::VARCHAR AS device_hash,
        CASE WHEN i % 5 = 0 THEN 'org' || (i % {max(args.accounts // 50, 1)})::VARCHAR END AS org_id
        FROM range({args.accounts}) AS t(i)""")
    rng = np.random.default_rng(0)
    picked = rng.choice(args.accounts, args.alerts, replace=False)
    scored = [
        ScoredAccount(f"acct_{i:07d}", float(p), "elevated")
        for i, p in zip(picked, rng.uniform(0.3, 0.9, picked.size), strict=True)
    ]
    rule = QueueRule()
    figures = {}
    for name, alerts in (("every_account", None), ("alerts_only", [a.account_id for a in scored])):
        began = time.perf_counter()
        links, enforced = links_as_of(con, DAY, alerts, rule.max_link_group if alerts else None)
        read = time.perf_counter()
        cases = build_queue(DAY, scored, links, enforced, {}, rule)
        done = time.perf_counter()
        figures[name] = {
            "links_seconds": round(read - began, 2),
            "queue_seconds": round(done - read, 2),
            "seconds": round(done - began, 2),
            "link_rows": len(links),
            "cases": len(cases),
        }
        print(name, figures[name])
    report = {
        "accounts": args.accounts,
        "alerts": args.alerts,
        "capacity": rule.capacity,
        **figures,
        "ratio": round(figures["alerts_only"]["seconds"] / figures["every_account"]["seconds"], 2),
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``safeguard review``: print a day's review queue, (re)build it, and record a reviewer's decision on a case."""

from __future__ import annotations

import argparse
import sys

from safeguard.config import settings


def add_review(subparsers: argparse._SubParsersAction) -> None:
    from safeguard.cli import _iso_date, _positive_int

    parser = subparsers.add_parser(
        "review",
        help="the daily review queue: print a day's cases, record a reviewer's decision",
        description=(
            "The review queue holds at most REVIEW_CAPACITY cases a day (default 100): the day's alerts, linked "
            "accounts (shared card, signup IP, device or org) as one case, ranked by expected abuse caught (the "
            "members' summed probabilities). Reviewers confirm or clear cases; a cleared account stays out for "
            "the cool-down unless its score rises by the margin. See docs/risk-tables.md."
        ),
    )
    parser.add_argument("--db", default=None, help="serving database URL (default: SERVING_DB_URL)")
    actions = parser.add_subparsers(dest="review_command", required=True, metavar="ACTION")
    queue = actions.add_parser("queue", help="print a day's queue (the review_queue asset builds it daily)")
    queue.add_argument("--date", type=_iso_date, required=True, help="the score day of the queue")
    queue.add_argument(
        "--rebuild",
        action="store_true",
        help="build the day's queue again from its published rows and the warehouse, replacing it",
    )
    queue.add_argument(
        "--capacity", type=_positive_int, default=None, help="with --rebuild: cases at most (default: REVIEW_CAPACITY)"
    )
    queue.add_argument(
        "--limit", type=_positive_int, default=None, help="print only the first N cases (default: all of them)"
    )
    queue.add_argument(
        "--members",
        type=_positive_int,
        default=None,
        help="print only the N riskiest members of each case, with a count of the rest (default: every member)",
    )
    decide = actions.add_parser("decide", help="record a decision on a case (every member, or one)")
    decide.add_argument("case_id", metavar="CASE", help="a case id from the queue, e.g. 2026-11-09#007")
    verdict = decide.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--confirm", action="store_true", help="abuse confirmed: never queued again")
    verdict.add_argument("--clear", action="store_true", help="not abuse: out of the queue for the cool-down")
    decide.add_argument("--actor", required=True, help="your name, recorded with the decision")
    decide.add_argument("--account", default=None, help="decide for this member only (default: every member)")
    decide.add_argument("--note", default=None, help="why, in a sentence (recorded)")
    parser.set_defaults(func=cmd_review)


def cmd_review(args: argparse.Namespace) -> int:
    from safeguard.review.queue import CLEARED, CONFIRMED, QueueError, QueueRule
    from safeguard.review.store import read_queue, record_decision
    from safeguard.stores import open_serving_stores

    config = settings()
    with open_serving_stores(args.db or config.serving_db_url) as stores:
        engine = stores.engine
        try:
            if args.review_command == "decide":
                decision = CONFIRMED if args.confirm else CLEARED
                n = record_decision(engine, args.case_id, decision, args.actor, account_id=args.account, note=args.note)
                print(f"{args.case_id}: {decision} by {args.actor.strip()} for {n} account(s)")
                return 0
            if args.rebuild:
                import duckdb

                from safeguard.landing import ObjectStore
                from safeguard.review.publish import publish_queue

                rule = QueueRule(capacity=args.capacity or config.review_capacity)
                store = ObjectStore(config.export_uri, s3_endpoint_url=config.s3_endpoint_url)
                with duckdb.connect(str(config.warehouse_path), read_only=True) as con:
                    print(publish_queue(con, engine, store, args.date, rule).summary())
            rows = read_queue(engine, args.date)
            if not rows:
                print(
                    f"safeguard review: no cases for {args.date}: its queue was not built (materialize the "
                    f"review_queue asset for the day, or add --rebuild), or no account reached the alert tier",
                    file=sys.stderr,
                )
                return 1
            print_queue(rows, args.limit, args.members)
            return 0
        except QueueError as e:
            print(f"safeguard review: {e}", file=sys.stderr)
            return 2


def print_queue(rows, limit: int | None = None, members_shown: int | None = None) -> None:
    cases = {}
    for r in rows:
        cases.setdefault(r.case_id, []).append(r)
    shown = f", the first {limit} below" if limit is not None and limit < len(cases) else ""
    print(f"{len(cases)} case(s), {len(rows)} account(s){shown}")
    for case_id, members in list(cases.items())[:limit]:
        head = members[0]
        links = f", linked by {', '.join(head.case_links)}" if head.case_links else ""
        print(f"\n{case_id}  expected abuse {head.case_expected_abuse:.2f}  {head.case_accounts} account(s){links}")
        for item in head.case_reasons:
            print(f"  - {item['reason']} ({item['accounts']} of {head.case_accounts})")
        for m in members[:members_shown]:
            print(f"    {m.account_id:<24} {m.probability:.4f}  {m.tier}")
        if members_shown is not None and len(members) > members_shown:
            print(f"    ... and {len(members) - members_shown} more (all of them: without --members)")

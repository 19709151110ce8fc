"""The ``safeguard`` command line (design §4).

Each subcommand is a pair of functions: ``add_<name>(subparsers)`` declares its options and ``cmd_<name>(args)``
runs it and returns the exit code. ``main`` only builds the parser from :data:`SUBCOMMANDS` and dispatches, so a
new subcommand (``run``, ``rollout``, ``risk``) is one more pair and one more entry in that list.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import date

from safeguard.config import DEFAULT_START_DATE, settings


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date in the form YYYY-MM-DD") from None


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return number


def _seed(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be 0 or more")
    return number


def add_generate(subparsers: argparse._SubParsersAction) -> None:
    defaults = settings()
    parser = subparsers.add_parser(
        "generate",
        help="write a synthetic world into a landing zone",
        description=(
            "Generate a synthetic world of benign and abusive accounts and write it day by day into a landing "
            "zone (usage_events, accounts, enforcement_actions; one folder per day with _SUCCESS). The ground "
            "truth (archetype, is_abuser, abuse_start per account) goes to a separate Parquet file for "
            "evaluation only. The same options and seed always give the same bytes."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--accounts", type=_positive_int, default=5000, help="number of accounts in the world")
    parser.add_argument("--days", type=_positive_int, default=60, help="number of days to write, from --start")
    parser.add_argument(
        "--start", type=_iso_date, default=date.fromisoformat(DEFAULT_START_DATE), help="first day (UTC), YYYY-MM-DD"
    )
    parser.add_argument("--seed", type=_seed, default=7, help="random seed; same seed, same world")
    parser.add_argument(
        "--out",
        default=defaults.landing_uri,
        help="landing zone: a folder or s3://bucket/prefix; LANDING_URI sets the default, "
        "S3_ENDPOINT_URL an S3-compatible endpoint",
    )
    parser.add_argument(
        "--truth",
        default=str(defaults.truth_path),
        help="ground-truth Parquet file (local or s3://), outside the landing zone; SAFEGUARD_HOME sets the default",
    )
    from safeguard.world.params import PRESETS

    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        default="default",
        help="world parameters: the demo world (default) or a robustness world with another mix, "
        "catch rates, label delays, ring sizes, volumes and benign lookalikes (for evaluation only)",
    )
    mode.add_argument(
        "--world-params",
        metavar="JSON",
        help="world parameters as a JSON object or a JSON file (fields of "
        "safeguard.world.params.WorldParams, e.g. '{\"abuser_share\": 0.03}'); others keep defaults",
    )
    parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    parser.set_defaults(func=cmd_generate)


def cmd_generate(args: argparse.Namespace) -> int:
    from safeguard.world import WorldArgumentError, WorldParams, WorldParamsError, generate_world, preset

    try:
        params = WorldParams.from_json(args.world_params) if args.world_params else preset(args.preset)
        if args.world_params and params.name == "default" and not params.is_default:
            params = WorldParams.from_dict({**params.to_dict(), "name": "custom"})
        summary = generate_world(
            params=params,
            accounts=args.accounts,
            days=args.days,
            start=args.start,
            seed=args.seed,
            out_uri=args.out,
            truth_path=args.truth,
            s3_endpoint_url=settings().s3_endpoint_url,
            progress=not args.no_progress,
        )
    except (WorldArgumentError, WorldParamsError) as e:
        print(f"safeguard generate: error: {e}", file=sys.stderr)
        return 2
    rows = ", ".join(f"{source} {n:,}" for source, n in summary.rows.items())
    print(f"wrote {summary.days} days from {summary.start} to {args.out}: {rows}")
    print(
        f"{summary.accounts:,} accounts, {summary.abusers:,} abusers ({summary.abuser_share:.1%}), "
        f"{summary.abusers_enforced:,} of them suspended or banned in the window; "
        f"ground truth at {args.truth}; {summary.seconds:.1f}s"
    )
    if summary.params != "default":
        looks = ", ".join(f"{k} {v:,}" for k, v in summary.lookalikes.items())
        print(f"world parameters {summary.params}: {looks}")
    return 0


def add_risk(subparsers: argparse._SubParsersAction) -> None:
    from safeguard.serving.reader import DEFAULT_TOP_LIMIT
    from safeguard.vocabulary import TIERS

    parser = subparsers.add_parser(
        "risk",
        help="read the published risk tables: one account, or the riskiest accounts",
        description=(
            "Read the serving database downstream teams read (SERVING_DB_URL; SQLite under SAFEGUARD_HOME by "
            "default): an account's latest score, tier, model, arm and reasons in plain words, or the top accounts."
        ),
    )
    parser.add_argument("--db", default=None, help="serving database URL (default: SERVING_DB_URL)")
    actions = parser.add_subparsers(dest="risk_command", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="an account's score, tier, model, arm, date and reasons")
    show.add_argument("account_id", metavar="ACCOUNT_ID")
    show.add_argument(
        "--date",
        type=_iso_date,
        default=None,
        help="the account's row of this score day (default: its latest published row)",
    )
    top = actions.add_parser("top", help="the riskiest accounts, highest probability first")
    top.add_argument("--tier", choices=TIERS, default=None, help="only accounts of this tier")
    top.add_argument("--limit", type=_positive_int, default=DEFAULT_TOP_LIMIT, help="how many accounts")
    top.add_argument(
        "--date",
        type=_iso_date,
        default=None,
        help="rank this score day's accounts (default: every account's latest row)",
    )
    parser.set_defaults(func=cmd_risk)


def cmd_risk(args: argparse.Namespace) -> int:
    from safeguard.serving.db import engine_for
    from safeguard.serving.reader import RiskReader, RiskTablesMissing

    engine = engine_for(args.db or settings().serving_db_url)
    reader = RiskReader(engine)
    try:
        if args.risk_command == "show":
            risk = reader.account(args.account_id, args.date)
            if risk is None:
                day = f" on {args.date}" if args.date else ""
                print(f"safeguard risk: no published risk for account {args.account_id!r}{day}", file=sys.stderr)
                return 1
            print(f"account      {risk.account_id}")
            print(f"score        {risk.probability:.4f}  tier {risk.tier}")
            print(f"model        {risk.model_version}  (arm: {risk.arm})")
            print(f"score date   {risk.score_date}  (published {risk.published_at:%Y-%m-%d %H:%M:%S} UTC)")
            print("reasons" if risk.reasons else "reasons      none recorded (the score was not explained)")
            for line in risk.plain_reasons():
                print(f"  {line}")
            return 0
        rows = reader.top(args.tier, args.limit, args.date)
        if not rows:
            print("safeguard risk: no accounts match", file=sys.stderr)
            return 1
        print(f"{'#':>4}  {'account_id':<24} {'score':>7}  {'tier':<9} {'model':<24} {'arm':<10} score_date")
        for rank, r in enumerate(rows, start=1):
            print(
                f"{rank:>4}  {r.account_id:<24} {r.probability:>7.4f}  {r.tier:<9} {r.model_version:<24} "
                f"{r.arm:<10} {r.score_date}"
            )
        return 0
    except RiskTablesMissing as e:
        print(f"safeguard risk: {e}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()


def add_rollout(subparsers: argparse._SubParsersAction) -> None:
    from pathlib import Path

    parser = subparsers.add_parser(
        "rollout",
        help="show or steer the staged rollout of a candidate model",
        description=(
            "Show or steer the staged rollout of a candidate model against the champion (shadow, then "
            "growing shares of accounts). Actions take effect from the first score day not served yet, so the "
            "next served_risk_scores materialization follows them. The serving database (SERVING_DB_URL) "
            "holds the rollout and its audit log; the warehouse (WAREHOUSE_PATH) tells which days are served."
        ),
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("status", help="stage, days in stage, latest guardrails and the last decisions")
    backtest = actions.add_parser(
        "backtest",
        help="replay the candidate over the newest feature days and judge it against the champion's scores",
        description=(
            "Score the candidate on the newest --days feature days (point in time), next to the champion's "
            "published scores of the same days, and judge both on the labels matured by now: per day and pooled "
            "over the days out of the candidate's fit, with 95%% intervals, and a verdict (pass, fail, "
            "insufficient_data) that `rollout start` requires. Writes scoring.backtest_scores and a "
            "rollout_backtests row."
        ),
    )
    backtest.add_argument(
        "--days",
        type=int,
        default=None,
        help="feature days to replay, the newest ones (default: the default plan's, 28)",
    )
    backtest.add_argument("--candidate", help="model version to backtest (default: the only candidate)")
    backtest.add_argument(
        "--per-day",
        action="store_true",
        help="print the table of every replayed day (status, alerts, precision, recall, AUC-PR per model)",
    )
    start = actions.add_parser("start", help="start rolling out a candidate, in shadow")
    promote = actions.add_parser("promote", help="move one stage on; at the last stage the candidate becomes champion")
    pause = actions.add_parser("pause", help="freeze automatic advancing (guardrail rollbacks still apply)")
    resume = actions.add_parser("resume", help="let the daily evaluation advance again")
    abort = actions.add_parser("abort", help="take the candidate out of traffic from the next served day on")
    for action in (start, promote, pause, resume, abort):
        action.add_argument("--actor", required=True, help="your name, recorded in the audit log")
    start.add_argument("--candidate", help="model version to roll out (default: the only candidate)")
    start.add_argument(
        "--force",
        action="store_true",
        help="start although the candidate's backtest is missing or does not pass; the override is "
        "recorded in the audit log with the actor",
    )
    start.add_argument("--plan", type=Path, help="JSON file with a rollout plan (any subset of its fields)")
    start.add_argument("--min-days", type=int, help="score days per stage before it may advance")
    start.add_argument("--min-arm-accounts", type=int, help="fewer arm accounts: guardrails not trusted")
    start.add_argument("--max-auto-stage", type=int, help="highest percent the evaluation advances to by itself")
    pause.add_argument("--reason", help="why (recorded in the audit log)")
    abort.add_argument("--reason", required=True, help="why (recorded in the audit log)")
    parser.set_defaults(func=cmd_rollout)


def cmd_rollout(args: argparse.Namespace) -> int:
    from safeguard.registry import RegistryError
    from safeguard.rollout import controls
    from safeguard.rollout.served import ServingError, last_served_day_in
    from safeguard.rollout.state import RolloutStateError
    from safeguard.stores import configured_model_store, open_serving_stores

    s = settings()
    with open_serving_stores(s.serving_db_url, model_store=configured_model_store()) as stores:
        store, registry, engine = stores.rollouts, stores.registry, stores.engine
        try:
            if args.action == "backtest":
                return _backtest(args, engine, registry, s.warehouse_path)
            last = last_served_day_in(s.warehouse_path)
            if args.action == "start":
                plan = controls.plan_from_options(
                    args.plan.read_text() if args.plan else None,
                    min_days_per_stage=args.min_days,
                    min_arm_accounts=args.min_arm_accounts,
                    max_auto_stage=args.max_auto_stage,
                )
                options = {"candidate_version": args.candidate, "plan": plan, "force": args.force}
                controls.act("start", store, registry, args.actor, last_served=last, **options)
            elif args.action in controls.ACTIONS:
                reason = getattr(args, "reason", None)
                controls.act(args.action, store, registry, args.actor, reason=reason, last_served=last)
            print(controls.format_status(controls.status(store, last_served=last)))
            return 0
        except (RolloutStateError, RegistryError, ServingError, ValueError, OSError) as e:
            print(f"safeguard rollout {args.action}: error: {e}", file=sys.stderr)
            return 1


def _backtest(args: argparse.Namespace, engine, registry, warehouse_path: str) -> int:
    """``rollout backtest``: replay, store, print. Every check runs before anything is written."""
    from pathlib import Path

    from safeguard.rollout.backtest_replay import BacktestError, run_backtest
    from safeguard.rollout.backtest_report import format_backtest
    from safeguard.rollout.backtest_store import record_backtest
    from safeguard.warehouse import connect_when_free

    if args.days is not None and args.days < 1:
        raise BacktestError(f"--days must be at least 1, got {args.days}")
    if not Path(warehouse_path).exists():
        raise BacktestError(f"no warehouse at {warehouse_path}: run the pipeline before a backtest")
    with connect_when_free(warehouse_path) as con:
        result = run_backtest(con, registry, candidate_version=args.candidate, days=args.days)
    print(format_backtest(record_backtest(engine, result), per_day=args.per_day))
    return 0


def add_review(subparsers: argparse._SubParsersAction) -> None:
    from safeguard.review.cli import add_review as add

    add(subparsers)


def add_model(subparsers: argparse._SubParsersAction) -> None:
    from safeguard.model_cli import add_model as add

    add(subparsers)


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_generate,
    add_model,
    add_risk,
    add_rollout,
    add_review,
]


def build_parser(
    extra_subcommands: Sequence[Callable[[argparse._SubParsersAction], None]] = (),
) -> argparse.ArgumentParser:
    """The parser of :data:`SUBCOMMANDS`, plus ``extra_subcommands`` (the Dagster ones, from orchestration.cli)."""
    parser = argparse.ArgumentParser(
        prog="safeguard",
        description="Account-risk pipeline for an AI API platform: synthetic data, pipeline runs, rollouts, risk.",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        "--traceback",
        dest="verbose",
        action="store_true",
        help="the full logs (every Dagster event and dbt line of a run) and, on an error, the full traceback instead "
        "of the one-line explanation",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in [*SUBCOMMANDS, *extra_subcommands]:
        add(subparsers)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    extra_subcommands: Sequence[Callable[[argparse._SubParsersAction], None]] = (),
) -> int:
    from safeguard.cli_errors import explain

    args = build_parser(extra_subcommands).parse_args(argv)
    try:
        return args.func(args)
    except Exception as e:  # a known error in one or two lines with its fix; anything else as it is
        message = explain(e, serving_url=getattr(args, "db", None))
        if message is None or args.verbose:
            raise
        print(f"safeguard {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

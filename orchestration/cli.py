"""The ``safeguard`` console script: the Dagster-free subcommands of :mod:`safeguard.cli` plus the ones that run
the code location's jobs (``run``). It never has a second code path: ``run`` executes the same jobs the UI and the
schedules use (:mod:`orchestration.runner`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from datetime import timedelta

from safeguard import cli as domain_cli
from safeguard.cli import _iso_date, _positive_int
from safeguard.dates import day_range
from safeguard.progress import StepStatus, note, progress
from safeguard.run_report import day_line, failure_lines, step_lines

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def add_run(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="materialize the whole graph for a date range, in this process",
        description=(
            "Materialize every asset for the UTC days from --start to --end (inclusive) through the code "
            "location's own jobs, one run per job for the whole range (as a UI backfill with single-run policy "
            "does). When no trained model is champion yet (none at all, or the cold-start rules score serves), the "
            "run also trains one (job full_graph), and so does each later run until one passes the gate; "
            "otherwise it runs daily_pipeline and keeps the current models. Runs are recorded in the Dagster "
            "instance under DAGSTER_HOME when it is set."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--start", type=_iso_date, required=True, help="first day (UTC), YYYY-MM-DD")
    end = parser.add_mutually_exclusive_group(required=True)
    end.add_argument("--end", type=_iso_date, help="last day (UTC), inclusive")
    end.add_argument("--days", type=_positive_int, help="number of days from --start (instead of --end)")
    parser.add_argument("--retrain", action="store_true", help="train a new model even when a champion exists")
    parser.add_argument(
        "--verbose",
        dest="run_verbose",
        action="store_true",
        help="print every Dagster event and dbt line (as safeguard -v does); SAFEGUARD_LOG_LEVEL=INFO prints the "
        "steps' own log lines",
    )
    parser.add_argument(
        "--one-run-per-day",
        action="store_true",
        help="one run per day, oldest first, as the daily schedule runs them (a rollout decides once per run)",
    )
    parser.add_argument(
        "--groups",
        type=lambda v: [g.strip() for g in v.split(",") if g.strip()],
        help="only these asset groups, comma-separated (ingestion, features, modeling, scoring, rollout, "
        "publishing), e.g. --groups ingestion,features to load and build features without scoring",
    )
    parser.set_defaults(func=cmd_run)


def console_log_level(verbose: bool) -> str:
    """The level of Dagster's console logger: DEBUG with -v, else SAFEGUARD_LOG_LEVEL, else WARNING (only what
    needs a person: the run's own lines come from safeguard.run_report). The instance keeps every event anyway."""
    if verbose:
        return "DEBUG"
    level = os.environ.get("SAFEGUARD_LOG_LEVEL", "WARNING").strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"SAFEGUARD_LOG_LEVEL={level!r} is not a log level; use one of {', '.join(LOG_LEVELS)}")
    return level


def cmd_run(args: argparse.Namespace) -> int:
    from orchestration.runner import has_trained_champion, run_job
    from safeguard.cli_errors import missing_landing_zone
    from safeguard.config import settings

    last = args.end or args.start + timedelta(days=args.days - 1)
    if last < args.start:
        print(f"safeguard run: error: --end {last} is before --start {args.start}", file=sys.stderr)
        return 2
    missing = missing_landing_zone(settings().landing_uri)
    if missing:
        print(f"safeguard run: error: {missing}", file=sys.stderr)
        return 2
    outside = _outside_partitions(args.start, last)
    if outside:
        print(f"safeguard run: error: {outside}", file=sys.stderr)
        return 2
    verbose = args.verbose or args.run_verbose
    try:
        log_level = console_log_level(verbose)
    except ValueError as e:
        print(f"safeguard run: error: {e}", file=sys.stderr)
        return 2
    if args.groups:
        job = "full_graph"
    else:
        job = "full_graph" if args.retrain or not has_trained_champion() else "daily_pipeline"
    scope = f" (groups {', '.join(args.groups)})" if args.groups else ""
    days = day_range(args.start, last)
    per_day = args.one_run_per_day and len(days) > 1
    windows = [(d, d) for d in days] if per_day else [(days[0], days[-1])]
    if per_day:
        print(f"safeguard run: one run per day, {days[0]} .. {days[-1]} ({len(days)} days)", flush=True)
    else:
        span = f"{days[0]} .. {days[-1]} ({len(days)} day{'s' if len(days) != 1 else ''})"
        print(f"safeguard run: job {job}{scope} for {span}", flush=True)
    run_started = time.monotonic()
    # a bar on a terminal; in a log, the day lines below carry the count, and a line with the time left every 5 min
    bar = progress(windows, "days", unit="day", enabled=per_day, every_s=300.0)
    for done, (first, final) in enumerate(bar, start=1):
        started = time.monotonic()
        # the step running now: on the day bar, or on a status line of its own (a terminal only, quiet mode only)
        status = StepStatus(bar=bar if per_day else None, prefix=f"{first}: ")
        try:
            summary = run_job(
                job,
                first,
                final,
                groups=args.groups,
                log_level=log_level,
                tracebacks=verbose,
                on_step_start=None if verbose else status.started,
            )
        except ValueError as e:
            print(f"safeguard run: error: {e}", file=sys.stderr)
            return 2
        finally:
            status.close()
        seconds = time.monotonic() - started
        if per_day:
            note(bar, f"[{done}/{len(windows)}] " + day_line(first, summary.record, seconds))
            for line in failure_lines(summary.record):
                note(bar, line)
        else:
            for line in step_lines(summary.record):
                print(line)
        if not summary.success:
            trace = "the stack trace is above" if verbose else "the stack trace: safeguard -v run ..."
            print(
                f"run {summary.run_id} FAILED after {seconds:.0f}s: {trace}, and every event of the run is in the "
                "Dagster instance (make ui)",
                flush=True,
            )
            return 1
        if not per_day:
            print(f"run {summary.run_id} succeeded in {seconds:.0f}s", flush=True)
        if job == "full_graph" and not args.groups and (args.retrain or has_trained_champion()):
            job = "daily_pipeline"  # trained; later days score with the models the registry now holds
    if per_day:
        print(f"{len(windows)} runs succeeded in {time.monotonic() - run_started:.0f}s", flush=True)
    return 0


def _outside_partitions(first, last) -> str | None:
    """Why the days cannot be run when they fall outside the daily partitions (SAFEGUARD_START_DATE .. yesterday)."""
    from assets.partitions import daily_partitions

    lo, hi = daily_partitions.get_first_partition_key(), daily_partitions.get_last_partition_key()
    if hi is None or first.isoformat() < lo or last.isoformat() > hi:
        return (
            f"the days {first} .. {last} are outside the pipeline's days {lo} .. {hi}\n"
            "  the first day is SAFEGUARD_START_DATE and the last is yesterday (UTC): set SAFEGUARD_START_DATE to "
            "your data's first day"
        )
    return None


def main(argv: Sequence[str] | None = None) -> int:
    return domain_cli.main(argv, extra_subcommands=[add_run])


if __name__ == "__main__":
    sys.exit(main())

"""The console logger of ``safeguard run`` (issue 20): Dagster's colored console logger, with a run's failures left
to the CLI's own lines unless ``-v``.

A failed step makes Dagster log two ERROR events, STEP_FAILURE and RUN_FAILURE, each with every stack trace of the
exception chain: about 60 lines in which the one line a person needs (the exception and its message, e.g. "landing
day 2026-09-01 has no _SUCCESS marker") is hard to find. With ``tracebacks: false`` those two events are not
printed; ``safeguard run`` prints each failed step's error in one line instead (from the run's events, see
:func:`orchestration.runner.step_failures`), and the whole trace stays in the instance, in the UI, and on the
console with ``safeguard -v``. Every other record, warnings included, is printed as Dagster prints it.

Used only by the CLI (``JobDefinition.with_logger_defs``): runs launched from the UI or by the daemon keep
Dagster's own logger and every trace in their compute logs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from dagster import Field, InitLoggerContext, LoggerDefinition, logger
from dagster._core.log_manager import LOG_RECORD_METADATA_ATTR  # the record's dagster metadata: no public name
from dagster._utils.log import create_console_logger

SUMMARISED_EVENTS = frozenset({"STEP_FAILURE", "RUN_FAILURE", "PIPELINE_FAILURE"})  # RUN_FAILURE's stored name


class _FailuresLeftToTheCli(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        event = (getattr(record, LOG_RECORD_METADATA_ATTR, None) or {}).get("dagster_event")
        return event is None or event.event_type_value not in SUMMARISED_EVENTS


@logger(
    Field(
        {
            "log_level": Field(str, is_required=False, default_value="INFO", description="The logger's threshold."),
            "tracebacks": Field(
                bool,
                is_required=False,
                default_value=True,
                description="Print STEP_FAILURE and RUN_FAILURE events with their stack traces (False: the CLI "
                "prints each failed step's error in one line).",
            ),
        }
    ),
    description="Dagster's colored console logger; failures left to the CLI's lines unless tracebacks is true.",
)
def cli_console_logger(init_context: InitLoggerContext) -> logging.Logger:
    config = init_context.logger_config
    console = create_console_logger(name="dagster", level=config["log_level"].upper())
    if not config["tracebacks"]:
        for handler in console.handlers:
            handler.addFilter(_FailuresLeftToTheCli())
    return console


def step_watcher(on_step_start: Callable[[str], None]) -> LoggerDefinition:
    """A logger that tells ``on_step_start`` each step's key as it starts (the CLI's "now:" line); it prints
    nothing itself."""

    class _StepStarts(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            event = (getattr(record, LOG_RECORD_METADATA_ATTR, None) or {}).get("dagster_event")
            if event is not None and event.event_type_value == "STEP_START" and event.step_key:
                on_step_start(event.step_key)

    def build(_init_context: InitLoggerContext) -> logging.Logger:
        watcher = logging.Logger("safeguard.steps", level=logging.DEBUG)
        watcher.addHandler(_StepStarts())
        return watcher

    return LoggerDefinition(build, description="tells the CLI which step started")

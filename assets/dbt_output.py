"""dbt's console output, summarised (issue 20): one line per build on the console, every dbt line in the run's log.

dagster-dbt echoes every dbt event to standard output: a line per model, per microbatch batch and per test, about
1,700 lines for one 40-day build. An operator reading ``safeguard run`` or ``make demo`` needs what was built and
whether the tests passed; the engineer chasing a failure needs every line. So dbt's lines go to the run's DEBUG
log (kept in the Dagster instance, shown in the UI's run view, and on the console with ``safeguard -v`` or
``SAFEGUARD_LOG_LEVEL=DEBUG``), its warnings to the WARNING log, and the step logs one INFO line:
``dbt build: 21 models for 40 days, 40 tests passed, 0 failed, 0 warnings in 115 s``.

Standard output is redirected only while dbt's iterator runs (each ``next``), never while Dagster handles an event
the step yielded, so nothing else the step prints is swallowed.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol


class StepLog(Protocol):
    def debug(self, msg: str) -> Any: ...
    def info(self, msg: str) -> Any: ...
    def warning(self, msg: str) -> Any: ...


# dbt's warning lines (text log format): "[WARNING]: ..." from dbt core, "WARN ..." from a test at warn severity.
_WARNING_PREFIXES = ("[WARNING]", "[WARN]")
# Warnings known not to need anyone, each with why; they go to the DEBUG log like any other dbt line. dbt fires
# this one at parse time for every build (event I074, not silenceable through warn_error_options in dbt 1.11).
KNOWN_WARNINGS = {
    "The microbatch model 'int_account_enforcement_history' has no 'ref' or 'source' input": (
        "the model reads the snapshot through in_window() and every enforcement action up to D on purpose: its "
        "inputs carry no event_time, so dbt cannot filter them, and must not"
    ),
}


@dataclass
class DbtBuildTally:
    """What one dbt build did, counted from the events dagster-dbt yields."""

    models: set[str] = field(default_factory=set)
    tests_passed: int = 0
    tests_failed: int = 0
    warnings: int = 0

    def count(self, event: Any) -> None:
        kind = type(event).__name__
        if kind in ("Output", "AssetMaterialization"):
            key = getattr(event, "asset_key", None) or getattr(event, "output_name", None)
            self.models.add(str(key))
        elif kind in ("AssetCheckResult", "AssetCheckEvaluation"):
            if event.passed:
                self.tests_passed += 1
            else:
                self.tests_failed += 1

    def line(self, days: int, seconds: float) -> str:
        return (
            f"dbt build: {_n(len(self.models), 'model')} for {_n(days, 'day')}, {_n(self.tests_passed, 'test')} "
            f"passed, {self.tests_failed} failed, {_n(self.warnings, 'warning')} in {seconds:.0f} s "
            "(every dbt line: this run's DEBUG log)"
        )


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


class _LineSink(io.TextIOBase):
    """A text stream that hands each complete line to the step's log: warnings at WARNING, the rest at DEBUG."""

    def __init__(self, log: StepLog, tally: DbtBuildTally) -> None:
        self._log, self._tally, self._partial = log, tally, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._emit(line)
        return len(text)

    def _emit(self, line: str) -> None:
        if not line.strip():
            return
        if line.lstrip().startswith(_WARNING_PREFIXES) and not any(known in line for known in KNOWN_WARNINGS):
            self._tally.warnings += 1
            self._log.warning(f"dbt: {line.strip()}")
        else:
            self._log.debug(line)

    def close(self) -> None:
        if self._partial:
            self._emit(self._partial)
            self._partial = ""
        super().close()


def summarised(events: Iterable[Any], log: StepLog, days: int) -> Iterator[Any]:
    """Yield dbt's Dagster events unchanged; dbt's console lines go to ``log`` and one summary line ends the build.

    A failing build still logs its summary (what passed before it failed) before the error propagates."""
    tally = DbtBuildTally()
    sink = _LineSink(log, tally)
    started = time.monotonic()
    iterator = iter(events)
    try:
        while True:
            with contextlib.redirect_stdout(sink):
                try:
                    event = next(iterator)
                except StopIteration:
                    return
            tally.count(event)
            yield event
    finally:
        sink.close()
        log.info(tally.line(days, time.monotonic() - started))

"""Progress on long work (issue 20): a bar on a terminal, plain periodic lines anywhere else (CI logs, files).

``progress(items, "generate", unit="day")`` wraps an iterable. On a terminal it is a tqdm bar (count, rate, time
left); when the stream is not a terminal, a bar's carriage returns would pile up into one unreadable line, so it
prints a plain line instead at most every ``every_s`` seconds and at the end:
``generate: 35/70 days, 1.2 days/s, about 29 s left``. ``note(bar, text)`` prints a line above a bar without
breaking it (or plainly).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def _is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def plain_line(desc: str, done: int, total: int | None, unit: str, elapsed: float) -> str:
    """The line printed instead of a bar: counts, rate and the time left when the total is known."""
    of = f"{done}/{total}" if total is not None else f"{done}"
    line = f"{desc}: {of} {unit}s"
    if done and elapsed > 0:
        rate = done / elapsed
        line += f", {rate:.1f} {unit}s/s" if rate >= 1 else f", {elapsed / done:.1f} s/{unit}"
        if total is not None and done < total:
            line += f", about {(total - done) / rate:.0f} s left"
        elif total is not None:
            line += f", done in {elapsed:.0f} s"
    return line


class _PlainProgress:
    def __init__(
        self, items: Iterable[T], desc: str, unit: str, total: int | None, stream: IO[str], every_s: float | None
    ):
        self.items, self.desc, self.unit, self.stream, self.every_s = items, desc, unit, stream, every_s
        self.total = total if total is not None else (len(items) if hasattr(items, "__len__") else None)

    def write(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def __iter__(self) -> Iterator[T]:
        started = last = time.monotonic()
        done = 0
        for item in self.items:
            yield item
            done += 1
            if self.every_s is None:
                continue
            now = time.monotonic()
            if now - last >= self.every_s or (self.total is not None and done == self.total):
                self.write(plain_line(self.desc, done, self.total, self.unit, now - started))
                last = now


def progress(
    items: Iterable[T],
    desc: str,
    *,
    unit: str = "item",
    total: int | None = None,
    enabled: bool = True,
    stream: IO[str] | None = None,
    every_s: float = 30.0,
) -> Any:
    """An iterable over ``items`` that shows progress on ``stream`` (stderr): a bar on a terminal, else lines."""
    stream = stream or sys.stderr
    if not enabled:
        return _PlainProgress(items, desc, unit, total, stream, every_s=None)
    if _is_terminal(stream):
        return tqdm(items, desc=desc, unit=unit, total=total, file=stream, dynamic_ncols=True)
    return _PlainProgress(items, desc, unit, total, stream, every_s)


def note(bar: Any, text: str) -> None:
    """Print ``text`` on its own line: above the bar on a terminal, plainly otherwise."""
    if isinstance(bar, tqdm):
        bar.write(text)
    else:
        print(text, flush=True)


class StepStatus:
    """What a long run does right now, for a person at a terminal: one status line, rewritten as each step starts
    (``  now: dbt_features (3 steps started, 41 s)``), cleared at the end. Off a terminal it prints nothing: a log
    gets the run's step lines when the run ends. ``bar``: a day bar to carry the step as its postfix instead."""

    def __init__(self, stream: IO[str] | None = None, bar: Any = None, prefix: str = ""):
        self.stream = stream or sys.stderr
        self.bar, self.prefix = bar, prefix
        self.started_at = time.monotonic()
        self.steps = 0
        self.shown = False

    def started(self, step: str) -> None:
        self.steps += 1
        if isinstance(self.bar, tqdm):
            self.bar.set_postfix_str(f"{self.prefix}{step}")
        elif self.bar is None and _is_terminal(self.stream):
            elapsed = time.monotonic() - self.started_at
            self.stream.write(f"\r\x1b[K  now: {step} ({self.steps} steps started, {elapsed:.0f} s)")
            self.stream.flush()
            self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False

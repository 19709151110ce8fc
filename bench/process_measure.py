"""Measuring a child process of a benchmark: wall time, CPU of the process tree, peak RSS (``os.wait4`` and a
sampler of the summed RSS of the tree and of dbt from /proc). Used by bench_pipeline.py and bench_robustness.py."""

from __future__ import annotations

import os
import resource
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_SECONDS = 0.25


class TreeSampler(threading.Thread):
    """Samples the RSS of a process and all its descendants from /proc: the peak of their sum, and of dbt alone.

    ``ru_maxrss`` from ``wait4`` is the largest single process of the tree (dbt included once it is waited for),
    not the sum of processes alive at the same time (the Dagster process holds its memory while dbt runs).
    """

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.tree_peak_kib, self.dbt_peak_kib = pid, 0, 0
        self.stopped = threading.Event()
        self.page_kib = os.sysconf("SC_PAGE_SIZE") // 1024

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    stat = Path(f"/proc/{entry.name}/stat").read_text()
                except OSError:
                    continue
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
        tree, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, []))
        return tree

    def _rss_kib(self, pid: int) -> tuple[int, bool]:
        try:
            rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:2]  # dbt runs as `python .../bin/dbt`
            is_dbt = any(Path(os.fsdecode(a)).name == "dbt" for a in argv)
        except (OSError, IndexError, ValueError):
            return 0, False
        return rss_pages * self.page_kib, is_dbt

    def run(self) -> None:
        while not self.stopped.wait(SAMPLE_SECONDS):
            total = 0
            for pid in self._tree():
                kib, is_dbt = self._rss_kib(pid)
                total += kib
                if is_dbt:
                    self.dbt_peak_kib = max(self.dbt_peak_kib, kib)
            self.tree_peak_kib = max(self.tree_peak_kib, total)


def measured(args: list[str], env: dict, log: Path) -> dict:
    """Run ``args`` as a child (output to ``log``); wall, CPU and peak RSS of it and its waited-for descendants."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    sampler.stopped.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "cpu_user_s": round(usage.ru_utime, 2),
        "cpu_sys_s": round(usage.ru_stime, 2),
        # the same CPU seen from this process: equal to cpu_s when every descendant was waited for
        "cpu_rusage_children_delta_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "tree_peak_rss_mib_sampled": round(sampler.tree_peak_kib / 1024, 1),
        "dbt_peak_rss_mib_sampled": round(sampler.dbt_peak_kib / 1024, 1) if sampler.dbt_peak_kib else None,
        "exit_code": proc.returncode,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "log": str(log),
    }


def run_or_die(what: str, args: list[str], env: dict, log: Path) -> dict:
    figures = measured(args, env, log)
    if figures["exit_code"] != 0:
        tail = "\n".join(log.read_text().splitlines()[-40:])
        raise SystemExit(f"{what} failed (exit {figures['exit_code']}); last lines of {log}:\n{tail}")
    return figures

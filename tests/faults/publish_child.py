"""The publisher that test_publish_kill.py kills: publishes one day and stops inside the transaction.

``python -m tests.faults.publish_child DAY ROWS SEED`` with the serving database's URL in ``FAULT_SERVING_URL``
(not on the command line, where ``ps`` would show a password). Everything of the day is written (history,
reasons, current moved forward) when it prints ``inside-transaction`` and waits on stdin, uncommitted, for the
SIGKILL. The publish code is the real one; only the pause point is added.
"""

from __future__ import annotations

import os
import sys

from safeguard.serving import publish
from safeguard.serving.db import engine_for
from tests.served_factory import served_day

PAUSED = "inside-transaction"


def main(day: str, rows: int, seed: int) -> None:
    move_current_forward = publish._move_current_forward

    def move_then_wait(conn, score_date):
        changed = move_current_forward(conn, score_date)
        print(PAUSED, flush=True)
        sys.stdin.read()  # the parent kills the process here
        return changed

    publish._move_current_forward = move_then_wait
    publish.publish_day(engine_for(os.environ["FAULT_SERVING_URL"]), served_day(day, rows, seed=seed), day)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))

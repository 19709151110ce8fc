"""The exporter that test_export_kill.py kills: exports one day and stops at a chosen point of the switch.

``python -m tests.faults.export_child EXPORT_DIR DAY ROWS SEED POINT`` exports ``served_day(DAY, ROWS, SEED)`` to
the local folder EXPORT_DIR with the real code, prints POINT and waits on stdin for the SIGKILL at:

- ``part-written``: the new part is written into the hidden staging folder, its ``_SUCCESS`` not yet;
- ``staged``: the staging folder is complete, not switched in yet;
- ``switched``: the new day is in place, the previous export (now under the hidden name) not deleted yet.

Only the pause points are added, by wrapping the export's own steps.
"""

from __future__ import annotations

import sys

from safeguard.landing import ObjectStore
from safeguard.serving import exports
from tests.served_factory import served_day

POINTS = ("part-written", "staged", "switched")


def pause(point: str) -> None:
    print(point, flush=True)
    sys.stdin.read()  # the parent kills the process here


def main(export_dir: str, day: str, rows: int, seed: int, point: str) -> None:
    write_synced, switch, discard = exports._write_synced, exports._switch, exports._discard

    def write_then_pause(path, data):
        write_synced(path, data)
        if point == "part-written" and path.name == exports.PART_NAME:
            pause(point)

    def pause_then_switch(staged, target):
        if point == "staged":
            pause(point)
        return switch(staged, target)

    def pause_then_discard(old):
        if point == "switched":
            pause(point)
        discard(old)

    exports._write_synced, exports._switch, exports._discard = (
        write_then_pause,
        pause_then_switch,
        pause_then_discard,
    )
    exports.export_day(ObjectStore(export_dir), served_day(day, rows, seed=seed), day)
    print("finished", flush=True)


if __name__ == "__main__":
    assert sys.argv[5] in POINTS, sys.argv[5]
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])

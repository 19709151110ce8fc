"""Fault: the exporting process is SIGKILLed while it replaces a day's Parquet export (issue 16 §4).

A real child process (tests/faults/export_child.py) re-exports a day that has an export already, with the real
code, and stops at a point of the replacement: the new part half-staged, the new day fully staged, and the new
day switched in with the old one not yet deleted. The test reads the export the way a downstream reader does
(:func:`read_export`, and pyarrow's Hive-partitioned dataset over ``risk_scores/``) while it waits, kills it with
SIGKILL and reads again: the previous export of the day (or, once switched, the new one) is there whole, never a
missing or mixed day. The next export of the day completes and leaves nothing behind.

S3 has no rename: there the export overwrites the day's objects in place (each PUT is atomic) and deletes only
what it did not rewrite. An export that dies after its part (every PUT of ``_SUCCESS`` refused by a faulty proxy
in front of the real endpoint) leaves the day readable, whole, at every moment.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from botocore.exceptions import ClientError

from safeguard.landing import ObjectStore
from safeguard.serving.exports import EXPORT_DATASET, day_folder, export_day, read_export
from tests.faults.conftest import new_bucket
from tests.faults.export_child import POINTS
from tests.served_factory import served_day

ROOT = Path(__file__).resolve().parents[2]
D1, D2 = "2026-09-01", "2026-09-02"
OLD_ROWS, NEW_ROWS = 400, 650


def what_readers_see(store: ObjectStore) -> dict:
    """Each day's rows as read_export gives them, and the row count per day of the Hive-partitioned dataset."""
    dataset = ds.dataset(str(store.root / EXPORT_DATASET), format="parquet", partitioning="hive")
    per_day = dataset.to_table(columns=["account_id", "date"]).group_by("date").aggregate([("account_id", "count")])
    return {
        "days": {day: read_export(store, day).drop_columns(["published_at"]) for day in (D1, D2)},
        "dataset_rows": {
            str(d): n for d, n in zip(per_day["date"].to_pylist(), per_day["account_id_count"].to_pylist())
        },
    }


@pytest.mark.parametrize("point", POINTS)
def test_an_export_killed_while_it_replaces_a_day_leaves_a_whole_day_and_the_next_export_completes(tmp_path, point):
    store = ObjectStore(str(tmp_path / "exports"))
    export_day(store, served_day(D1, OLD_ROWS, seed=1), D1)
    export_day(store, served_day(D2, OLD_ROWS, seed=2), D2)
    before = what_readers_see(store)
    assert before["dataset_rows"] == {D1: OLD_ROWS, D2: OLD_ROWS}

    child = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.export_child", str(store.root), D2, str(NEW_ROWS), "3", point],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout.readline().strip() == point
        while_paused = what_readers_see(store)
    finally:
        child.kill()
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL

    after_kill = what_readers_see(store)
    if point == "switched":  # the new day is in place; only the old copy is left to delete
        expected_d2 = served_day(D2, NEW_ROWS, seed=3).sort_by("account_id")
        assert after_kill["dataset_rows"] == {D1: OLD_ROWS, D2: NEW_ROWS}
        assert after_kill["days"][D2].column("probability").to_pylist() == expected_d2.column("probability").to_pylist()
    else:
        assert while_paused == before and after_kill == before  # the previous export of the day, untouched
    assert after_kill["days"][D1] == before["days"][D1]
    assert store.list(day_folder(D2)) == ["_SUCCESS", "part-00000.parquet"]
    left_behind = [n for n in store.list(EXPORT_DATASET) if n.startswith(".")]
    assert len(left_behind) == 1 and left_behind[0].startswith(f".date={D2}."), left_behind

    rerun = export_day(store, served_day(D2, NEW_ROWS + 1, seed=4), D2)
    assert rerun.rows == NEW_ROWS + 1
    final = what_readers_see(store)
    assert final["dataset_rows"] == {D1: OLD_ROWS, D2: NEW_ROWS + 1}
    assert final["days"][D2].column("probability").to_pylist() == served_day(
        D2, NEW_ROWS + 1, seed=4).sort_by("account_id").column("probability").to_pylist()  # fmt: skip
    assert store.list(EXPORT_DATASET) == [
        f"date={D1}",
        f"date={D2}",
    ]  # the killed export's leftovers are gone


def test_an_s3_export_that_dies_before_its_marker_leaves_the_day_whole_and_the_next_export_completes(
    s3_endpoint, s3_proxy
):
    bucket = new_bucket(s3_endpoint)
    store = ObjectStore(f"s3://{bucket}/risk", s3_endpoint_url=s3_proxy.url)
    export_day(store, served_day(D2, OLD_ROWS, seed=2), D2)
    export_day(store, served_day(D2, OLD_ROWS + 5, seed=5), D2)  # a day with more objects than the new export
    store.write_bytes(f"{day_folder(D2)}/part-00001.parquet", store.read_bytes(f"{day_folder(D2)}/part-00000.parquet"))

    s3_proxy.fail_matching(f"date={D2}/_SUCCESS")  # the exporter "dies" after its part: every marker PUT fails
    with pytest.raises(ClientError):
        export_day(store, served_day(D2, NEW_ROWS, seed=3), D2)
    s3_proxy.heal()
    assert any(f.startswith("PUT ") for f in s3_proxy.failed)
    assert store.list(day_folder(D2)) == [
        "_SUCCESS",
        "part-00000.parquet",
        "part-00001.parquet",
    ]  # none deleted yet
    assert read_export(store, D2).num_rows == NEW_ROWS  # the part is the new one, whole; the marker still there

    export_day(store, served_day(D2, NEW_ROWS + 1, seed=4), D2)
    assert store.list(day_folder(D2)) == ["_SUCCESS", "part-00000.parquet"]  # the stale part deleted last
    assert read_export(store, D2).column("probability").to_pylist() == served_day(
        D2, NEW_ROWS + 1, seed=4).sort_by("account_id").column("probability").to_pylist()  # fmt: skip

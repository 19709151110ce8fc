"""Fault injection (issue 8 §2): each fault of the issue, and the test that proves it at the level an operator
sees it (a Dagster materialization through the code location's assets and resources, or ``safeguard run``).

1. The process killed in the middle of a publish (no mixed day visible; the next run completes), SQLite and
   PostgreSQL: test_publish_kill.py (a real child process SIGKILLed inside the publish transaction).
   An exception inside the transaction: tests/unit/test_publish.py, tests/integration/test_publish_postgres.py.
2. A corrupt model artifact (refused by checksum, the day fails naming it, the previous day stays served):
   test_corrupt_model.py. The registry's checks alone: tests/unit/test_registry.py.
3. The S3 endpoint throttling or failing for a few calls (retried, the day ingests) and persistently (the day
   fails naming the object, nothing of the batch written, earlier days untouched): test_s3_faults.py (moto's
   server behind a real HTTP proxy that injects S3 errors). Client-level retry: tests/unit/test_landing.py.
4. Two overlapping runs (the duckdb pool serializes them, no lock error): test_overlapping_runs.py (two
   ``safeguard run`` processes on one DAGSTER_HOME configured by deploy/dagster.local.yaml).
5. A new column in the landing data (ignored, noted in metadata) and a missing one (refused, column and file
   named): test_landing_data_faults.py. The rules: tests/unit/test_ingest.py.
6. Late events for an old day (re-materializing the day picks them up; everything downstream follows):
   test_late_events.py. The dbt half: tests/dbt/test_incremental.py.
7. Timestamps from a skewed clock (quarantined with the reason, never loaded): test_landing_data_faults.py.

Across days (issue 16):
- a day completing late (held with the days after it, then run with them; a day run early is refused by the
  feature step) and a re-landed day (rebuilt with every later day; equal to a clean run):
  test_days_across_runs.py; the sensor alone: tests/integration/test_landing_sensor.py;
- an empty or collapsed day (the volume check fails it, nothing published; the override; a later day refused), an
  unknown file (the day held): test_volume_faults.py;
- the export killed while switching a day: test_export_kill.py; an abort racing the daily decision:
  test_rollout_race.py.
"""

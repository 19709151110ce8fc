"""Run the real ``dagster dev`` (webserver + daemon) on 127.0.0.1 and talk to it as the UI does (GraphQL).

Everything started here runs in its own process group and session, and :meth:`DagsterDev.stop` ends the whole
group (SIGTERM, then SIGKILL): ``dagster dev`` started in the background ignores SIGINT.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

LAUNCH_BACKFILL = """
mutation LaunchBackfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}"""

BACKFILL_STATUS = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      id status numPartitions
      runs { runId status tags { key value } }
      error { message }
    }
    ... on Error { message }
  }
}"""

SCHEDULE_DRY_RUN = """
mutation DryRun($selector: ScheduleSelector!, $timestamp: Float) {
  scheduleDryRun(selectorData: $selector, timestamp: $timestamp) {
    __typename
    ... on DryRunInstigationTick {
      evaluationResult {
        runRequests { runKey jobName runConfigYaml tags { key value } }
        skipReason
        error { message stack }
      }
    }
    ... on PythonError { message stack }
  }
}"""

LAUNCH_RUN = """
mutation LaunchRun($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}"""

RUN_STATUS = """
query Run($id: ID!) {
  runOrError(runId: $id) {
    __typename
    ... on Run { runId status jobName tags { key value } }
    ... on Error { message }
  }
}"""

TERMINAL_BACKFILL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
TERMINAL_RUN = {"SUCCESS", "FAILURE", "CANCELED"}
REPOSITORY = "__repository__"  # the name Dagster gives the repository of a Definitions object


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DagsterDev:
    def __init__(self, *, workspace: Path, dagster_home: Path, env: dict[str, str], log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = open(log_path, "w")  # noqa: SIM115 — closed in stop()
        self.log_path = log_path
        exe = Path(sys.executable).with_name("dagster")
        self.proc = subprocess.Popen(
            [str(exe), "dev", "-w", str(workspace), "-h", "127.0.0.1", "-p", str(self.port)],
            cwd=workspace.parent,
            env={**os.environ, **env, "DAGSTER_HOME": str(dagster_home)},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dagster dev exited with {self.proc.returncode}; see {self.log_path}")
            try:
                data = self.graphql(
                    "{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus } } } }"
                )
                entries = data["workspaceOrError"].get("locationEntries", [])
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    return
            except OSError:
                pass
            time.sleep(1)
        raise TimeoutError(f"dagster dev not ready after {timeout}s; see {self.log_path}")

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        req = urllib.request.Request(f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            payload = json.loads(resp.read())
        if payload.get("errors"):
            raise RuntimeError(f"GraphQL errors: {payload['errors']}")
        return payload["data"]

    def launch_backfill(self, asset_keys: list[list[str]], partition_names: list[str], title: str) -> str:
        """The mutation the UI's 'Materialize' dialog sends for a partition range of selected assets."""
        params = {
            "assetSelection": [{"path": k} for k in asset_keys],
            "partitionNames": partition_names,
            "fromFailure": False,
            "title": title,
        }
        result = self.graphql(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise RuntimeError(f"backfill not launched: {result}")
        return result["backfillId"]

    def wait_backfill(self, backfill_id: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self.graphql(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
            runs = data.get("runs") or []
            if data.get("status") in TERMINAL_BACKFILL and all(
                r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in runs
            ):
                return data
            time.sleep(2)
        raise TimeoutError(f"backfill {backfill_id} not finished after {timeout}s; see {self.log_path}")

    def dry_run_schedule(self, location: str, schedule: str, timestamp: float) -> list[dict]:
        """Evaluate ``schedule`` as of ``timestamp`` in the code server, as the daemon does on a tick (and the
        UI's "Test schedule" does); returns its run requests, or raises with the skip reason or error."""
        selector = {"repositoryLocationName": location, "repositoryName": REPOSITORY, "scheduleName": schedule}
        data = self.graphql(SCHEDULE_DRY_RUN, {"selector": selector, "timestamp": timestamp})["scheduleDryRun"]
        if data["__typename"] != "DryRunInstigationTick":
            raise RuntimeError(f"schedule {schedule} not evaluated: {data}")
        result = data["evaluationResult"]
        if result["error"] or not result["runRequests"]:
            raise RuntimeError(f"schedule {schedule} requested no run: {result}")
        return result["runRequests"]

    def launch_run(self, location: str, run_request: dict) -> str:
        """Submit a run request (job, config, tags) to the instance's run coordinator, as the daemon does."""
        params = {
            "selector": {
                "repositoryLocationName": location,
                "repositoryName": REPOSITORY,
                "jobName": run_request["jobName"],
            },
            "runConfigData": run_request["runConfigYaml"],
            "executionMetadata": {"tags": run_request["tags"]},
        }
        result = self.graphql(LAUNCH_RUN, {"params": params})["launchRun"]
        if result["__typename"] != "LaunchRunSuccess":
            raise RuntimeError(f"run not launched: {result}")
        return result["run"]["runId"]

    def wait_run(self, run_id: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.graphql(RUN_STATUS, {"id": run_id})["runOrError"]
            if run.get("status") in TERMINAL_RUN:
                return run
            time.sleep(2)
        raise TimeoutError(f"run {run_id} not finished after {timeout}s; see {self.log_path}")

    def processes_left(self, timeout: float = 60) -> list[int]:
        """Live processes of the group this harness started, waiting up to ``timeout`` s for the ones :meth:`stop`
        signalled to exit (a killed process lingers a moment as a zombie, which no longer counts)."""
        deadline = time.monotonic() + timeout
        while True:
            left = self._group_members()
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(0.5)

    def _group_members(self) -> list[int]:
        members = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                stat = (proc / "stat").read_text()
            except OSError:  # exited meanwhile
                continue
            # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'
            state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
            if int(pgrp) == self.proc.pid and state != "Z":
                members.append(int(proc.name))
        return members

    def stop(self) -> None:
        if self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        # children of the group outlive the leader sometimes: end the whole group
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._log.close()

"""Which executor runs a job's steps, chosen by ``SAFEGUARD_EXECUTOR`` (issue 18; docs/scale-out.md).

- ``in_process`` (the default): every step of a run in the run's one process. Every step that writes the DuckDB
  warehouse holds its one-slot pool anyway, so steps never overlap; one process saves a code-location import per
  step. On Kubernetes this is still one pod per run (the K8sRunLauncher of ``deploy/k8s/values.yaml``).
- ``k8s``: every step in a Kubernetes job of its own (``dagster_k8s.k8s_job_executor``, the ``deploy`` extra). Only
  for a warehouse that is not a local file: with the Spark engine, whose tables live in the cluster's catalog.
"""

from __future__ import annotations

from dagster import ExecutorDefinition, in_process_executor

EXECUTORS = ("in_process", "k8s")


def executor_named(name: str | None) -> ExecutorDefinition:
    """The executor ``name`` selects (None or empty: ``in_process``); an unknown name or a missing package is an
    error saying what to do."""
    name = (name or "in_process").strip()
    if name == "in_process":
        return in_process_executor
    if name == "k8s":
        try:
            from dagster_k8s import k8s_job_executor
        except ImportError:
            raise ValueError(
                "SAFEGUARD_EXECUTOR=k8s needs dagster-k8s: install the deploy extra (uv sync --extra deploy)"
            ) from None
        return k8s_job_executor
    raise ValueError(f"SAFEGUARD_EXECUTOR={name!r} is not an executor; use one of {', '.join(EXECUTORS)}")

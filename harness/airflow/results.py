"""What one DAG run saw (``DagRunResult``: plain, JSON-able data) and its reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ACTIVE_CLUSTER_STATES", "DagNotFoundError", "DagRunResult", "FINISHED_TASK_STATES"]


#: States of an EMR cluster that still runs (or will) and costs money on AWS.
ACTIVE_CLUSTER_STATES = ("STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING", "TERMINATING")
FINISHED_TASK_STATES = ("success", "failed", "skipped", "upstream_failed", "removed")


class DagNotFoundError(LookupError):
    """The DAG id is not in the folder (carries the folder's import errors, if any)."""


@dataclass
class DagRunResult:
    """What one ``run_dag`` saw. Plain data (JSON-able), so it crosses a process boundary."""

    dag_id: str
    run_id: str | None
    state: str  # "success" / "failed"
    task_states: dict[str, str]
    durations: dict[str, float]
    xcoms: dict[str, Any]  # task id -> return_value
    errors: dict[str, str] = field(default_factory=dict)  # task id -> exception, one line
    logs: dict[str, str] = field(default_factory=dict)  # task id -> captured log ("" = run)
    events: list[dict[str, Any]] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    clusters: list[dict[str, Any]] = field(default_factory=list)  # created during the run
    step_failures: list[dict[str, Any]] = field(default_factory=list)
    s3_keys: dict[str, list[str]] = field(default_factory=dict)  # bucket -> keys, after the run
    timings: dict[str, float] = field(default_factory=dict)  # phase -> seconds
    airflow_home: str | None = None
    isolation: str = "in-process"
    waits: dict[str, str] = field(default_factory=dict)  # task id -> what it last waited for
    #: Set when the whole-run timeout stopped the run: timeout, elapsed, task_id, waiting_for,
    #: how ("task stopped": failed without retry, teardowns ran; or "worker killed").
    timed_out: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """The run succeeded *and* no task failed.

        Airflow decides a run's state from its leaves only; a teardown with
        ``on_failure_fail_dagrun=True`` becomes the only leaf, so a failed task upstream of it can
        end in a "success" run. ``ok`` does not let that through (``failure_report`` says so).
        """
        return self.state == "success" and not self.failed_tasks

    @property
    def failed_tasks(self) -> list[str]:
        return [t for t, s in self.task_states.items() if s == "failed"]

    @property
    def active_clusters(self) -> list[dict[str, Any]]:
        """Clusters created by this run that are not terminated (should always be empty)."""
        return [c for c in self.clusters if c.get("state") in ACTIVE_CLUSTER_STATES]

    def log(self, task_id: str) -> str:
        return self.logs.get(task_id, "")

    def summary(self) -> str:
        """Per-task table (task, state, duration) in execution order, then the run's state."""
        width = max([len(t) for t in self.task_states] + [4])
        lines = [f"{'task':<{width}}  {'state':<15} {'duration':>9}", "-" * (width + 27)]
        for task_id, state in self.task_states.items():
            d = self.durations.get(task_id)
            dur = f"{d:8.2f}s" if d is not None else f"{'-':>9}"
            lines.append(f"{task_id:<{width}}  {state:<15} {dur}")
        lines.append("-" * (width + 27))
        lines.append(f"dag run {self.dag_id}: {self.state}")
        return "\n".join(lines)

    def failure_report(self, stderr_lines: int = 20) -> str:
        """Which task failed, with what error, and the tail of any failed EMR step's stderr."""
        if self.ok:
            return f"dag run {self.dag_id} succeeded"
        out = [f"dag run {self.dag_id} {self.state}"]
        if self.state == "success":
            out[0] += (
                " although tasks failed: Airflow judged the run by its leaves only (a teardown with"
                " on_failure_fail_dagrun=True hides failures upstream of it)"
            )
        if self.timed_out:
            t = self.timed_out
            line = (f"  run timed out: the {t['timeout']:g} s budget (--timeout) was used up "
                    f"after {t['elapsed']:.1f} s")
            if t.get("task_id"):
                line += f" while {t['task_id']} was running"
            if t.get("waiting_for"):
                line += f", waiting for {t['waiting_for']}"
            if t.get("how") == "worker killed":
                line += ("; the DAG worker was killed, so no teardown ran: the harness "
                         "terminated the clusters the run created")
            out.append(line)
        for task_id in self.failed_tasks or ["(no task failed: see the run log)"]:
            out.append(f"  failed task: {task_id}")
            if task_id in self.errors:
                out.append(f"    error: {self.errors[task_id]}")
            if task_id in self.waits:
                out.append(f"    was waiting for: {self.waits[task_id]}")
        for step in self.step_failures:
            out.append(
                f"  EMR step {step['step_id']} ({step.get('name')}) "
                f"{step.get('state', 'FAILED')} on cluster "
                f"{step['cluster_id']}: {step.get('reason') or ''} {step.get('message') or ''}"
                .rstrip()
            )
            for stream in ("stderr", "stdout"):
                tail = (step.get(f"{stream}_tail") or "").splitlines()[-stderr_lines:]
                if tail:
                    out.append(f"    step {stream} (tail):")
                    out += [f"      {line}" for line in tail]
        for c in self.clusters:
            if c.get("state") == "TERMINATED_WITH_ERRORS":
                out.append(f"  cluster {c['id']} TERMINATED_WITH_ERRORS: {c.get('reason')}: "
                           f"{c.get('message') or ''}".rstrip())
        for c in self.active_clusters:
            out.append(f"  WARNING: cluster {c['id']} is still {c['state']}")
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DagRunResult:
        return cls(**data)

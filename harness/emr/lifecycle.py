"""The cluster lifecycle: one worker thread per cluster drives it through

    STARTING -> BOOTSTRAPPING -> WAITING <-> RUNNING -> TERMINATING -> TERMINATED[_WITH_ERRORS]

running its steps (through `StepRunner`) with ActionOnFailure semantics, injected faults and
the strict version check. Every state change goes through the runtime, under its lock.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from harness.emr.records import ClusterRun, StepRun
from harness.emr.states import ClusterReason, ClusterState, StepState
from harness.emr.step_runner import StepOutcome, Workspace

if TYPE_CHECKING:
    from harness.emr.runtime import EmrRuntime

__all__ = ["ClusterLifecycle", "PHASE_MESSAGES"]

log = logging.getLogger("harness.emr")

#: StateChangeReason messages of the non-terminal states (no code), as EMR shows them.
PHASE_MESSAGES = {
    ClusterState.BOOTSTRAPPING: "Running bootstrap actions",
    ClusterState.RUNNING: "Running step",
    ClusterState.WAITING: "Cluster ready to run steps.",
}


class ClusterLifecycle:
    """The worker side of an `EmrRuntime`: `main(run)` is one cluster thread's body."""

    def __init__(self, rt: EmrRuntime) -> None:
        self.rt = rt

    def main(self, run: ClusterRun) -> None:
        rt = self.rt
        try:
            self._lifecycle(run)
        except Exception as exc:  # a bug here must not leave a cluster alive forever
            log.exception("EMR runtime error on %s", run.id)
            with rt._cond:
                rt._request_termination(
                    run, ClusterReason.INTERNAL_ERROR, f"Emulator internal error: {exc!r}"
                )
        finally:
            with rt._cond:
                if run.state is ClusterState.TERMINATING:
                    self._finish(run)

    def _pause(self, run: ClusterRun, seconds: float) -> None:
        """Stay in the current state for `seconds` and while it is held; a termination
        request ends the pause early (except a held TERMINATING)."""
        rt = self.rt
        with rt._cond:
            here = run.state
            if seconds > 0:
                rt._cond.wait_for(lambda: run.state is not here, seconds)
            rt._cond.wait_for(
                lambda: here not in rt._held or (run.state is not here) or rt._stopping
            )

    def _lifecycle(self, run: ClusterRun) -> None:
        rt = self.rt
        fault = rt.faults.cluster_fault(run.moto.name or "")
        self._pause(run, rt.delays.starting)
        with rt._cond:
            if run.state is ClusterState.TERMINATING:
                return
            if rt._strict_version_error(run):
                rt._request_termination(
                    run, ClusterReason.VALIDATION_ERROR, rt._strict_version_error(run)
                )
                return
            if fault is not None and fault.kind == "spot_capacity":
                rt._request_termination(
                    run, ClusterReason.INSTANCE_FAILURE, fault.message or spot_message(run.moto)
                )
                return
            rt._set_cluster(run, ClusterState.BOOTSTRAPPING)
        self._pause(run, rt.delays.bootstrapping)
        with rt._cond:
            if run.state is ClusterState.TERMINATING:
                return
            if fault is not None and fault.kind == "bootstrap":
                rt._request_termination(
                    run,
                    ClusterReason.BOOTSTRAP_FAILURE,
                    fault.message or bootstrap_message(run.moto),
                )
                return
            rt._set_cluster(run, ClusterState.WAITING)

        while True:
            with rt._cond:
                rt._cond.wait_for(
                    lambda: (
                        run.state is ClusterState.TERMINATING
                        or run.next_pending() is not None
                        or not run.keep_alive
                    )
                )
                if run.state is ClusterState.TERMINATING:
                    return
                step = run.next_pending()
                if step is None:  # auto-terminating cluster with an empty queue
                    rt._request_termination(
                        run,
                        ClusterReason.ALL_STEPS_COMPLETED,
                        "Steps completed with errors" if run.any_step_failed else None,
                    )
                    return
                rt._set_cluster(run, ClusterState.RUNNING)
                rt._set_step(step, StepState.RUNNING)
                ws = rt._workspace(run, step)
            outcome = rt.step_runner.run(run, step, ws)
            with rt._cond:
                self._record(step, outcome)
                self._after_step(run, step)

    def _record(self, step: StepRun, outcome: StepOutcome) -> None:
        """The step's final state from its outcome (under the lock)."""
        rt = self.rt
        step.exit_code = outcome.exit_code
        if outcome.cancelled or step.cancel_event.is_set():
            rt._set_step(step, StepState.CANCELLED)
        elif outcome.exit_code == 0:
            rt._set_step(step, StepState.COMPLETED)
        else:
            step.failure = outcome.failure
            rt._set_step(step, StepState.FAILED)

    def _after_step(self, run: ClusterRun, step: StepRun) -> None:
        rt = self.rt
        if step.state is not StepState.FAILED:
            if run.state is ClusterState.RUNNING:
                rt._set_cluster(run, ClusterState.WAITING)
            return
        run.any_step_failed = True
        action = step.action_on_failure
        if action.cancels_pending:
            for other in run.steps:
                if other.state is StepState.PENDING:
                    rt._set_step(other, StepState.CANCELLED)
        if action.terminates_cluster:
            rt._request_termination(run, ClusterReason.STEP_FAILURE)
        elif run.state is ClusterState.RUNNING:
            rt._set_cluster(run, ClusterState.WAITING)

    def _finish(self, run: ClusterRun) -> None:
        """TERMINATING -> TERMINATED / TERMINATED_WITH_ERRORS (called under the lock)."""
        rt = self.rt
        if not rt._stopping:
            if rt.delays.terminating > 0:  # a deadline: other notifications do not end it
                rt._cond.wait_for(lambda: rt._stopping, rt.delays.terminating)
            rt._cond.wait_for(lambda: ClusterState.TERMINATING not in rt._held or rt._stopping)
        for step in run.steps:  # anything still queued or running dies with the cluster
            if step.state in (StepState.PENDING, StepState.RUNNING):
                # RUNNING here only if the worker broke mid-step (an internal error).
                rt._set_step(step, StepState.CANCELLED)
        reason = run.reason or ClusterReason.USER_REQUEST
        final = ClusterState.TERMINATED_WITH_ERRORS if reason.is_error else ClusterState.TERMINATED
        rt._set_cluster(run, final, reason=reason, message=run.reason_message)


def spot_message(cluster: Any) -> str:
    groups = list(cluster.instance_groups)
    group = next((g for g in groups if g.market == "SPOT" and g.role == "CORE"), None)
    group = group or next((g for g in groups if g.market == "SPOT"), None)
    group = group or next((g for g in groups if g.role == "CORE"), None)
    if group is None:
        return "The requested Spot capacity is not available (InsufficientInstanceCapacity)."
    return (
        f"Instance group {group.id} ({group.role}, {group.market}, {group.instance_type}) "
        "could not be provisioned: the requested Spot capacity is not available "
        "(InsufficientInstanceCapacity)."
    )


def bootstrap_message(cluster: Any) -> str:
    actions = list(cluster.bootstrap_actions)
    path = actions[0].script_path if actions else "s3://<injected>/bootstrap.sh"
    return f"On the master instance, bootstrap action 1 ({path}) returned a non-zero return code"



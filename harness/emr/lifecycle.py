"""The cluster lifecycle: one worker thread per cluster drives it through

    STARTING -> BOOTSTRAPPING -> WAITING <-> RUNNING -> TERMINATING -> TERMINATED[_WITH_ERRORS]

running its bootstrap actions (`BootstrapRunner`) while BOOTSTRAPPING, then its steps
(`StepRunner`, each in a thread of its own, `StepConcurrencyLevel` at a time in submission
order) with ActionOnFailure semantics, the AutoTerminationPolicy idle timer, injected faults
and the strict version check. Every state change goes through the runtime, under its lock.
"""

from __future__ import annotations

import logging
import threading
import time
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
                # Steps still running (only after an error above) end first: their cancel
                # events are set, and their own threads record how they ended.
                rt._cond.wait_for(lambda: not run.step_threads, 30)
                if run.terminating:
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
            if run.terminating:
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
            if run.terminating:
                return
            if fault is not None and fault.kind == "bootstrap":
                rt._request_termination(
                    run,
                    ClusterReason.BOOTSTRAP_FAILURE,
                    fault.message or bootstrap_message(run.moto),
                )
                return
            workdir, logs_root = rt.workdir, rt.logs_root
        failure = rt.bootstrap_runner.run_all(
            run.moto, workdir=workdir, logs_root=logs_root, cancel=run.cancel_event
        )
        with rt._cond:
            if run.terminating:
                return
            if failure is not None:
                rt._request_termination(run, ClusterReason.BOOTSTRAP_FAILURE, failure.message)
                return
            rt._set_cluster(run, ClusterState.WAITING)
            run.idle_since = time.monotonic()
            self._steps_loop(run)

    def _steps_loop(self, run: ClusterRun) -> None:
        """Start pending steps, up to the cluster's StepConcurrencyLevel at a time, in
        submission order, until the cluster terminates (called and returning under the lock;
        every step thread has ended when it returns)."""
        rt = self.rt
        while True:

            def ready() -> bool:
                if run.terminating:
                    return True
                if run.next_pending() is not None and len(run.step_threads) < run.concurrency:
                    return True
                if not run.step_threads and run.next_pending() is None:
                    return not run.keep_alive or self._idle_deadline(run) is not None
                return False

            rt._cond.wait_for(ready)
            if run.terminating:
                break
            pending = run.next_pending()
            if pending is not None and len(run.step_threads) < run.concurrency:
                self._start_step(run, pending)
                continue
            if not run.keep_alive:  # auto-terminating cluster with an empty queue
                rt._request_termination(
                    run,
                    ClusterReason.ALL_STEPS_COMPLETED,
                    "Steps completed with errors" if run.any_step_failed else None,
                )
                break
            deadline = self._idle_deadline(run)
            assert deadline is not None  # ready() said so
            left = deadline - time.monotonic()
            if left > 0:
                # Woken early by anything (a new step, a new policy): re-evaluate.
                rt._cond.wait(left)
                continue
            rt._request_termination(
                run,
                ClusterReason.ALL_STEPS_COMPLETED,
                f"Cluster was idle for {run.idle_timeout:g} seconds (AutoTerminationPolicy "
                "IdleTimeout) and terminated automatically",
            )
            break
        # Running steps were told to stop (their cancel events): wait for their threads.
        rt._cond.wait_for(lambda: not run.step_threads)

    def _idle_deadline(self, run: ClusterRun) -> float | None:
        """When an idle cluster (nothing running or pending: only called then) ends."""
        timeout = run.idle_timeout
        if timeout is None:
            return None
        if run.idle_since is None:  # idle without a step ending (its queue was cancelled)
            run.idle_since = time.monotonic()
        return run.idle_since + timeout * self.rt.delays.time_factor

    def _start_step(self, run: ClusterRun, step: StepRun) -> None:
        """PENDING -> RUNNING and a thread of its own (under the lock)."""
        rt = self.rt
        if run.state is ClusterState.WAITING:
            rt._set_cluster(run, ClusterState.RUNNING)
        rt._set_step(step, StepState.RUNNING)
        run.idle_since = None
        ws = rt._workspace(run, step)
        thread = threading.Thread(
            target=self._step_main, args=(run, step, ws), name=f"emr-{step.id}", daemon=True
        )
        run.step_threads[step.id] = thread
        thread.start()  # under the lock: it blocks on it before touching any state

    def _step_main(self, run: ClusterRun, step: StepRun, ws: Workspace) -> None:
        rt = self.rt
        try:
            outcome = rt.step_runner.run(run, step, ws)
        except Exception as exc:  # a bug in the runner ends the cluster, as before the split
            log.exception("EMR runtime error on %s / %s", run.id, step.id)
            with rt._cond:
                rt._request_termination(
                    run, ClusterReason.INTERNAL_ERROR, f"Emulator internal error: {exc!r}"
                )
                if step.state is StepState.RUNNING:
                    rt._set_step(step, StepState.CANCELLED)
                run.step_threads.pop(step.id, None)
                rt._cond.notify_all()
            return
        with rt._cond:
            self._record(step, outcome)
            run.step_threads.pop(step.id, None)
            self._after_step(run, step)
            rt._cond.notify_all()

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
        if step.state is StepState.FAILED:
            run.any_step_failed = True
            # EMR: with StepConcurrencyLevel > 1, a failing step's CANCEL_AND_WAIT cancels
            # nothing and TERMINATE_CLUSTER does not terminate (only CONTINUE is accepted
            # then; these come from steps added while the level was 1).
            action = step.action_on_failure if run.concurrency == 1 else None
            if action is not None and action.cancels_pending:
                for other in run.steps:
                    if other.state is StepState.PENDING:
                        rt._set_step(other, StepState.CANCELLED)
            if action is not None and action.terminates_cluster:
                rt._request_termination(run, ClusterReason.STEP_FAILURE)
                return
        if run.state is ClusterState.RUNNING and not run.step_threads:
            rt._set_cluster(run, ClusterState.WAITING)
            if run.next_pending() is None:
                run.idle_since = time.monotonic()

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



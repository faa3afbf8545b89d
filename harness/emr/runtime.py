"""The EMR runtime: gives moto's clusters and steps a real life.

moto stores clusters and steps and answers the EMR API, but never moves a step on (moto
issue 1925). While installed, this runtime hooks moto's EMR backend so that it is *told*
about every RunJobFlow, AddJobFlowSteps, TerminateJobFlows and CancelSteps (no polling),
and one worker thread per cluster then drives it:

    STARTING -> BOOTSTRAPPING -> WAITING <-> RUNNING -> TERMINATING -> TERMINATED[_WITH_ERRORS]

running its steps one at a time in submission order through a pluggable `StepExecutor`,
with S3 staging around each step, EMR-layout logs, ActionOnFailure semantics, the version
guard and injected faults. The runtime is the source of truth; moto's objects are the view it
keeps up to date (their `status` now carries StateChangeReason codes and FailureDetails).

moto's backends are process-global, so one runtime may be installed per process at a time.
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.emr.executors import StepExecutor, SubprocessExecutor
from harness.emr.faults import Faults
from harness.emr.logs import error_line, tail, upload_step_logs
from harness.emr.node_cli import local_node_tools
from harness.emr.node_commands import node_env
from harness.emr.staging import SharedMirror, Stager
from harness.emr.states import (
    ActionOnFailure,
    ClusterReason,
    ClusterState,
    StepState,
    advance,
)
from harness.emr.steps import plain_configurations, plan_step
from harness.offline_env import snapshot_environ

__all__ = [
    "ClusterRun",
    "EmrRuntime",
    "LifecycleDelays",
    "StepRun",
]

log = logging.getLogger("harness.emr")


@dataclass(frozen=True)
class LifecycleDelays:
    """Seconds spent in each transitional cluster state (0 = as fast as possible).

    Non-zero values help tests and demos that want to watch STARTING or BOOTSTRAPPING; they
    are interruptible waits, never fixed sleeps.
    """

    starting: float = 0.0
    bootstrapping: float = 0.0
    terminating: float = 0.0


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


@dataclass
class StepRun:
    moto: Any  # moto.emr.models.Step
    cluster_id: str
    index: int
    action_on_failure: ActionOnFailure
    state: StepState = StepState.PENDING
    cancel_event: threading.Event = field(default_factory=threading.Event)
    failure: dict[str, str] | None = None
    exit_code: int | None = None

    @property
    def id(self) -> str:
        return self.moto.id

    @property
    def name(self) -> str:
        return self.moto.name


@dataclass
class ClusterRun:
    moto: Any  # moto.emr.models.Cluster
    state: ClusterState = ClusterState.STARTING
    reason: ClusterReason | None = None
    reason_message: str | None = None
    steps: list[StepRun] = field(default_factory=list)
    history: list[tuple[ClusterState, str | None, _dt.datetime]] = field(default_factory=list)
    thread: threading.Thread | None = None
    any_step_failed: bool = False
    #: the `app/<id>` of the RunJobFlow request's User-Agent (botocore's `user_agent_appid`,
    #: `AWS_SDK_UA_APP_ID`): who created the cluster, e.g. one `run_dag` call
    app_id: str | None = None

    @property
    def id(self) -> str:
        return self.moto.id

    @property
    def keep_alive(self) -> bool:
        return bool(self.moto.keep_job_flow_alive_when_no_steps)

    def next_pending(self) -> StepRun | None:
        return next((s for s in self.steps if s.state is StepState.PENDING), None)


class EmrRuntime:
    """Drives the clusters of moto's EMR backend. See the module docstring."""

    def __init__(
        self,
        *,
        endpoint_url: str,
        region: str,
        workdir: Path,
        faults: Faults | None = None,
        executor: StepExecutor | None = None,
        strict_versions: bool = False,
        delays: LifecycleDelays = LifecycleDelays(),
        env: dict[str, str] | None = None,
        base_env: dict[str, str] | None = None,
        s3_endpoint_url: str | None = None,
    ) -> None:
        self.endpoint_url = endpoint_url
        # Where step inputs, outputs and logs live: another S3 (LocalStack's) when given.
        self.s3_endpoint_url = s3_endpoint_url or endpoint_url
        self.region = region
        self.workdir = Path(workdir)
        self.mirror_root = self.workdir / "s3"
        self.logs_root = self.workdir / "logs"
        self._mirror = SharedMirror(self.mirror_root)  # one lock and claim table for all steps
        self.faults = faults or Faults()
        self.executor: StepExecutor = executor or SubprocessExecutor()
        self.strict_versions = strict_versions
        self.delays = delays
        self.step_env = dict(env or {})  # AWS_* for the steps (endpoint, dummy creds)
        # What steps start from: a snapshot taken now, never os.environ read from a cluster
        # thread (Airflow's in-process supervisor adds and deletes variables meanwhile).
        self.base_env = dict(base_env) if base_env is not None else snapshot_environ()
        self._version_warnings: list[str] = []
        self._cond = threading.Condition(threading.RLock())
        self._clusters: dict[str, ClusterRun] = {}
        self._s3: Any = None  # made in install(): building a client reads os.environ
        self._stopping = False
        self._unpatch: list[Callable[[], None]] = []
        self._held: set[ClusterState] = set()

    # ------------------------------------------------------------------------------------------
    # installation: hook moto's EMR backend
    # ------------------------------------------------------------------------------------------
    def install(self) -> None:
        from moto.emr import models, responses

        global _ACTIVE
        if _ACTIVE is not None and _ACTIVE is not self:
            raise RuntimeError(
                "another EMR runtime is already installed in this process (moto's state is "
                "process-global): stop the other EmulatedAWS first"
            )
        _ACTIVE = self
        self._s3client()  # now, in the installing thread (see _s3client)
        backend_cls = models.ElasticMapReduceBackend
        response_cls = responses.ElasticMapReduceResponse
        runtime = self

        orig_run = response_cls.run_job_flow
        orig_add = backend_cls.add_job_flow_steps

        def run_job_flow(resp: Any) -> Any:
            result = orig_run(resp)
            cluster = resp.backend.clusters[result.result["JobFlowId"]]
            runtime.on_cluster_created(cluster, user_agent=resp.headers.get("User-Agent", ""))
            return result

        def add_job_flow_steps(backend: Any, job_flow_id: str, steps: list) -> list:
            return runtime.on_add_steps(backend, job_flow_id, steps, orig_add)

        def terminate_job_flows(backend: Any, job_flow_ids: list[str]) -> list:
            return runtime.on_terminate(backend, job_flow_ids)

        def cancel_steps(resp: Any) -> Any:
            from moto.core.responses import ActionResult

            info = runtime.cancel_steps(
                resp.backend, resp._get_param("ClusterId"), resp._get_param("StepIds", [])
            )
            return ActionResult({"CancelStepsInfoList": info})

        patches = [
            (response_cls, "run_job_flow", run_job_flow),
            (backend_cls, "add_job_flow_steps", add_job_flow_steps),
            (backend_cls, "terminate_job_flows", terminate_job_flows),
            (response_cls, "cancel_steps", cancel_steps),
        ]
        for owner, name, fn in patches:
            missing = object()
            old = owner.__dict__.get(name, missing)
            setattr(owner, name, fn)
            if old is missing:
                self._unpatch.append(lambda o=owner, n=name: delattr(o, n))
            else:
                self._unpatch.append(lambda o=owner, n=name, f=old: setattr(o, n, f))

    def uninstall(self) -> None:
        global _ACTIVE
        self.shutdown()
        while self._unpatch:
            self._unpatch.pop()()
        if _ACTIVE is self:
            _ACTIVE = None

    def shutdown(self, timeout: float = 10.0) -> None:
        """Terminate every live cluster (killing running steps) and join the workers."""
        with self._cond:
            self._stopping = True
            self._held.clear()
            runs = list(self._clusters.values())
            for run in runs:
                self._request_termination(run, ClusterReason.USER_REQUEST)
            self._cond.notify_all()
        for run in runs:
            if run.thread is not None and run.thread is not threading.current_thread():
                run.thread.join(timeout)
        with self._cond:
            self._stopping = False

    def use_workdir(self, workdir: Path) -> None:
        """Later steps stage and log under ``workdir``; running steps keep their folders."""
        with self._cond:
            self.workdir = Path(workdir)
            self.mirror_root = self.workdir / "s3"
            self.logs_root = self.workdir / "logs"
            self._mirror = SharedMirror(self.mirror_root)

    def forget(self) -> None:
        """Shut down and drop all cluster records (after a moto reset)."""
        self.shutdown()
        with self._cond:
            self._clusters.clear()
            self._version_warnings.clear()

    @property
    def version_warnings(self) -> list[str]:
        """Version-guard problems seen so far (a copy)."""
        with self._cond:
            return list(self._version_warnings)

    # ------------------------------------------------------------------------------------------
    # events from the API (HTTP threads)
    # ------------------------------------------------------------------------------------------
    def on_cluster_created(self, cluster: Any, *, user_agent: str = "") -> None:
        _enrich(cluster)
        with self._cond:
            run = ClusterRun(moto=cluster, app_id=app_id_of(user_agent))
            self._clusters[cluster.id] = run
            # Undo moto's instant lifecycle: a new cluster is STARTING with nothing run yet.
            cluster.ready_datetime = None
            cluster.end_datetime = None
            cluster.start_datetime = None
            self._set_cluster(run, ClusterState.STARTING, initial=True)
            for step in cluster.steps:
                self._register_step(run, step)
            run.thread = threading.Thread(
                target=self._cluster_main, args=(run,), name=f"emr-{cluster.id}", daemon=True
            )
            # Started under the lock: shutdown() never sees an unstarted thread to join. The
            # worker blocks on the lock until we release it.
            run.thread.start()
        self._version_guard(run)

    def on_add_steps(self, backend: Any, cluster_id: str, steps: list, orig: Callable) -> list:
        from moto.emr.exceptions import ValidationException

        with self._cond:
            run = self._clusters.get(cluster_id)
            if run is None and cluster_id not in backend.clusters:
                raise ValidationException(f"Cluster id '{cluster_id}' is not valid.")
            if run is not None and not run.state.accepts_steps:
                raise ValidationException(
                    "A job flow that is shutting down, terminated, or finished may not be "
                    f"modified. Cluster {cluster_id} is {run.state.value}."
                )
            added = orig(backend, cluster_id, steps)  # moto: marks the cluster RUNNING ...
            if run is not None:
                run.moto.state = run.state.value  # ... which is not true yet: restore
                for step in added:
                    self._register_step(run, step)
                self._cond.notify_all()
            return added

    def on_terminate(self, backend: Any, cluster_ids: list[str]) -> list:
        from moto.emr.exceptions import ValidationException

        with self._cond:
            clusters = [backend.describe_cluster(cid) for cid in cluster_ids]  # InvalidCluster
            if any(c.termination_protected for c in clusters):
                raise ValidationException(
                    "Could not shut down one or more job flows since they are termination "
                    "protected."
                )
            for cluster in clusters:
                run = self._clusters.get(cluster.id)
                if run is None:
                    cluster.terminate()  # not ours (e.g. created before install)
                else:
                    self._request_termination(run, ClusterReason.USER_REQUEST)
            self._cond.notify_all()
            return clusters

    def cancel_steps(self, backend: Any, cluster_id: str, step_ids: Iterable[str]) -> list[dict]:
        backend.describe_cluster(cluster_id)  # raises InvalidCluster for unknown ids
        info = []
        with self._cond:
            run = self._clusters.get(cluster_id)
            by_id = {s.id: s for s in run.steps} if run else {}
            for sid in step_ids:
                step = by_id.get(sid)
                if step is None:
                    info.append({"StepId": sid, "Status": "FAILED", "Reason": "Step not found"})
                elif step.state is StepState.PENDING:
                    self._set_step(step, StepState.CANCELLED)
                    info.append({"StepId": sid, "Status": "SUBMITTED", "Reason": ""})
                elif step.state is StepState.RUNNING:
                    step.cancel_event.set()  # the worker marks it CANCELLED when it stops
                    info.append({"StepId": sid, "Status": "SUBMITTED", "Reason": ""})
                else:
                    info.append(
                        {
                            "StepId": sid,
                            "Status": "FAILED",
                            "Reason": f"Step is in {step.state.value} state and cannot be "
                            "cancelled",
                        }
                    )
            self._cond.notify_all()
        return info

    # ------------------------------------------------------------------------------------------
    # queries
    # ------------------------------------------------------------------------------------------
    def cluster(self, cluster_id: str) -> ClusterRun:
        with self._cond:
            try:
                return self._clusters[cluster_id]
            except KeyError:
                raise KeyError(f"unknown cluster {cluster_id!r}") from None

    def clusters(self, *, app_id: str | None = None) -> list[ClusterRun]:
        """All cluster records, in creation order; with `app_id`, only those whose RunJobFlow
        request carried that User-Agent app id."""
        with self._cond:
            runs = list(self._clusters.values())
        return runs if app_id is None else [r for r in runs if r.app_id == app_id]

    def step(self, cluster_id: str, step_id: str) -> StepRun:
        run = self.cluster(cluster_id)
        for s in run.steps:
            if s.id == step_id:
                return s
        raise KeyError(f"unknown step {step_id!r} in cluster {cluster_id!r}")

    def step_dir(self, cluster_id: str, step_id: str) -> Path:
        return self.logs_root / cluster_id / "steps" / step_id

    def wait_cluster(self, cluster_id: str, *states: ClusterState | str, timeout: float = 60):
        """Block until the cluster is in one of `states` (default: any terminal state)."""
        wanted = {ClusterState(s) for s in states} or {
            ClusterState.TERMINATED,
            ClusterState.TERMINATED_WITH_ERRORS,
        }
        with self._cond:
            ok = self._cond.wait_for(
                lambda: cluster_id in self._clusters and self._clusters[cluster_id].state in wanted,
                timeout,
            )
            if not ok:
                seen = self._clusters.get(cluster_id)
                raise TimeoutError(
                    f"cluster {cluster_id} not in {sorted(s.value for s in wanted)} after "
                    f"{timeout}s; it is {seen.state.value if seen else 'unknown'}"
                )
            return self._clusters[cluster_id]

    def wait_step(self, cluster_id: str, step_id: str, *states: StepState | str,
                  timeout: float = 60) -> StepRun:  # fmt: skip
        """Block until the step is in one of `states` (default: any terminal state)."""
        wanted = {StepState(s) for s in states}
        with self._cond:

            def reached() -> bool:
                try:
                    st = self.step(cluster_id, step_id).state
                except KeyError:
                    return False
                return st in wanted if wanted else st.is_terminal

            if not self._cond.wait_for(reached, timeout):
                try:
                    seen = self.step(cluster_id, step_id).state.value
                except KeyError:
                    seen = "unknown"
                raise TimeoutError(
                    f"step {step_id} of {cluster_id} not in "
                    f"{sorted(s.value for s in wanted) or 'a terminal state'} after {timeout}s; "
                    f"it is {seen}"
                )
            return self.step(cluster_id, step_id)

    # ------------------------------------------------------------------------------------------
    # state changes (always under self._cond)
    # ------------------------------------------------------------------------------------------
    def _set_cluster(
        self,
        run: ClusterRun,
        state: ClusterState,
        *,
        reason: ClusterReason | None = None,
        message: str | None = None,
        initial: bool = False,
    ) -> None:
        if not initial:
            advance(run.state, state)
        now = _now()
        c = run.moto
        if state is ClusterState.STARTING:
            c.start_datetime = now
        if state in (ClusterState.WAITING, ClusterState.RUNNING) and c.ready_datetime is None:
            c.ready_datetime = now
        if state.is_terminal:
            c.end_datetime = now
        if reason is not None:
            run.reason, run.reason_message = reason, message or reason.default_message
        elif state in (ClusterState.WAITING, ClusterState.RUNNING, ClusterState.BOOTSTRAPPING):
            run.reason, run.reason_message = None, _PHASE_MESSAGES.get(state)
        c._emu_reason = (
            {"Code": run.reason.value, "Message": run.reason_message}
            if run.reason
            else ({"Message": run.reason_message} if run.reason_message else {})
        )
        c.last_state_change_reason = run.reason_message
        run.state = state
        c.state = state.value
        run.history.append((state, run.reason.value if run.reason else None, now))
        log.debug("%s -> %s (%s)", run.id, state.value, run.reason_message)
        self._cond.notify_all()

    def _set_step(self, step: StepRun, state: StepState) -> None:
        advance(step.state, state)
        now = _now()
        if state is StepState.RUNNING:
            step.moto.start_date_time = now
        if state.is_terminal:
            step.moto.end_date_time = now
        step.state = state
        step.moto._emu_failure = step.failure
        step.moto.state = state.value
        self._cond.notify_all()

    def _register_step(self, run: ClusterRun, moto_step: Any) -> None:
        _enrich(moto_step)
        moto_step.start_date_time = None
        moto_step.state = StepState.PENDING.value
        moto_step._emu_failure = None
        run.steps.append(
            StepRun(
                moto=moto_step,
                cluster_id=run.id,
                index=len(run.steps),
                action_on_failure=ActionOnFailure.parse(moto_step.action_on_failure),
            )
        )

    def _request_termination(self, run: ClusterRun, reason: ClusterReason,
                             message: str | None = None) -> None:  # fmt: skip
        if run.state.is_terminal or run.state is ClusterState.TERMINATING:
            return
        self._set_cluster(run, ClusterState.TERMINATING, reason=reason, message=message)
        for step in run.steps:
            if step.state is StepState.PENDING:
                self._set_step(step, StepState.CANCELLED)
            elif step.state is StepState.RUNNING:
                step.cancel_event.set()

    # ------------------------------------------------------------------------------------------
    # the worker: one thread per cluster
    # ------------------------------------------------------------------------------------------
    def _cluster_main(self, run: ClusterRun) -> None:
        try:
            self._lifecycle(run)
        except Exception as exc:  # a bug here must not leave a cluster alive forever
            log.exception("EMR runtime error on %s", run.id)
            with self._cond:
                self._request_termination(
                    run, ClusterReason.INTERNAL_ERROR, f"Emulator internal error: {exc!r}"
                )
        finally:
            with self._cond:
                if run.state is ClusterState.TERMINATING:
                    self._finish(run)

    def hold(self, *states: ClusterState | str) -> None:
        """Keep clusters in these transitional states (STARTING, BOOTSTRAPPING, TERMINATING)
        until `release()`: lets a test observe them deterministically."""
        with self._cond:
            self._held.update(ClusterState(s) for s in states)

    def release(self, *states: ClusterState | str) -> None:
        with self._cond:
            self._held.difference_update(ClusterState(s) for s in states or tuple(self._held))
            self._cond.notify_all()

    def _pause(self, run: ClusterRun, seconds: float) -> None:
        """Stay in the current state for `seconds` and while it is held; a termination
        request ends the pause early (except a held TERMINATING)."""
        with self._cond:
            here = run.state
            if seconds > 0:
                self._cond.wait_for(lambda: run.state is not here, seconds)
            self._cond.wait_for(
                lambda: here not in self._held or (run.state is not here) or self._stopping
            )

    def _lifecycle(self, run: ClusterRun) -> None:
        fault = self.faults.cluster_fault(run.moto.name or "")
        self._pause(run, self.delays.starting)
        with self._cond:
            if run.state is ClusterState.TERMINATING:
                return
            if self._strict_version_error(run):
                self._request_termination(
                    run, ClusterReason.VALIDATION_ERROR, self._strict_version_error(run)
                )
                return
            if fault is not None and fault.kind == "spot_capacity":
                self._request_termination(
                    run, ClusterReason.INSTANCE_FAILURE, fault.message or _spot_message(run.moto)
                )
                return
            self._set_cluster(run, ClusterState.BOOTSTRAPPING)
        self._pause(run, self.delays.bootstrapping)
        with self._cond:
            if run.state is ClusterState.TERMINATING:
                return
            if fault is not None and fault.kind == "bootstrap":
                self._request_termination(
                    run,
                    ClusterReason.BOOTSTRAP_FAILURE,
                    fault.message or _bootstrap_message(run.moto),
                )
                return
            self._set_cluster(run, ClusterState.WAITING)

        while True:
            with self._cond:
                self._cond.wait_for(
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
                    self._request_termination(
                        run,
                        ClusterReason.ALL_STEPS_COMPLETED,
                        "Steps completed with errors" if run.any_step_failed else None,
                    )
                    return
                self._set_cluster(run, ClusterState.RUNNING)
                self._set_step(step, StepState.RUNNING)
            self._run_step(run, step)
            with self._cond:
                self._after_step(run, step)

    def _after_step(self, run: ClusterRun, step: StepRun) -> None:
        if step.state is not StepState.FAILED:
            if run.state is ClusterState.RUNNING:
                self._set_cluster(run, ClusterState.WAITING)
            return
        run.any_step_failed = True
        action = step.action_on_failure
        if action.cancels_pending:
            for other in run.steps:
                if other.state is StepState.PENDING:
                    self._set_step(other, StepState.CANCELLED)
        if action.terminates_cluster:
            self._request_termination(run, ClusterReason.STEP_FAILURE)
        elif run.state is ClusterState.RUNNING:
            self._set_cluster(run, ClusterState.WAITING)

    def _finish(self, run: ClusterRun) -> None:
        """TERMINATING -> TERMINATED / TERMINATED_WITH_ERRORS (called under the lock)."""
        if not self._stopping:
            if self.delays.terminating > 0:  # a deadline: other notifications do not end it
                self._cond.wait_for(lambda: self._stopping, self.delays.terminating)
            self._cond.wait_for(
                lambda: ClusterState.TERMINATING not in self._held or self._stopping
            )
        for step in run.steps:  # anything still queued or running dies with the cluster
            if step.state in (StepState.PENDING, StepState.RUNNING):
                # RUNNING here only if the worker broke mid-step (an internal error).
                self._set_step(step, StepState.CANCELLED)
        reason = run.reason or ClusterReason.USER_REQUEST
        final = ClusterState.TERMINATED_WITH_ERRORS if reason.is_error else ClusterState.TERMINATED
        self._set_cluster(run, final, reason=reason, message=run.reason_message)

    # ------------------------------------------------------------------------------------------
    # one step
    # ------------------------------------------------------------------------------------------
    def _run_step(self, run: ClusterRun, step: StepRun) -> None:
        step_dir = self.step_dir(run.id, step.id)
        stdout, stderr, controller = (step_dir / n for n in ("stdout", "stderr", "controller"))
        ctl: Any = None

        def note(msg: str) -> None:
            if ctl is not None:
                ctl.write(f"{_now().isoformat(timespec='milliseconds')} INFO {msg}\n")
                ctl.flush()

        rc: int | None = None
        cancelled = False
        setup_error: str | None = None
        try:
            step_dir.mkdir(parents=True, exist_ok=True)
            for p in (stdout, stderr):
                p.touch()
            ctl = controller.open("a", encoding="utf-8")
            note(f"Step {step.id} ({step.name!r}) on cluster {run.id}")
            rc, cancelled = self._execute(run, step, step_dir, stdout, stderr, note)
            note(f"Step {'cancelled' if cancelled else f'finished with exit code {rc}'}")
        except Exception as exc:  # setup, staging or planning trouble: the step fails, visibly
            rc = 1
            setup_error = f"{type(exc).__name__}: {exc}"
            try:
                with stderr.open("a", encoding="utf-8") as err:
                    err.write(f"{type(exc).__name__}: {exc}\n")
                note(f"Step failed before or after running: {exc!r}\n{traceback.format_exc()}")
            except OSError:  # the step folder itself is unusable: FailureDetails still tell
                log.warning("cannot write the logs of step %s", step.id, exc_info=True)
        finally:
            self._mirror.release(step.id)  # a step that never staged out holds no claim
            if ctl is not None:
                ctl.close()
        log_file = str(stderr)
        if run.moto.log_uri:
            try:
                prefix = upload_step_logs(self._s3client(), run.moto.log_uri, run.id, step.id,
                                          step_dir)  # fmt: skip
                log_file = f"s3://{prefix.bucket}/{prefix.key}stderr.gz"
            except Exception as exc:  # a missing log bucket must not hide the step's result
                log.warning("could not upload logs of %s to %s: %s", step.id, run.moto.log_uri,
                            exc)  # fmt: skip
        with self._cond:
            step.exit_code = rc
            if cancelled or step.cancel_event.is_set():
                self._set_step(step, StepState.CANCELLED)
            elif rc == 0:
                self._set_step(step, StepState.COMPLETED)
            else:
                # PySpark's driver prints the Python traceback to stdout: look at both.
                err_text, out_text = tail(stderr, 200), tail(step_dir / "stdout", 200)
                has_tb = "Traceback (most recent call last):"
                source = out_text if has_tb in out_text and has_tb not in err_text else err_text
                message = (
                    error_line(source) or error_line(out_text) or setup_error or f"exit code {rc}"
                )
                step.failure = {
                    "Reason": f"Step failed with exitCode {rc}",
                    "Message": message,
                    "LogFile": log_file,
                }
                self._set_step(step, StepState.FAILED)

    def _execute(self, run: ClusterRun, step: StepRun, step_dir: Path, stdout: Path,
                 stderr: Path, note: Callable[[str], None]) -> tuple[int, bool]:  # fmt: skip
        fault = self.faults.step_fault(step.name, step.index)
        if fault is not None and fault.kind == "fail":
            note(f"Injected fault: step fails ({fault.message})")
            with stderr.open("a", encoding="utf-8") as err:
                err.write(f"{fault.message}\n")
            return fault.exit_code, False
        if fault is not None and fault.kind == "hang":
            note("Injected fault: step hangs until cancelled")
            step.cancel_event.wait()
            return 130, True

        from harness import spark as local_spark

        args = [str(a) for a in step.moto.args]
        tools = local_node_tools()  # the node's commands: spark-sql, run-example, hadoop fs ...
        configurations = plain_configurations(run.moto.configurations)
        plan = plan_step(
            step.moto.jar,
            args,
            configurations=configurations,
            mirror_root=self.mirror_root,
            python=sys.executable,
            spark_submit=str(Path(tools.spark_bin, "spark-submit"))
            if tools.spark_bin
            else "spark-submit",
            aws_cli=tools.aws_cli,
            tools=tools,
        )
        note(f"Command: {' '.join(args)}")
        for n in plan.notes:
            note(n)
        stager = Stager(self._s3client(), self.mirror_root, shared=self._mirror, owner=step.id)
        snap = stager.stage_in(plan.s3_uris)
        note(f"Staged in {len(plan.s3_uris)} S3 location(s), {snap.downloaded} object(s) copied")

        env = dict(self.base_env)
        if plan.kind == "spark-submit":
            env = local_spark.spark_submit_env(env)
        env.update(self.step_env)
        env.update(plan.env)
        env = node_env(env, tools, configurations=configurations, workdir=self.workdir / "node")
        note(f"Local command: {' '.join(plan.argv)}")
        if step.cancel_event.is_set():
            return 130, True
        rc = self.executor.run(plan.argv, env, step_dir, stdout, stderr, step.cancel_event)
        if step.cancel_event.is_set():
            return rc, True
        report = stager.stage_out(snap)
        note(f"Synced out: {len(report.uploaded)} uploaded, {len(report.deleted)} deleted")
        for uri in report.uploaded:
            note(f"Uploaded {uri}")
        for uri in report.deleted:
            note(f"Deleted {uri}")
        return rc, False

    def _s3client(self) -> Any:
        """The runtime's S3 client. Created by `install()` in the installing thread: botocore
        reads the process environment while building a session and a client, which is not
        safe from a cluster thread while another thread changes the environment."""
        if self._s3 is None:
            import boto3

            self._s3 = boto3.session.Session().client(
                "s3",
                endpoint_url=self.s3_endpoint_url,
                region_name=self.region,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        return self._s3

    # ------------------------------------------------------------------------------------------
    # version guard
    # ------------------------------------------------------------------------------------------
    def _version_problem(self, run: ClusterRun) -> str | None:
        label = run.moto.release_label
        if not label:
            return None
        from harness.releases import UnknownReleaseError, get_release

        local = _local_pyspark_minor()
        try:
            release = get_release(label)
        except UnknownReleaseError as exc:
            return f"cluster {run.id}: {exc}"
        if local is None:
            return (
                f"cluster {run.id} ({label}) runs Spark {release.spark}, but pyspark is not "
                "installed locally: spark-submit steps cannot run (install the `spark` extra)"
            )
        if release.spark_minor != local:
            return (
                f"cluster {run.id} uses {label} (Spark {release.spark}, Python "
                f"{release.python}) but local pyspark is {local}.x: steps run on Spark {local} "
                f"here. APIs newer than Spark {release.spark_minor} will pass locally and fail "
                f"on EMR. Test with pyspark=={release.spark_minor}.* (nox -s spark_compat)."
            )
        return None

    def _version_guard(self, run: ClusterRun) -> None:
        problem = self._version_problem(run)
        if problem is None:
            return
        with self._cond:
            self._version_warnings.append(problem)
        # A log record, not a Python warning: this runs inside the RunJobFlow request, where
        # `-W error` would turn a warning into a 500 that botocore retries (a cluster per try).
        # Strict mode reports it as the cluster's VALIDATION_ERROR instead.
        if not self.strict_versions:
            log.warning("%s", problem)

    def _strict_version_error(self, run: ClusterRun) -> str | None:
        if not self.strict_versions:
            return None
        problem = self._version_problem(run)
        return f"Strict version check failed: {problem}" if problem else None


_ACTIVE: EmrRuntime | None = None

_APP_ID = re.compile(r"(?:^|\s)app/(\S+)")


def app_id_of(user_agent: str) -> str | None:
    """The `app/<id>` component botocore puts in its User-Agent, if any."""
    match = _APP_ID.search(user_agent or "")
    return match.group(1) if match else None


_PHASE_MESSAGES = {
    ClusterState.BOOTSTRAPPING: "Running bootstrap actions",
    ClusterState.RUNNING: "Running step",
    ClusterState.WAITING: "Cluster ready to run steps.",
}


def _spot_message(cluster: Any) -> str:
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


def _bootstrap_message(cluster: Any) -> str:
    actions = list(cluster.bootstrap_actions)
    path = actions[0].script_path if actions else "s3://<injected>/bootstrap.sh"
    return f"On the master instance, bootstrap action 1 ({path}) returned a non-zero return code"


def _local_pyspark_minor() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return ".".join(version("pyspark").split(".")[:2])
    except PackageNotFoundError:
        return None


# ----------------------------------------------------------------------------------------------
# richer views of moto's objects: StateChangeReason codes, FailureDetails, full timelines
# ----------------------------------------------------------------------------------------------
_ENRICHED: dict[type, type] = {}


def _enrich(obj: Any) -> None:
    base = type(obj)
    if getattr(base, "_emu_enriched", False):
        return
    sub = _ENRICHED.get(base)
    if sub is None:
        from moto.emr.models import Cluster, Step

        if issubclass(base, Cluster):
            # Same class names as moto's: its serializer finds `StepConfig` on a `Step` as
            # `config` (the class name is stripped from the key), so a renamed subclass would
            # silently drop such fields from responses.
            sub = type(base.__name__, (base,), {"status": _cluster_status})
        elif issubclass(base, Step):
            sub = type(base.__name__, (base,), {"status": _step_status})
        else:
            raise TypeError(f"cannot enrich {base!r}")
        sub._emu_enriched = True
        _ENRICHED[base] = sub
    obj.__class__ = sub


@property  # type: ignore[misc]
def _cluster_status(self: Any) -> dict[str, Any]:
    timeline = {"CreationDateTime": self.creation_datetime}
    if self.ready_datetime:
        timeline["ReadyDateTime"] = self.ready_datetime
    if self.end_datetime:
        timeline["EndDateTime"] = self.end_datetime
    return {
        "State": self.state,
        "StateChangeReason": dict(getattr(self, "_emu_reason", None) or {}),
        "Timeline": timeline,
    }


@property  # type: ignore[misc]
def _step_status(self: Any) -> dict[str, Any]:
    timeline = {"CreationDateTime": self.creation_date_time}
    if self.start_date_time:
        timeline["StartDateTime"] = self.start_date_time
    if self.end_date_time:
        timeline["EndDateTime"] = self.end_date_time
    status: dict[str, Any] = {"State": self.state, "StateChangeReason": {}, "Timeline": timeline}
    failure = getattr(self, "_emu_failure", None)
    if failure:
        status["FailureDetails"] = dict(failure)
    return status

"""The EMR runtime: gives moto's clusters and steps a real life.

moto stores clusters and steps and answers the EMR API, but never moves a step on (moto
issue 1925). While installed, this runtime hooks moto's EMR backend (`moto_hooks`) so that it
is *told* about every RunJobFlow, AddJobFlowSteps, TerminateJobFlows and CancelSteps (no
polling), and one worker thread per cluster (`lifecycle`) then drives it through its states,
running its bootstrap actions (`bootstrap`) and its steps, StepConcurrencyLevel at a time,
through a `StepRunner` (`step_runner`: S3 staging, a pluggable
`StepExecutor`, EMR-layout logs) with ActionOnFailure semantics, the version guard
(`version_guard`) and injected faults. The runtime is the source of truth and holds the one
lock every state change happens under; moto's objects are the view it keeps up to date
(`moto_views`: their `status` carries StateChangeReason codes and FailureDetails).

moto's backends are process-global, so one runtime may be installed per process at a time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from harness.emr.bootstrap import BootstrapRunner
from harness.emr.executors import StepExecutor, SubprocessExecutor
from harness.emr.faults import Faults
from harness.emr.lifecycle import PHASE_MESSAGES, ClusterLifecycle
from harness.emr.moto_hooks import app_id_of, install_hooks
from harness.emr.moto_views import enrich
from harness.emr.records import ClusterRun, LifecycleDelays, StepRun, utcnow
from harness.emr.staging import SharedMirror
from harness.emr.states import (
    ActionOnFailure,
    ClusterReason,
    ClusterState,
    StepState,
    advance,
)
from harness.emr.step_runner import StepRunner, Workspace
from harness.emr.validation import (
    check_auto_termination_policy,
    check_concurrency_level,
    check_steps_for_concurrency,
)
from harness.emr.version_guard import local_pyspark_minor, version_problem
from harness.offline_env import snapshot_environ

__all__ = [
    "ClusterRun",
    "EmrRuntime",
    "LifecycleDelays",
    "StepRun",
    "app_id_of",
]

log = logging.getLogger("harness.emr")

NO_DELAYS = LifecycleDelays()


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
        delays: LifecycleDelays = NO_DELAYS,
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
        self._listeners: list[Callable[[], Any]] = []
        self.step_runner = StepRunner(
            executor=self.executor,
            faults=self.faults,
            s3client=self._s3client,
            base_env=self.base_env,
            step_env=self.step_env,
            copy_object=None if s3_endpoint_url not in (None, endpoint_url) else _copy_object,
            put_object=None if s3_endpoint_url not in (None, endpoint_url) else _put_object,
        )
        self.bootstrap_runner = BootstrapRunner(
            s3client=self._s3client, base_env=self.base_env, step_env=self.step_env
        )
        self.lifecycle = ClusterLifecycle(self)

    # ------------------------------------------------------------------------------------------
    # installation: hook moto's EMR backend
    # ------------------------------------------------------------------------------------------
    def install(self) -> None:
        global _ACTIVE
        if _ACTIVE is not None and _ACTIVE is not self:
            raise RuntimeError(
                "another EMR runtime is already installed in this process (moto's state is "
                "process-global): stop the other EmulatedAWS first"
            )
        _ACTIVE = self
        self._s3client()  # now, in the installing thread (see _s3client)
        self._unpatch.extend(install_hooks(self))

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

    def hold(self, *states: ClusterState | str) -> None:
        """Keep clusters in these transitional states (STARTING, BOOTSTRAPPING, TERMINATING)
        until `release()`: lets a test observe them deterministically."""
        with self._cond:
            self._held.update(ClusterState(s) for s in states)

    def release(self, *states: ClusterState | str) -> None:
        with self._cond:
            self._held.difference_update(ClusterState(s) for s in states or tuple(self._held))
            self._cond.notify_all()

    # ------------------------------------------------------------------------------------------
    # events from the API (HTTP threads)
    # ------------------------------------------------------------------------------------------
    def on_cluster_created(self, cluster: Any, *, user_agent: str = "") -> None:
        enrich(cluster)
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
                target=self.lifecycle.main, args=(run,), name=f"emr-{cluster.id}", daemon=True
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
            if run is not None:
                check_steps_for_concurrency(steps, run.concurrency)
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

    def on_modify_cluster(self, backend: Any, cluster_id: str, level: Any) -> int:
        """ModifyCluster: a new StepConcurrencyLevel takes effect at once (more steps start
        if more are pending)."""
        from moto.emr.exceptions import ValidationException

        cluster = backend.describe_cluster(cluster_id)  # InvalidCluster for unknown ids
        with self._cond:
            run = self._clusters.get(cluster_id)
            if level is None:
                return int(cluster.step_concurrency_level)
            check_concurrency_level(level)
            if run is not None and not run.state.accepts_steps:
                raise ValidationException(
                    f"Cluster {cluster_id} is {run.state.value}: its StepConcurrencyLevel "
                    "cannot be modified."
                )
            cluster.step_concurrency_level = int(level)
            self._cond.notify_all()
            return int(level)

    def on_auto_termination_policy(self, backend: Any, cluster_id: str,
                                   policy: dict | None) -> None:  # fmt: skip
        """Put (a policy) or Remove (None) a cluster's AutoTerminationPolicy; the idle timer
        sees the change at once."""
        cluster = backend.describe_cluster(cluster_id)
        if policy is not None:
            policy = check_auto_termination_policy(policy)
        with self._cond:
            cluster._emu_auto_termination = policy
            self._cond.notify_all()

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

    def wait_cluster(self, cluster_id: str, *states: ClusterState | str,
                     timeout: float = 60) -> ClusterRun:
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

    def on_state_change(self, callback: Callable[[], Any]) -> Callable[[], None]:
        """Call ``callback()`` after every cluster or step state change; returns its remover.

        It runs in the thread that made the change, under the runtime's lock: it must be quick
        and must not block (what a waiting sensor in another process needs: one byte written
        to a pipe, ``harness.airflow.state_changes``)."""
        with self._cond:
            self._listeners.append(callback)

        def remove() -> None:
            with self._cond:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return remove

    def _changed(self) -> None:
        self._cond.notify_all()
        for callback in self._listeners:
            try:
                callback()
            except Exception:  # a listener's fault must not break the cluster's life
                log.exception("state-change listener %r failed", callback)

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
        now = utcnow()
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
            run.reason, run.reason_message = None, PHASE_MESSAGES.get(state)
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
        self._changed()

    def _set_step(self, step: StepRun, state: StepState) -> None:
        advance(step.state, state)
        now = utcnow()
        if state is StepState.RUNNING:
            step.moto.start_date_time = now
        if state.is_terminal:
            step.moto.end_date_time = now
        step.state = state
        step.moto._emu_failure = step.failure
        step.moto.state = state.value
        self._changed()

    def _register_step(self, run: ClusterRun, moto_step: Any) -> None:
        enrich(moto_step)
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
        run.cancel_event.set()  # a bootstrap action still running stops
        for step in run.steps:
            if step.state is StepState.PENDING:
                self._set_step(step, StepState.CANCELLED)
            elif step.state is StepState.RUNNING:
                step.cancel_event.set()

    def _workspace(self, run: ClusterRun, step: StepRun) -> Workspace:
        """Where `step` stages and logs, taken under the lock when it starts."""
        return Workspace(self.step_dir(run.id, step.id), self.mirror_root, self._mirror,
                         self.workdir / "node")

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
        return version_problem(run.id, run.moto.release_label, local_pyspark_minor())

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


def _copy_object(bucket: str, key: str, path: Path, *, size: int, etag: str) -> bool:
    """Stage-in from this process's moto S3: its key files copied, not downloaded."""
    from harness.s3_streaming import copy_object_to_file

    return copy_object_to_file(bucket, key, path, size=size, etag=etag)


def _put_object(path: Path, bucket: str, key: str) -> bool:
    """Stage-out into this process's moto S3: the file copied into the key, not uploaded."""
    from harness.s3_streaming import put_file_as_object

    return put_file_as_object(path, bucket, key)

"""The subprocess engine: a DAG worker (``python -m harness.airflow._dag_worker``) started
before the AWS endpoint exists (``prepare_dag_run``), events streamed back over a pipe,
killed at the run's timeout if its own deadline cannot stop it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.airflow import run_bounds
from harness.airflow.environment import RunSpec, _is_backend, _one_of, _spec
from harness.airflow.inspection import _after_kill, _attribution, _inspect
from harness.airflow.progress import ProgressCallback, TaskEvent
from harness.airflow.results import DagRunResult
from harness.airflow.state_changes import forward_changes, runtime_of
from harness.guard import is_loopback_url
from harness.offline_env import OfflineFiles, offline_env, snapshot_environ
from harness.processes import pipe_lines, popen_reaped, stop_reaped

__all__ = ["PreparedRun", "WORKER_KILL_GRACE", "WORKER_STOP_GRACE", "killed_result",
           "prepare_dag_run"]


#: Seconds past the run's timeout after which a subprocess worker that has not finished (stuck
#: where the in-worker deadline cannot reach, e.g. an inline trigger) is killed: the worker's
#: own deadline handling plus a teardown's grace come first.
WORKER_KILL_GRACE = run_bounds.TEARDOWN_GRACE + 30.0
#: Seconds the DAG worker gets between SIGTERM and SIGKILL when it is stopped.
WORKER_STOP_GRACE = 2.0


class PreparedRun:
    """A DAG worker process started *before* the AWS endpoint exists.

    It imports Airflow, builds its Execution API and parses the DAG while this process starts the
    emulator and provisions it: on two cores the ~8 s of Airflow start-up overlap the emulator's
    ~5 s instead of adding to them. ``run(aws=..., ...)`` then sends the rest of the run spec.

        with prepare_dag_run("my_dag", dags_folder="dags") as prepared, \\
             EmulatedAWS() as aws:
            provision(aws)
            result = prepared.run(aws=aws, progress=print)
    """

    def __init__(self, dag_id: str, *, dags_folder: str | os.PathLike[str] = "dags",
                 variables: Mapping[str, Any] | None = None,
                 offline: bool = True) -> None:  # fmt: skip
        self.dag_id = dag_id
        self.dags_folder = str(Path(dags_folder).resolve())
        self.variables = dict(variables or {})
        self.offline = offline
        self._tmp = tempfile.TemporaryDirectory(prefix="harness-run-")
        self._files: OfflineFiles | None = None
        self._result_path = Path(self._tmp.name, "result.json")
        prep_path = Path(self._tmp.name, "prepare.json")
        prep_path.write_text(json.dumps({"dag_id": dag_id, "dags_folder": self.dags_folder,
                                         "variables": self.variables}))
        self._events_r, events_w = os.pipe()
        # The emulator's EMR state changes, forwarded once run() knows the backend.
        changes_r, changes_w = os.pipe()
        self._changes_w: int | None = changes_w
        self._unforward: Callable[[], None] | None = None
        env = {k: v for k, v in snapshot_environ().items() if not k.startswith("AIRFLOW")}
        repo_root = str(Path(__file__).resolve().parents[2])  # the folder holding harness/
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo_root, env.get("PYTHONPATH")]))
        # The worker's throw-away Airflow home (tempfile) lands in the folder removed on close,
        # or by the worker's reaper if this process is killed.
        env["TMPDIR"] = self._tmp.name
        if offline:
            # No real credential, profile or endpoint, and the guard before the DAG is parsed.
            self._files = OfflineFiles(parent=self._tmp.name)  # removed with it, come what may
            env = offline_env(env, endpoints={}, files=self._files)
        # The worker's own output (Airflow's console log with echo_logs) goes to a file: a pipe
        # nobody reads while events stream could fill up and stall the worker.
        self._output_path = Path(self._tmp.name, "worker-output.txt")
        try:
            with open(self._output_path, "w") as output:
                self._proc = popen_reaped(
                    [sys.executable, "-m", "harness.airflow._dag_worker", str(prep_path),
                     str(self._result_path), str(events_w), str(changes_r)],
                    grace=WORKER_STOP_GRACE, cleanup=[self._tmp.name],
                    env=env, pass_fds=(events_w, changes_r), stdin=subprocess.PIPE,
                    stdout=output, stderr=subprocess.STDOUT, text=True,
                )  # fmt: skip
        except BaseException:
            os.close(self._events_r)
            os.close(changes_w)
            self._changes_w = None
            self._cleanup_files()
            raise
        finally:
            os.close(events_w)
            os.close(changes_r)
        self._used = False
        self._killed = False

    def _kill_for_timeout(self) -> None:
        self._killed = True
        # The reaper ends the worker's whole tree (SIGTERM, then SIGKILL after its grace); the
        # events pipe then reaches EOF and `_execute` reports what it saw.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGTERM)

    def run(self, *, aws: Any = None, progress: ProgressCallback | None = None,
            backend: Any = None, **kwargs: Any) -> DagRunResult:  # fmt: skip
        """Run once (same keywords as ``run_dag``; ``variables`` adds to the prepared ones)."""
        if self._used:
            raise RuntimeError("a PreparedRun runs once")
        aws = _one_of(aws, backend)
        if self.offline and aws is not None and getattr(aws, "offline", True) is False:
            raise ValueError(
                f"this PreparedRun is offline (its worker has dummy credentials and the "
                f"off-loopback guard) but {aws!r} is not an offline backend: use "
                "prepare_dag_run(..., offline=False)"
            )
        self._used = True
        kwargs["variables"] = {**self.variables, **(kwargs.get("variables") or {})}
        spec, url, region = _spec(self.dag_id, self.dags_folder, aws, **kwargs)
        self._forward_changes(runtime_of(aws), spec)
        owner = _attribution(spec, aws, url, region)
        t0 = time.perf_counter()
        try:
            result = self._execute(spec, progress)
        finally:
            self.close()
        result.timings["run_dag"] = time.perf_counter() - t0
        if url or _is_backend(aws):
            _after_kill(aws, url, region, owner, result)
            _inspect(aws, url, region, owner, result)
        return result

    def _forward_changes(self, runtime: Any, spec: RunSpec) -> None:
        """EMR sensors wait for ``runtime``'s next state change instead of a fast fixed poll."""
        if runtime is not None and self._changes_w is not None and self._unforward is None:
            self._unforward = forward_changes(runtime, self._changes_w)
            spec.state_changes = True

    def _execute(self, spec: RunSpec, progress: ProgressCallback | None) -> DagRunResult:
        self._used = True
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(asdict(spec)) + "\n")
            self._proc.stdin.close()
        except BrokenPipeError:
            pass  # the worker died while preparing: reported below
        seen: list[TaskEvent] = []
        started = time.monotonic()
        killer = None
        if spec.timeout:
            # The backstop of the worker's own deadline: the pipe ends when the worker dies.
            killer = threading.Timer(spec.timeout + WORKER_KILL_GRACE, self._kill_for_timeout)
            killer.daemon = True
            killer.start()
        try:
            # Not a plain read loop: the main thread must notice a signal sent to the
            # process while no event comes for minutes (harness.processes.pipe_lines).
            for line in pipe_lines(self._events_r):
                if line.strip():
                    event = TaskEvent(**json.loads(line))
                    seen.append(event)
                    if progress is not None:
                        progress(event)
        finally:
            if killer is not None:
                killer.cancel()
        if self._killed and not self._result_path.exists():
            self._proc.wait()
            result = killed_result(spec, seen, time.monotonic() - started)
            result.isolation = "subprocess"
            return result
        if not self._result_path.exists():  # no result: let the worker finish dying
            self._proc.wait()
        if not self._result_path.exists():
            output = self._output_path.read_text(errors="replace")
            tail = "\n".join(output.splitlines()[-30:])
            raise RuntimeError(f"DAG worker exited {self._proc.returncode}:\n{tail}")
        result = DagRunResult.from_dict(json.loads(self._result_path.read_text()))
        result.isolation = "subprocess"
        return result

    def close(self) -> None:
        # The worker has nothing left to do once its result is written (or it is not wanted):
        # its Airflow home is throw-away, so it is stopped rather than waited for.
        stop_reaped(self._proc, grace=WORKER_STOP_GRACE)  # the worker and anything it started
        unforward, self._unforward = self._unforward, None
        if unforward is not None:
            unforward()
        if self._changes_w is not None:
            os.close(self._changes_w)
            self._changes_w = None
        if self._result_path.exists():
            home = json.loads(self._result_path.read_text()).get("airflow_home")
            if home and Path(home).name.startswith("airflow-home-"):
                shutil.rmtree(home, ignore_errors=True)
        if not self._used:
            os.close(self._events_r)
            self._used = True
        self._tmp.cleanup()
        self._cleanup_files()

    def _cleanup_files(self) -> None:
        files, self._files = self._files, None
        if files is not None:
            files.cleanup()

    def __enter__(self) -> PreparedRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def prepare_dag_run(dag_id: str, *, dags_folder: str | os.PathLike[str] = "dags",
                    variables: Mapping[str, Any] | None = None,
                    offline: bool = True) -> PreparedRun:  # fmt: skip
    """Start a worker that gets Airflow ready for ``dag_id`` now; see ``PreparedRun``.

    ``offline`` (default): the worker starts with `harness.offline_env`'s environment (dummy
    credentials only, no profile, no ``~/.aws``, no service endpoints) and the off-loopback
    guard installed before the DAG file is parsed."""
    return PreparedRun(dag_id, dags_folder=dags_folder, variables=variables, offline=offline)


def _run_in_subprocess(spec: RunSpec, progress: ProgressCallback | None,
                       runtime: Any = None) -> DagRunResult:  # fmt: skip
    """Run the spec in ``python -m harness.airflow._dag_worker``; events stream back over a pipe
    (and ``runtime``'s EMR state changes go the other way, ``harness.airflow.state_changes``)."""
    offline = spec.endpoint_url is not None and is_loopback_url(spec.endpoint_url)
    with PreparedRun(spec.dag_id, dags_folder=spec.dags_folder,
                     variables=spec.variables, offline=offline) as prepared:  # fmt: skip
        prepared._forward_changes(runtime, spec)
        return prepared._execute(spec, progress)


def killed_result(spec: RunSpec, events: list[TaskEvent], elapsed: float) -> DagRunResult:
    """What is known of a run whose worker was killed at its timeout: its progress events."""
    states: dict[str, str] = {}
    waits: dict[str, str] = {}
    errors: dict[str, str] = {}
    for e in events:
        if e.state == "waiting":
            waits[e.task_id] = e.detail or ""
        else:
            states[e.task_id] = e.state
        if e.error:
            errors[e.task_id] = e.error
    current = next((t for t, s in reversed(states.items()) if s == "running"), None)
    timed_out = {"timeout": spec.timeout, "elapsed": elapsed, "task_id": current,
                 "waiting_for": waits.get(current) if current else None, "how": "worker killed"}
    if current is not None:
        states[current] = "failed"
        errors[current] = (f"killed: the run's {spec.timeout:g} s budget was used up after "
                           f"{elapsed:.1f} s" + (f", waiting for {waits[current]}"
                                                 if current in waits else ""))
    return DagRunResult(dag_id=spec.dag_id, run_id=None, state="failed", task_states=states,
                        durations={}, xcoms={}, errors=errors, waits=waits,
                        events=[e.to_dict() for e in events], timed_out=timed_out)

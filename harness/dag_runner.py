"""Run a DAG end to end through Airflow 3's own execution (``dag.test()``), offline and fast.

    from harness.dag_runner import run_dag

    with EmulatedAWS() as aws:
        ...provision the bucket, input and script...
        result = run_dag("pipeline_emr", dags_folder="dags", aws=aws,
                         variables={"emr_bucket_name": "my-bucket"}, progress=print)
    assert result.ok, result.failure_report()
    print(result.summary())

What it does, in order:

1. **A throw-away Airflow home** (``harness.airflow_home``): SQLite, a copy of a metadata DB
   migrated once per Airflow version, ``AIRFLOW__CORE__DAGS_FOLDER`` = ``dags_folder``. The user's
   own Airflow home is never read or written.
2. **Connection and Variables from the environment** for the duration of the run:
   ``AIRFLOW_CONN_AWS_DEFAULT`` (``extra.endpoint_url`` = the emulator) and ``AIRFLOW_VAR_*``,
   plus dummy AWS credentials and ``AWS_ENDPOINT_URL``. Restored afterwards.
3. **Local timing, applied from outside** (``plan_overrides``): on the loaded DAG's task objects,
   never in the DAG file. Sensors poke every ``poke_interval`` s in poke mode (``dag.test()`` polls
   rescheduled tasks once a second; deferrable sensors run their trigger inline, which has no
   timeout), ``retry_delay`` becomes 0 (retry *counts* stay the DAG's unless ``retries=`` is
   given), and ``deferrable=True`` makes the EMR step sensor(s) deferrable (their trigger polls in
   whole seconds). Input sensors (waiting for data to appear) wait at most
   ``run_bounds.INPUT_SENSOR_TIMEOUT`` s unless ``sensor_timeout`` says otherwise; job sensors
   keep the DAG's timeout. Sensors report what they wait for ("waiting" events), and
   ``timeout=`` bounds the whole run (``harness.run_bounds``, docs/run-bounds.md). Every change
   is listed in ``result.overrides``.
4. **Progress per task as it happens** through an Airflow listener; each task's log lines are
   captured into ``result.logs`` (Airflow's console output is kept off the terminal unless
   ``echo_logs=True``).
5. **Afterwards**: states, durations and ``return_value`` XComs read back from the metadata DB;
   the emulator is asked which clusters the run created (their final state) and, for failed
   steps, the tail of the step's stderr.

In-process or subprocess (``isolation``): Airflow reads its configuration when it is first
imported, so the first in-process run fixes the process's Airflow home; later runs reuse it (the
connection, Variables and DAGs folder are re-read per run). In-process is the default because
the fixed cost (importing Airflow ~3 s, building the in-process Execution API ~2-3 s on the first
task) is paid once per process instead of once per run: a pytest session with eight scenarios
saves ~40 s. ``isolation="auto"`` falls back to a subprocess (``python -m harness._dag_worker``)
when Airflow was already imported in this process with someone else's configuration (a user's
own tests, say); ``"subprocess"`` forces it.

``prepare_dag_run`` starts that subprocess *before* the AWS endpoint exists, so Airflow's start-up
(~8 s of CPU: import, Execution API, DAG parse) overlaps the emulator's on a second core; the
``python -m harness run`` command uses it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness import airflow_home, run_bounds
from harness.guard import is_loopback_url
from harness.offline_env import OfflineFiles, offline_env, snapshot_environ, unsafe_offline_keys
from harness.processes import popen_reaped, stop_reaped
from harness.progress import Recorder, TaskEvent

__all__ = [
    "DagNotFoundError",
    "DagRunResult",
    "Override",
    "PreparedRun",
    "plan_overrides",
    "prepare_dag_run",
    "run_dag",
]

DEFAULT_POKE_INTERVAL = 0.2
#: Seconds past the run's timeout after which a subprocess worker that has not finished (stuck
#: where the in-worker deadline cannot reach, e.g. an inline trigger) is killed: the worker's
#: own deadline handling plus a teardown's grace come first.
WORKER_KILL_GRACE = run_bounds.TEARDOWN_GRACE + 30.0
#: Seconds the DAG worker gets between SIGTERM and SIGKILL when it is stopped.
WORKER_STOP_GRACE = 2.0
#: Class names (anywhere in a task's MRO) that `deferrable=True` switches to deferrable.
STEP_SENSOR_CLASSES = ("EmrStepSensor",)
#: States of an EMR cluster that still runs (or will) and costs money on AWS.
ACTIVE_CLUSTER_STATES = ("STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING", "TERMINATING")
FINISHED_TASK_STATES = ("success", "failed", "skipped", "upstream_failed", "removed")

ProgressCallback = Callable[[TaskEvent], Any]


class DagNotFoundError(LookupError):
    """The DAG id is not in the folder (carries the folder's import errors, if any)."""


# ------------------------------------------------------------------------------------ result


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


# ------------------------------------------------------------------------------ overrides


@dataclass(frozen=True)
class Override:
    task_id: str
    attr: str
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.task_id}.{self.attr}: {self.old!r} -> {self.new!r}"


_class_names = run_bounds.class_names
_is_sensor = run_bounds.is_sensor


def plan_overrides(
    tasks: Iterable[Any],
    *,
    poke_interval: float = DEFAULT_POKE_INTERVAL,
    deferrable: bool = False,
    sensor_timeout: float | Mapping[str, float] | None = None,
    retries: int | None = None,
) -> list[Override]:
    """The attribute changes that make a DAG's tasks fast locally (pure: nothing is applied).

    Sensors: ``poke_interval`` lowered to ``poke_interval``, ``mode`` reschedule -> poke,
    ``exponential_backoff`` off, ``deferrable`` off, except EMR step sensors when ``deferrable``
    is true: those become deferrable with a whole-second interval (their trigger's ``waiter_delay``
    is ``int(poke_interval)``) and ``max_attempts`` covering their timeout.
    Timeouts: input sensors (any sensor but a job sensor, ``run_bounds.is_job_sensor``) wait at
    most ``run_bounds.INPUT_SENSOR_TIMEOUT`` s; job sensors keep the DAG's timeout.
    ``sensor_timeout`` changes that: one value replaces input sensors' timeout (job sensors keep
    theirs), a mapping sets the timeout of the sensors it names (any kind) by task id.
    Every task: ``retry_delay`` 0, no exponential backoff, ``retries`` replaced when given;
    operators that wait with a boto waiter get ``waiter_delay`` of at most 1 s.
    """
    plan: list[Override] = []

    def want(task: Any, attr: str, new: Any) -> None:
        if not hasattr(task, attr):
            return
        old = getattr(task, attr)
        if old != new:
            plan.append(Override(task.task_id, attr, old, new))

    for task in tasks:
        if _is_sensor(task):
            timeout = task.timeout
            job_sensor = run_bounds.is_job_sensor(task)
            if not job_sensor:
                timeout = min(float(timeout), run_bounds.INPUT_SENSOR_TIMEOUT)
            if isinstance(sensor_timeout, Mapping):
                timeout = sensor_timeout.get(task.task_id, timeout)
            elif sensor_timeout is not None and not job_sensor:
                timeout = sensor_timeout
            want(task, "timeout", timeout)
            step_sensor = bool(_class_names(task) & set(STEP_SENSOR_CLASSES))
            if deferrable and step_sensor:
                interval = max(1, math.ceil(poke_interval))
                want(task, "deferrable", True)
                want(task, "poke_interval", interval)
                if hasattr(task, "max_attempts") and timeout:
                    want(task, "max_attempts", max(1, math.ceil(float(timeout) / interval)))
            else:
                want(task, "deferrable", False)
                want(task, "poke_interval", min(float(task.poke_interval), poke_interval))
            want(task, "mode", "poke")
            want(task, "exponential_backoff", False)
        else:
            want(task, "deferrable", False)
            if isinstance(getattr(task, "waiter_delay", None), (int, float)):
                want(task, "waiter_delay", min(task.waiter_delay, max(1, math.ceil(poke_interval))))
        want(task, "retry_delay", timedelta(0))
        want(task, "retry_exponential_backoff", False)
        if retries is not None:
            want(task, "retries", retries)
    return plan


def apply_overrides(dag: Any, plan: Iterable[Override]) -> None:
    for o in plan:
        setattr(dag.get_task(o.task_id), o.attr, o.new)


# ----------------------------------------------------------------------------- run spec


@dataclass
class RunSpec:
    """Everything an engine needs (JSON-able, for the subprocess worker)."""

    dag_id: str
    dags_folder: str
    endpoint_url: str | None
    region: str
    conn_id: str
    variables: dict[str, Any]
    extra_env: dict[str, str]
    poke_interval: float
    deferrable: bool
    sensor_timeout: float | dict[str, float] | None
    retries: int | None
    conf: dict[str, Any] | None
    echo_logs: bool
    timeout: float | None = None  # the whole run's budget, seconds
    #: A backend's `connection_extra()` (per-service endpoints); None: one endpoint_url.
    connection_extra: dict[str, Any] | None = None
    #: False for real AWS: no dummy keys, the default credential chain.
    offline: bool = True
    #: Extra Airflow connections: conn id -> URI or JSON (``AIRFLOW_CONN_<ID>``).
    connections: dict[str, str] = field(default_factory=dict)


def _run_env(spec: RunSpec) -> dict[str, str]:
    env = dict(spec.extra_env)
    if spec.connection_extra is not None:
        # A backend: the connection carries its endpoints per service (service_config).
        env.update(airflow_home.connection_env(None, conn_id=spec.conn_id,
                                               extra=spec.connection_extra,
                                               dummy_keys=spec.offline))
        if spec.offline:
            env.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
            env.pop("AWS_SESSION_TOKEN", None)
        env.setdefault("AWS_DEFAULT_REGION", spec.region)
    elif spec.endpoint_url:
        env.update(airflow_home.connection_env(spec.endpoint_url, region=spec.region,
                                               conn_id=spec.conn_id))
        env.setdefault("AWS_ENDPOINT_URL", spec.endpoint_url)
        # Dummy credentials: an offline run must never sign a request with real keys.
        env.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
        env.pop("AWS_SESSION_TOKEN", None)  # and `unsafe_offline_keys` are dropped by the engine
        env.setdefault("AWS_DEFAULT_REGION", spec.region)
    env.update(airflow_home.variables_env(spec.variables))
    env.update(airflow_home.connections_env(spec.connections))
    return env


@contextlib.contextmanager
def _patched_environ(values: Mapping[str, str], drop: Iterable[str] = ()) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in [*values, *drop]}
    for k in drop:
        os.environ.pop(k, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# --------------------------------------------------------------------- in-process engine

_HOME: Path | None = None  # the Airflow home this process was configured with (by us)
#: AIRFLOW_CONN_* keys runs in this process have set (dropped by the next run unless it sets them).
_CONN_KEYS_SET: set[str] = set()


def _airflow_imported() -> bool:
    return "airflow" in sys.modules


def _ensure_airflow(dags_folder: str, timings: dict[str, float]) -> Path:
    """Configure (first call) or re-point (later calls) this process's Airflow."""
    global _HOME
    t0 = time.perf_counter()
    if _HOME is None:
        if _airflow_imported():
            raise RuntimeError(
                "Airflow was already imported in this process with another configuration; "
                "use run_dag(..., isolation='subprocess')"
            )
        home = airflow_home.new_home()
        atexit.register(shutil.rmtree, home, ignore_errors=True)
        timings["airflow_home"] = time.perf_counter() - t0
        os.environ.update(airflow_home.airflow_env(home, dags_folder))
        t1 = time.perf_counter()
        import airflow  # noqa: F401  (reads the configuration set above)
        from airflow import settings  # noqa: F401

        timings["import_airflow"] = time.perf_counter() - t1
        _HOME = home
        t1 = time.perf_counter()
        _warm_execution_api()  # else the first task's duration includes building it
        timings["warm_execution_api"] = time.perf_counter() - t1
    else:
        from airflow import settings
        from airflow.configuration import conf

        folder = str(Path(dags_folder).resolve())
        if settings.DAGS_FOLDER != folder:
            conf.set("core", "dags_folder", folder)
            settings.DAGS_FOLDER = folder
            os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = folder
    from harness import progress

    progress.install()
    return _HOME


def _load_dag(spec: RunSpec) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(Path(spec.dags_folder).resolve()))
    dag = bag.dags.get(spec.dag_id)
    if dag is None:
        errors = "\n".join(f"{path}:\n{err}" for path, err in bag.import_errors.items())
        raise DagNotFoundError(
            f"DAG {spec.dag_id!r} not found in {spec.dags_folder} "
            f"(found: {sorted(bag.dags) or 'none'})"
            + (f"\nimport errors:\n{errors}" if errors else "")
        )
    return dag


def _xcoms(dag_id: str, run_id: str) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(XComModel)
            .filter(XComModel.dag_id == dag_id, XComModel.run_id == run_id,
                    XComModel.key == "return_value", XComModel.map_index == -1)
            .all()
        )
        return {r.task_id: XComModel.deserialize_value(r) for r in rows}


def _run_in_process(
    spec: RunSpec,
    progress: ProgressCallback | None,
    *,
    dag: Any = None,
    timings: dict[str, float] | None = None,
) -> DagRunResult:
    """Run the spec in this process (``dag``: already parsed by ``_prepare``)."""
    from harness import progress as progress_mod

    timings = dict(timings or {})
    t_start = time.perf_counter()
    env = _run_env(spec)
    # Variables of an earlier run in this process must not leak into this one.
    stale = [k for k in os.environ if k.startswith("AIRFLOW_VAR_") and k not in env]
    # ... nor connections an earlier run added (the user's own AIRFLOW_CONN_* stay).
    stale += [k for k in _CONN_KEYS_SET if k not in env]
    _CONN_KEYS_SET.update(k for k in env if k.startswith("AIRFLOW_CONN_"))
    if spec.endpoint_url:  # offline: no profile, session token or other endpoint either
        stale += [k for k in unsafe_offline_keys(os.environ) if k not in env]
    with _patched_environ(env, drop=stale):
        home = _ensure_airflow(spec.dags_folder, timings)
        recorder = Recorder(progress=progress, echo_logs=spec.echo_logs)
        progress_mod.activate(recorder)
        try:
            if dag is None:
                t = time.perf_counter()
                dag = _load_dag(spec)
                timings["parse_dag"] = time.perf_counter() - t
            plan = plan_overrides(dag.tasks, poke_interval=spec.poke_interval,
                                  deferrable=spec.deferrable, sensor_timeout=spec.sensor_timeout,
                                  retries=spec.retries)
            apply_overrides(dag, plan)
            deadline = run_bounds.Deadline(spec.timeout) if spec.timeout else None
            instrumented = run_bounds.instrument(dag.tasks, on_wait=recorder.waiting,
                                                 deadline=deadline)
            t, cpu = time.perf_counter(), time.process_time()
            dr = dag.test(run_conf=spec.conf)
            timings["dag_test"] = time.perf_counter() - t
            # CPU of this process only (threads included, child processes not): the cost of
            # Airflow's polling, next to the wall time the DAG took.
            timings["dag_test_cpu"] = time.process_time() - cpu
        finally:
            progress_mod.activate(None)
        tis = sorted(dr.get_task_instances(),
                     key=lambda ti: (ti.start_date or datetime.max.replace(tzinfo=UTC),
                                     _topo_index(dag, ti.task_id)))
        task_states = {ti.task_id: str(ti.state.value if hasattr(ti.state, "value") else ti.state)
                       for ti in tis}
        # Tasks that never ran (skipped, upstream_failed) get no duration.
        durations = {ti.task_id: float(ti.duration) for ti in tis
                     if ti.duration is not None and ti.start_date is not None
                     and task_states[ti.task_id] not in ("skipped", "upstream_failed")}
        xcoms = _xcoms(dag.dag_id, dr.run_id)
        # Tasks that never ran (upstream failed, skipped) get their line too.
        seen = {e.task_id for e in recorder.events if e.state not in ("running", "waiting")}
        for task_id, state in task_states.items():
            if task_id not in seen and state in FINISHED_TASK_STATES:
                recorder.emit(TaskEvent(task_id, state))
        state = str(dr.state.value if hasattr(dr.state, "value") else dr.state)
    timings["total_in_engine"] = time.perf_counter() - t_start
    return DagRunResult(
        dag_id=spec.dag_id,
        run_id=dr.run_id,
        state=state,
        task_states=task_states,
        durations=durations,
        xcoms=_jsonable(xcoms),
        errors=dict(recorder.errors),
        logs={k: "\n".join(v) for k, v in recorder.logs.items()},
        events=[e.to_dict() for e in recorder.events],
        overrides=[str(o) for o in plan] + instrumented,
        timings=timings,
        airflow_home=str(home),
        waits=dict(recorder.waits),
        timed_out=_timed_out(deadline, "task stopped"),
    )


def _timed_out(deadline: run_bounds.Deadline | None, how: str) -> dict[str, Any] | None:
    if deadline is None or deadline.hit is None:
        return None
    return {"timeout": deadline.seconds, "how": how, **deadline.hit}


def _topo_index(dag: Any, task_id: str) -> int:
    ids = [t.task_id for t in dag.tasks]  # definition order: the tie-break for unstarted tasks
    return ids.index(task_id) if task_id in ids else len(ids)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return json.loads(json.dumps(value, default=str))


def _warm_execution_api() -> None:
    """Build Airflow's in-process Execution API now (else the first task pays ~3-5 s for it)."""
    from airflow.sdk.execution_time.supervisor import InProcessTestSupervisor

    InProcessTestSupervisor._api_client().get("health/ping")


def _prepare(dag_id: str, dags_folder: str, variables: Mapping[str, Any] | None
             ) -> tuple[Any, dict[str, float]]:  # fmt: skip
    """Configure and import Airflow, warm its Execution API and parse the DAG (no AWS needed)."""
    timings: dict[str, float] = {}
    stub = RunSpec(dag_id=dag_id, dags_folder=dags_folder, endpoint_url=None, region="us-east-1",
                   conn_id=airflow_home.DEFAULT_CONN_ID, variables=dict(variables or {}),
                   extra_env={}, poke_interval=DEFAULT_POKE_INTERVAL, deferrable=False,
                   sensor_timeout=None, retries=None, conf=None, echo_logs=False)
    # Variables are visible while parsing, for DAG files that read them at parse time.
    with _patched_environ(airflow_home.variables_env(variables)):
        _ensure_airflow(dags_folder, timings)
        t = time.perf_counter()
        dag = _load_dag(stub)
        timings["parse_dag"] = time.perf_counter() - t
    return dag, timings


# --------------------------------------------------------------------- subprocess engine


class PreparedRun:
    """A DAG worker process started *before* the AWS endpoint exists.

    It imports Airflow, builds its Execution API and parses the DAG while this process starts the
    emulator and provisions it: on two cores the ~8 s of Airflow start-up overlap the emulator's
    ~5 s instead of adding to them. ``run(aws=..., ...)`` then sends the rest of the run spec.

        with prepare_dag_run("pipeline_emr", dags_folder="dags") as prepared, \\
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
        env = {k: v for k, v in snapshot_environ().items() if not k.startswith("AIRFLOW")}
        repo_root = str(Path(__file__).resolve().parent.parent)
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
                    [sys.executable, "-m", "harness._dag_worker", str(prep_path),
                     str(self._result_path), str(events_w)],
                    grace=WORKER_STOP_GRACE, cleanup=[self._tmp.name],
                    env=env, pass_fds=(events_w,), stdin=subprocess.PIPE,
                    stdout=output, stderr=subprocess.STDOUT, text=True,
                )  # fmt: skip
        except BaseException:
            os.close(self._events_r)
            self._cleanup_files()
            raise
        finally:
            os.close(events_w)
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
            with os.fdopen(self._events_r) as events:
                for line in events:
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


def _run_in_subprocess(spec: RunSpec, progress: ProgressCallback | None) -> DagRunResult:
    """Run the spec in ``python -m harness._dag_worker``; events stream back over a pipe."""
    offline = spec.endpoint_url is not None and is_loopback_url(spec.endpoint_url)
    with PreparedRun(spec.dag_id, dags_folder=spec.dags_folder,
                     variables=spec.variables, offline=offline) as prepared:  # fmt: skip
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


def _after_kill(aws: Any, url: str, region: str, owner: RunAttribution,
                result: DagRunResult) -> None:
    """A killed worker ran no teardown: terminate the clusters this run created."""
    if not (result.timed_out and result.timed_out.get("how") == "worker killed"):
        return
    emr = _client(aws, "emr", url, region)
    mine = _run_cluster_ids(aws, emr, owner)
    live = {c["Id"] for page in emr.get_paginator("list_clusters").paginate(
        ClusterStates=list(ACTIVE_CLUSTER_STATES[:-1])) for c in page["Clusters"]}
    if mine & live:
        emr.terminate_job_flows(JobFlowIds=sorted(mine & live))


# ------------------------------------------------------------------------- the emulator


def _is_backend(aws: Any) -> bool:
    """A `harness.backends.base.Backend` (duck-typed: this module does not import backends)."""
    return hasattr(aws, "connection_extra") and hasattr(aws, "endpoints")


def _one_of(aws: Any, backend: Any) -> Any:
    if backend is not None and aws is not None:
        raise TypeError("give aws= or backend=, not both")
    return backend if backend is not None else aws


def _endpoint_of(aws: Any) -> tuple[str | None, str | None, dict[str, str]]:
    """(endpoint URL, region, extra env) from a backend, an EmulatedAWS-like object or a URL."""
    if aws is None:
        return None, None, {}
    if isinstance(aws, str):
        return aws, None, {}
    if _is_backend(aws):
        return aws.default_endpoint(), aws.region, dict(aws.env())
    env = dict(aws.env()) if hasattr(aws, "env") else {}
    return aws.url, getattr(aws, "region", None), env


def _client(aws: Any, service: str, url: str, region: str) -> Any:
    if hasattr(aws, "client"):
        return aws.client(service)
    import boto3

    return boto3.client(service, endpoint_url=url, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


#: Prefix of the User-Agent app id (botocore's ``AWS_SDK_UA_APP_ID``) marking one run's AWS calls.
RUN_APP_ID_PREFIX = "harness-run-"


@dataclass(frozen=True)
class RunAttribution:
    """How to tell the clusters one run created from everyone else's.

    ``app_id``: the run's clients send ``app/<app_id>`` in their User-Agent, and an emulator
    that records it (``aws.runtime``) says exactly which clusters the run created, even with
    other clients or runs active at the same time. ``before``: for other endpoints, the
    cluster ids that existed before the run (exact for runs one after another).
    """

    app_id: str | None
    before: frozenset[str] | None


def _attribution(spec: RunSpec, aws: Any, url: str | None, region: str) -> RunAttribution:
    """Tag the run's AWS clients (called before the run starts)."""
    if not (url or _is_backend(aws)):
        return RunAttribution(None, None)
    # An environment variable, not the connection's ``config_kwargs``: a hook given an explicit
    # ``botocore_config`` (the DAG's operators) ignores the connection's config_kwargs.
    app_id = RUN_APP_ID_PREFIX + uuid.uuid4().hex[:12]
    spec.extra_env["AWS_SDK_UA_APP_ID"] = app_id
    if _emr_runtime(aws) is not None:
        return RunAttribution(app_id, None)
    return RunAttribution(app_id, frozenset(_cluster_ids(_client(aws, "emr", url, region))))


def _emr_runtime(aws: Any) -> Any:
    """The emulator's EMR runtime (it records who created each cluster), if ``aws`` has one."""
    if aws is None or isinstance(aws, str):
        return None
    # A backend (embedded, localstack) holds its EmulatedAWS as `.emulator`.
    runtime = getattr(getattr(aws, "emulator", None) or aws, "runtime", None)
    return runtime if callable(getattr(runtime, "clusters", None)) else None


def _cluster_ids(emr: Any) -> list[str]:
    return [c["Id"] for page in emr.get_paginator("list_clusters").paginate()
            for c in page["Clusters"]]  # fmt: skip


def _run_cluster_ids(aws: Any, emr: Any, owner: RunAttribution) -> set[str]:
    """Ids of the clusters the run created (see ``RunAttribution``)."""
    runtime = _emr_runtime(aws)
    if runtime is not None and owner.app_id is not None:
        return {r.id for r in runtime.clusters(app_id=owner.app_id)}
    return set(_cluster_ids(emr)) - set(owner.before or ())


def _inspect(aws: Any, url: str, region: str, owner: RunAttribution,
             result: DagRunResult) -> None:  # fmt: skip
    t = time.perf_counter()
    _inspect_emr(aws, url, region, owner, result)
    _inspect_s3(aws, url, region, result)
    result.timings["inspect"] = time.perf_counter() - t


def _inspect_s3(aws: Any, url: str, region: str, result: DagRunResult, limit: int = 1000) -> None:
    """``s3_keys``: what the emulated S3 holds after the run (up to ``limit`` keys a bucket)."""
    s3 = _client(aws, "s3", url, region)
    for bucket in s3.list_buckets().get("Buckets", []):
        keys: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            keys += [o["Key"] for o in page.get("Contents", [])]
            if len(keys) >= limit:
                break
        result.s3_keys[bucket["Name"]] = sorted(keys[:limit])


#: Steps whose logs a failure report shows: failed, and stopped before finishing (a hung step
#: cancelled when its cluster was terminated, for instance).
STEP_PROBLEM_STATES = ["FAILED", "CANCELLED", "INTERRUPTED"]


def _inspect_emr(aws: Any, url: str, region: str, owner: RunAttribution,
                 result: DagRunResult) -> None:  # fmt: skip
    """Fill ``clusters`` (created by this run) and ``step_failures`` from the emulator."""
    emr = _client(aws, "emr", url, region)
    mine = _run_cluster_ids(aws, emr, owner)
    clusters = []
    for page in emr.get_paginator("list_clusters").paginate():
        clusters += [c for c in page["Clusters"] if c["Id"] in mine]
    for c in clusters:
        status = c["Status"]
        result.clusters.append({
            "id": c["Id"],
            "name": c.get("Name"),
            "state": status["State"],
            "reason": (status.get("StateChangeReason") or {}).get("Code"),
            "message": (status.get("StateChangeReason") or {}).get("Message"),
        })
        for page in emr.get_paginator("list_steps").paginate(ClusterId=c["Id"],
                                                             StepStates=STEP_PROBLEM_STATES):
            for step in page["Steps"]:
                details = step["Status"].get("FailureDetails") or {}
                tail = stdout_tail = None
                if hasattr(aws, "step_stderr_tail"):
                    try:
                        tail = aws.step_stderr_tail(c["Id"], step["Id"])
                    except Exception as e:  # the report must not hide the run's own failure
                        tail = f"(stderr unavailable: {e})"
                if hasattr(aws, "step_dir"):
                    # spark-submit's PythonRunner sends the Python driver's traceback to stdout.
                    try:
                        stdout_tail = _tail(Path(aws.step_dir(c["Id"], step["Id"])) / "stdout")
                    except Exception:  # a backend whose steps' logs are not local
                        stdout_tail = None
                result.step_failures.append({
                    "cluster_id": c["Id"],
                    "step_id": step["Id"],
                    "name": step.get("Name"),
                    "state": step["Status"]["State"],
                    "reason": details.get("Reason"),
                    "message": details.get("Message"),
                    "log_file": details.get("LogFile"),
                    "stderr_tail": tail,
                    "stdout_tail": stdout_tail,
                })


def _tail(path: Path, lines: int = 20) -> str | None:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return None


# ------------------------------------------------------------------------------ the API


def _spec(
    dag_id: str,
    dags_folder: str | os.PathLike[str],
    aws: Any,
    *,
    variables: Mapping[str, Any] | None = None,
    region: str | None = None,
    conn_id: str = airflow_home.DEFAULT_CONN_ID,
    poke_interval: float = DEFAULT_POKE_INTERVAL,
    deferrable: bool = False,
    sensor_timeout: float | Mapping[str, float] | None = None,
    retries: int | None = None,
    conf: Mapping[str, Any] | None = None,
    echo_logs: bool = False,
    timeout: float | None = None,
    connections: Mapping[str, str] | None = None,
) -> tuple[RunSpec, str | None, str]:
    if timeout is not None and not 0 < timeout < math.inf:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    url, aws_region, extra_env = _endpoint_of(aws)
    region = region or aws_region or "us-east-1"
    backend = _is_backend(aws)
    spec = RunSpec(
        dag_id=dag_id,
        dags_folder=str(Path(dags_folder).resolve()),
        endpoint_url=url,
        region=region,
        conn_id=conn_id,
        variables=dict(variables or {}),
        extra_env=extra_env,
        poke_interval=float(poke_interval),
        deferrable=deferrable,
        sensor_timeout=(
            dict(sensor_timeout) if isinstance(sensor_timeout, Mapping) else sensor_timeout
        ),
        retries=retries,
        conf=dict(conf) if conf is not None else None,
        echo_logs=echo_logs,
        timeout=float(timeout) if timeout is not None else None,
        connection_extra=dict(aws.connection_extra()) if backend else None,
        offline=bool(getattr(aws, "offline", True)),
        connections=dict(connections or {}),
    )
    return spec, url, region


def run_dag(
    dag_id: str,
    *,
    dags_folder: str | os.PathLike[str] = "dags",
    variables: Mapping[str, Any] | None = None,
    aws: Any = None,
    region: str | None = None,
    conn_id: str = airflow_home.DEFAULT_CONN_ID,
    poke_interval: float = DEFAULT_POKE_INTERVAL,
    deferrable: bool = False,
    sensor_timeout: float | Mapping[str, float] | None = None,
    retries: int | None = None,
    progress: ProgressCallback | None = None,
    conf: Mapping[str, Any] | None = None,
    echo_logs: bool = False,
    isolation: str = "auto",
    faults: Callable[[Any], Any] | None = None,
    timeout: float | None = None,
    backend: Any = None,
    connections: Mapping[str, str] | None = None,
) -> DagRunResult:
    """Run ``dag_id`` from ``dags_folder`` once under ``dag.test()`` and report what happened.

    :param aws: an ``EmulatedAWS`` (its URL, environment, stderr tails and cluster view are used)
        or an endpoint URL string; the ``conn_id`` connection points at it. None: no connection
        is injected (the DAG talks to whatever its environment says).
    :param variables: Airflow Variables, injected as ``AIRFLOW_VAR_*`` for this run only.
    :param poke_interval: sensors' interval in seconds (the DAG's own is kept if lower).
    :param deferrable: run the EMR step sensor(s) deferrable (trigger inline, 1 s interval).
    :param sensor_timeout: seconds; one value: the timeout of input sensors (sensors waiting
        for data to appear; default ``run_bounds.INPUT_SENSOR_TIMEOUT``, job sensors such as
        the EMR step sensor keep the DAG's); a mapping: the timeout of the sensors it names.
    :param retries: replaces every task's retry count (None: the DAG's own; delays are 0 anyway).
    :param progress: called with a ``TaskEvent`` per state change (``print`` prints a line).
    :param conf: the DAG run's conf (``dag_run.conf`` / params).
    :param echo_logs: let Airflow's console log through (it is captured in ``result.logs`` anyway).
    :param isolation: "in-process", "subprocess" or "auto" (in-process unless Airflow was already
        imported here with another configuration).
    :param faults: called with ``aws.faults`` before the run, to arm injected failures, e.g.
        ``faults=lambda f: f.throttle("DescribeStep", times=3)``.
    :param timeout: the whole run's budget in seconds (None: unbounded). A task still waiting
        or running when it is used up fails without retry, teardowns still run (for at most
        ``run_bounds.TEARDOWN_GRACE`` s more) and ``result.timed_out`` says where the run stood.
        A subprocess worker that has not finished ``WORKER_KILL_GRACE`` s after that is killed
        (and the clusters the run created are terminated). See docs/run-bounds.md.
    :param connections: extra Airflow connections for this run only: conn id -> URI or JSON
        object (``AIRFLOW_CONN_<ID>``); the ``conn_id`` connection is the harness's.
    :param backend: a started ``harness.backends`` backend (embedded, localstack, aws), instead
        of ``aws=``: the connection gets its endpoints per service (``service_config``), the
        environment its ``env()``, and the inspection afterwards uses its clients.
    """
    aws = _one_of(aws, backend)
    if faults is not None:
        if getattr(aws, "faults", None) is None:
            raise TypeError("faults= needs a backend that can inject faults (an object with "
                            f".faults); {getattr(aws, 'name', type(aws).__name__)} has none")
        faults(aws.faults)
    spec, url, region = _spec(
        dag_id, dags_folder, aws, variables=variables, region=region, conn_id=conn_id,
        poke_interval=poke_interval, deferrable=deferrable, sensor_timeout=sensor_timeout,
        retries=retries, conf=conf, echo_logs=echo_logs, timeout=timeout,
        connections=connections,
    )
    if isolation not in ("auto", "in-process", "subprocess"):
        raise ValueError(
            f"isolation must be 'auto', 'in-process' or 'subprocess', not {isolation!r}"
        )
    if isolation == "auto":
        in_process = _HOME is not None or not _airflow_imported()
        isolation = "in-process" if in_process else "subprocess"
    owner = _attribution(spec, aws, url, region)
    t0 = time.perf_counter()
    engine = _run_in_process if isolation == "in-process" else _run_in_subprocess
    result = engine(spec, progress)
    result.timings["run_dag"] = time.perf_counter() - t0
    if url or _is_backend(aws):
        _after_kill(aws, url, region, owner, result)
        _inspect(aws, url, region, owner, result)
    return result

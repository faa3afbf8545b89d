"""Run a DAG end to end through Airflow 3's own execution (``dag.test()``), offline and fast.

    from harness.airflow.dag_runner import run_dag

    with EmulatedAWS() as aws:
        ...provision the bucket, input and script...
        result = run_dag("my_dag", dags_folder="dags", aws=aws,
                         variables={"emr_bucket_name": "my-bucket"}, progress=print)
    assert result.ok, result.failure_report()
    print(result.summary())

What it does, in order:

1. **A throw-away Airflow home** (``harness.airflow.home``): SQLite, a copy of a metadata DB
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
   ``timeout=`` bounds the whole run (``harness.airflow.run_bounds``, docs/run-bounds.md).
   Every change is listed in ``result.overrides``.
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
saves ~40 s. ``isolation="auto"`` falls back to a subprocess
(``python -m harness.airflow._dag_worker``) when Airflow was already imported in this process
with someone else's configuration (a user's own tests, say); ``"subprocess"`` forces it.

The pieces, one concern each: ``results`` (``DagRunResult``), ``overrides`` (local timing),
``environment`` (the run spec and its environment), ``in_process`` and ``worker`` (the two
engines), ``inspection`` (what the run left behind). This module is the API: ``run_dag``.

``prepare_dag_run`` starts that subprocess *before* the AWS endpoint exists, so Airflow's start-up
(~8 s of CPU: import, Execution API, DAG parse) overlaps the emulator's on a second core; the
``python -m harness run`` command uses it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from harness.airflow import home as airflow_home
from harness.airflow import in_process as _engine
from harness.airflow.environment import RunSpec, _is_backend, _one_of, _spec
from harness.airflow.inspection import (
    RUN_APP_ID_PREFIX,
    RunAttribution,
    _after_kill,
    _attribution,
    _inspect,
)
from harness.airflow.overrides import DEFAULT_POKE_INTERVAL, Override, plan_overrides
from harness.airflow.progress import ProgressCallback
from harness.airflow.results import DagNotFoundError, DagRunResult
from harness.airflow.state_changes import StateChanges, forward_changes, runtime_of
from harness.airflow.worker import PreparedRun, _run_in_subprocess, prepare_dag_run

__all__ = [
    "DagNotFoundError",
    "DagRunResult",
    "Override",
    "PreparedRun",
    "RUN_APP_ID_PREFIX",
    "RunAttribution",
    "RunSpec",
    "plan_overrides",
    "prepare_dag_run",
    "run_dag",
]


def _run_here(spec: RunSpec, progress: ProgressCallback | None, runtime: Any) -> DagRunResult:
    """The in-process engine, told of ``runtime``'s EMR state changes (if any) over a pipe."""
    if runtime is None:
        return _engine._run_in_process(spec, progress)
    read_fd, write_fd = os.pipe()
    unforward = forward_changes(runtime, write_fd)
    try:
        spec.state_changes = True
        return _engine._run_in_process(spec, progress, changes=StateChanges(read_fd))
    finally:
        unforward()
        os.close(write_fd)
        os.close(read_fd)


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
        in_process = _engine._HOME is not None or not _engine._airflow_imported()
        isolation = "in-process" if in_process else "subprocess"
    owner = _attribution(spec, aws, url, region)
    t0 = time.perf_counter()
    if isolation == "in-process":
        result = _run_here(spec, progress, runtime_of(aws))
    else:
        result = _run_in_subprocess(spec, progress, runtime_of(aws))
    result.timings["run_dag"] = time.perf_counter() - t0
    if url or _is_backend(aws):
        _after_kill(aws, url, region, owner, result)
        _inspect(aws, url, region, owner, result)
    return result

"""The in-process engine: configure this process's Airflow once (a throw-away home), parse
the DAG, apply the overrides and run it under ``dag.test()``; read back states, durations
and XComs.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.airflow import home as airflow_home
from harness.airflow import run_bounds
from harness.airflow.environment import RunSpec, _run_env
from harness.airflow.overrides import DEFAULT_POKE_INTERVAL, apply_overrides, plan_overrides
from harness.airflow.progress import ProgressCallback, Recorder, TaskEvent
from harness.airflow.results import FINISHED_TASK_STATES, DagNotFoundError, DagRunResult
from harness.environ import patched_environ
from harness.offline_env import unsafe_offline_keys

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
        from harness import boto_models

        # Every AWS hook makes a botocore session of its own, which parses the service models
        # and endpoint rules again (0.1-0.3 s per task here): one loader for all of them.
        boto_models.install()
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
    from harness.airflow import progress

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
    changes: Any = None,
) -> DagRunResult:
    """Run the spec in this process (``dag``: already parsed by ``_prepare``; ``changes``: the
    emulator's state-change signal, a ``state_changes.StateChanges``)."""
    from harness.airflow import progress as progress_mod

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
    with patched_environ(env, drop=stale):
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
                                                 deadline=deadline, changes=changes)
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
    """Build Airflow's in-process Execution API now (else the first task pays ~3-5 s for it),
    with the routers of the one API version this process's task SDK speaks."""
    from airflow.sdk.execution_time.supervisor import InProcessTestSupervisor

    with sdk_api_version_only():
        InProcessTestSupervisor._api_client().get("health/ping")


@contextlib.contextmanager
def sdk_api_version_only() -> Iterator[str | None]:
    """While inside, Airflow's Execution API app is built for the task SDK's version only.

    Cadwyn generates one set of routers and schemas per API version in the bundle (nine in
    Airflow 3.3: about 3 s of the ~5 s of CPU the first request took here), but the in-process
    client only ever sends the task SDK's ``API_VERSION``. When that is the bundle's newest
    version, whose routers are the head's (a version's changes describe how to go back to the
    version before it), a bundle of that version alone serves the same requests with the same
    schemas. Otherwise (an SDK older or newer than the core, or a head with changes of its
    own) Airflow's bundle is kept. Yields the version it kept, or None. Airflow's bundle and
    router are put back on the way out.
    """
    from airflow.api_fastapi.execution_api import routes, versions
    from airflow.sdk.api.datamodels._generated import API_VERSION
    from cadwyn import HeadVersion, Version, VersionBundle
    from cadwyn.route_generation import _DELETED_ROUTE_TAG

    full, router = versions.bundle, routes.execution_api_router
    newest = full.versions[0].value if full.versions else None
    if API_VERSION != newest or full.head_version.changes:
        yield None
        return
    # Routes that only older versions have (marked deleted in the head) would be restored by
    # those versions' changes, and Cadwyn refuses a bundle that never restores them; the
    # newest version's routers drop them anyway.
    head_only = copy.copy(router)
    head_only.routes = [r for r in router.routes
                        if _DELETED_ROUTE_TAG not in getattr(r, "tags", ())]
    versions.bundle = VersionBundle(HeadVersion(), Version(API_VERSION))
    routes.execution_api_router = head_only
    try:
        yield API_VERSION
    finally:
        versions.bundle, routes.execution_api_router = full, router


def _prepare(dag_id: str, dags_folder: str, variables: Mapping[str, Any] | None
             ) -> tuple[Any, dict[str, float]]:  # fmt: skip
    """Configure and import Airflow, warm its Execution API and parse the DAG (no AWS needed)."""
    timings: dict[str, float] = {}
    stub = RunSpec(dag_id=dag_id, dags_folder=dags_folder, endpoint_url=None, region="us-east-1",
                   conn_id=airflow_home.DEFAULT_CONN_ID, variables=dict(variables or {}),
                   extra_env={}, poke_interval=DEFAULT_POKE_INTERVAL, deferrable=False,
                   sensor_timeout=None, retries=None, conf=None, echo_logs=False)
    # Variables are visible while parsing, for DAG files that read them at parse time.
    with patched_environ(airflow_home.variables_env(variables)):
        _ensure_airflow(dags_folder, timings)
        t = time.perf_counter()
        dag = _load_dag(stub)
        timings["parse_dag"] = time.perf_counter() - t
    return dag, timings

"""Runs that cannot succeed end quickly and say why (issue 8): a bad setting fails at once, a
missing input is waited for within a local bound and the wait is visible, a whole-run timeout
stops a stuck run. None of these scenarios reaches Spark."""

from __future__ import annotations

import functools
import time

from .conftest import LAYOUT, assert_nothing_running

#: Whole-run budgets (the tests skip the clock to their end once the run waits where they want
#: it stopped): shorter than the input sensor's local 30 s; long enough for the cluster
#: and the step to be created before the step sensor waits (a few seconds on a quiet machine).
RUN_TIMEOUT = 20
HUNG_STEP_TIMEOUT = 45


class _SkipAheadClock:
    """`time.monotonic`, moved ahead by a whole budget once `skip()` is called."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.ahead

    def skip(self) -> None:
        self.ahead = self.budget


def skip_ahead_clock(monkeypatch, budget: float) -> _SkipAheadClock:
    """The clock of the run's budget (`run_bounds.Deadline`), for the in-process engine.

    The budget must outlast what comes before the wait on a loaded machine, but a test need
    not sit through it: once the run waits where the test wants it stopped, the test calls
    `skip()` and the very next check finds the budget used up. (The subprocess engine, used
    when another test configured Airflow first, keeps real time: the same assertions hold,
    `budget` seconds later.)
    """
    from harness.airflow import run_bounds

    clock = _SkipAheadClock(budget)
    monkeypatch.setattr(run_bounds, "Deadline",
                        functools.partial(run_bounds.Deadline, clock=clock))
    return clock


def test_bad_setting_fails_once_without_retry(run_pipeline, pipeline_aws):
    events = []
    result = run_pipeline(variables={"emr_instance_count": "abc"}, progress=events.append)

    assert not result.ok
    assert result.task_states["validar_entrada"] == "failed"
    # Rendering fails before Airflow announces the task running: the one event is its end.
    mine = [(e.state, e.try_number) for e in events
            if e.task_id == "validar_entrada" and e.state != "running"]
    assert mine == [("failed", 1)], mine  # one try, no up_for_retry
    assert "emr_instance_count='abc'" in result.errors["validar_entrada"]
    assert "emr_instance_count" in result.failure_report()
    assert result.task_states["criar_cluster_emr"] == "upstream_failed"
    # The input sensor's local bound, from outside the DAG (its own timeout is 10 minutes).
    assert "validar_entrada.timeout: 600.0 -> 30.0" in result.overrides
    assert_nothing_running(pipeline_aws, result)


def test_run_timeout_ends_a_wait_for_missing_input(dag_runner, emulated_aws, monkeypatch):
    from tests.lesson import provision

    provision(emulated_aws, LAYOUT, data=None, script=None)  # bucket and roles, no input
    # The budget ends once the input sensor has reported its wait.
    clock = skip_ahead_clock(monkeypatch, RUN_TIMEOUT)
    events = []

    def progress(event):
        events.append(event)
        if event.task_id == "validar_entrada" and event.state == "waiting":
            clock.skip()

    # The input sensor alone would wait 30 s: the run's budget ends the wait first.
    result = dag_runner("pipeline_emr", aws=emulated_aws, variables=LAYOUT.variables(),
                        timeout=RUN_TIMEOUT, progress=progress)

    input_url = f"s3://{LAYOUT.bucket}/{LAYOUT.input_key}"
    assert not result.ok
    assert result.timed_out is not None, result.failure_report()
    assert result.timed_out["task_id"] == "validar_entrada"
    assert result.timed_out["waiting_for"] == f"{input_url} (not there)"
    assert [(e.state, e.try_number) for e in events if e.task_id == "validar_entrada"
            and e.state not in ("running", "waiting")] == [("failed", 1)]  # no retry
    assert "run timeout" in result.errors["validar_entrada"]
    report = result.failure_report()
    assert "budget (--timeout) was used up" in report and input_url in report
    assert emulated_aws.client("emr").list_clusters()["Clusters"] == []
    assert_nothing_running(emulated_aws, result)


def test_run_timeout_stops_a_hung_step_and_the_teardown_terminates_the_cluster(
        run_pipeline, pipeline_aws, monkeypatch):  # fmt: skip
    # The budget ends once the step sensor has seen the hung step RUNNING.
    clock = skip_ahead_clock(monkeypatch, HUNG_STEP_TIMEOUT)
    events = []

    def progress(event):
        events.append(event)
        if event.task_id == "aguardar_step_spark" and event.state == "waiting" \
                and str(event.detail).endswith("(RUNNING)"):
            clock.skip()

    result = run_pipeline(faults=lambda f: f.hang_step("processar-vendas-spark"),
                          timeout=HUNG_STEP_TIMEOUT, progress=progress)

    assert not result.ok
    assert result.timed_out is not None, result.failure_report()
    assert result.timed_out["task_id"] == "aguardar_step_spark", result.failure_report()
    cluster_id = result.xcoms["criar_cluster_emr"]
    (step_id,) = result.xcoms["adicionar_steps_spark"]
    expected = f"step {step_id} on {cluster_id} (RUNNING)"
    assert result.timed_out["waiting_for"] == expected
    lines = [str(e) for e in events if e.task_id == "aguardar_step_spark"
             and e.state == "waiting"]
    assert lines and f"waiting for {expected}" in lines[-1], lines
    assert result.task_states["terminar_cluster_emr"] == "success"  # the teardown still ran
    assert expected in result.failure_report()
    assert_nothing_running(pipeline_aws, result)


def test_killed_worker_is_reported_and_its_clusters_terminated(pipeline_aws, dags_folder):
    # The worker is killed the way the parent's timeout backstop kills it, at a known point:
    # while the step sensor waits on a hung step (a timer would make the test depend on speed).
    from harness.airflow.dag_runner import prepare_dag_run

    pipeline_aws.faults.hang_step("processar-vendas-spark")
    events = []
    with prepare_dag_run("pipeline_emr", dags_folder=dags_folder,
                         variables=LAYOUT.variables()) as prepared:  # fmt: skip

        def progress(event):
            events.append(event)
            if event.task_id == "aguardar_step_spark" and event.state == "waiting":
                prepared._kill_for_timeout()

        result = prepared.run(aws=pipeline_aws, timeout=600, progress=progress)

    assert not result.ok
    assert result.isolation == "subprocess"
    assert result.timed_out["how"] == "worker killed"
    assert result.timed_out["task_id"] == "aguardar_step_spark"
    assert result.timed_out["waiting_for"].startswith("step s-")
    assert result.task_states["aguardar_step_spark"] == "failed"
    assert result.task_states["criar_cluster_emr"] == "success"
    report = result.failure_report()
    assert "the DAG worker was killed" in report and result.timed_out["waiting_for"] in report
    # No teardown ran in the worker: the harness terminated the cluster the run created.
    (cluster,) = pipeline_aws.client("emr").list_clusters()["Clusters"]
    assert cluster["Status"]["State"] in ("TERMINATING", "TERMINATED"), cluster["Status"]

"""Runs that cannot succeed end quickly and say why (issue 8): a bad setting fails at once, a
missing input is waited for within a local bound and the wait is visible, a whole-run timeout
stops a stuck run. None of these scenarios reaches Spark."""

from __future__ import annotations

from .conftest import LAYOUT, assert_nothing_running

#: Whole-run budgets: shorter than the input sensor's local 30 s; long enough for the cluster
#: and the step to be created before the step sensor waits (a few seconds on a quiet machine).
RUN_TIMEOUT = 5
HUNG_STEP_TIMEOUT = 45


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


def test_run_timeout_ends_a_wait_for_missing_input(dag_runner, emulated_aws):
    from tests.lesson import provision

    provision(emulated_aws, LAYOUT, data=None, script=None)  # bucket and roles, no input
    events = []
    # The input sensor alone would wait 30 s: the run's budget ends the wait first.
    result = dag_runner("pipeline_emr", aws=emulated_aws, variables=LAYOUT.variables(),
                        timeout=RUN_TIMEOUT, progress=events.append)

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
        run_pipeline, pipeline_aws):  # fmt: skip
    events = []
    result = run_pipeline(faults=lambda f: f.hang_step("processar-vendas-spark"),
                          timeout=HUNG_STEP_TIMEOUT, progress=events.append)

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

"""Pure logic of harness.airflow (dag_runner, progress, home): no Airflow import, no server."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest

from harness.airflow import home as airflow_home
from harness.airflow.dag_runner import DagRunResult, Override, plan_overrides
from harness.airflow.progress import Recorder, TaskEvent
from harness.airflow.run_bounds import INPUT_SENSOR_TIMEOUT


# Stand-ins with the attributes plan_overrides reads; class names matter for the step sensor.
class BaseSensorOperator(SimpleNamespace):
    pass


class EmrStepSensor(BaseSensorOperator):
    pass


class S3KeySensor(BaseSensorOperator):
    pass


class EmrTerminateJobFlowOperator(SimpleNamespace):
    pass


def sensor(cls=S3KeySensor, task_id="validar_entrada", **kw):
    attrs = dict(task_id=task_id, poke_interval=60.0, mode="reschedule", timeout=600.0,
                 exponential_backoff=False, deferrable=False, retries=2,
                 retry_delay=timedelta(minutes=1), retry_exponential_backoff=False)
    attrs.update(kw)
    return cls(**attrs)


def step_sensor(**kw):
    kw.setdefault("mode", "poke")
    kw.setdefault("timeout", 1800.0)
    kw.setdefault("max_attempts", 30)
    return sensor(EmrStepSensor, "aguardar_step_spark", **kw)


def changes(plan):
    return {(o.task_id, o.attr): o.new for o in plan}


def test_sensors_poke_fast_in_poke_mode_and_delays_vanish():
    plan = changes(plan_overrides([sensor(), step_sensor()], poke_interval=0.2))
    assert plan[("validar_entrada", "poke_interval")] == 0.2
    assert plan[("validar_entrada", "mode")] == "poke"
    assert plan[("aguardar_step_spark", "poke_interval")] == 0.2
    assert plan[("validar_entrada", "retry_delay")] == timedelta(0)
    # Unchanged attributes are not in the plan; retry counts stay the DAG's by default.
    assert ("aguardar_step_spark", "mode") not in plan
    assert ("validar_entrada", "retries") not in plan


def test_a_lower_interval_in_the_dag_is_kept():
    plan = changes(plan_overrides([sensor(poke_interval=0.05)], poke_interval=0.2))
    assert ("validar_entrada", "poke_interval") not in plan


def test_deferrable_switches_only_the_step_sensor_with_whole_seconds():
    plan = changes(plan_overrides([sensor(deferrable=True), step_sensor()], poke_interval=0.2,
                                  deferrable=True))
    assert plan[("aguardar_step_spark", "deferrable")] is True
    # The trigger's waiter_delay is int(poke_interval): 0 would busy-loop DescribeStep.
    assert plan[("aguardar_step_spark", "poke_interval")] == 1
    assert plan[("aguardar_step_spark", "max_attempts")] == 1800  # covers its 30 min timeout
    # Other deferrable sensors poke in-process (dag.test's inline trigger has no timeout).
    assert plan[("validar_entrada", "deferrable")] is False


def test_not_deferrable_turns_deferrable_tasks_off():
    op = EmrTerminateJobFlowOperator(task_id="terminar", deferrable=True, waiter_delay=60,
                                     retry_delay=timedelta(0), retries=3,
                                     retry_exponential_backoff=False)
    plan = changes(plan_overrides([op, step_sensor(deferrable=True)]))
    assert plan[("terminar", "deferrable")] is False
    assert plan[("terminar", "waiter_delay")] == 1
    assert plan[("aguardar_step_spark", "deferrable")] is False


def test_input_sensors_get_a_local_bound_job_sensors_keep_theirs():
    plan = changes(plan_overrides([sensor(), step_sensor()]))
    assert plan[("validar_entrada", "timeout")] == INPUT_SENSOR_TIMEOUT == 30
    assert ("aguardar_step_spark", "timeout") not in plan  # a real Spark step needs minutes
    # A DAG's own shorter timeout is kept.
    assert ("validar_entrada", "timeout") not in changes(plan_overrides([sensor(timeout=10.0)]))


def test_sensor_timeout_one_value_for_input_sensors_or_per_task_and_retries_override():
    tasks = [sensor(), step_sensor()]
    per_task = changes(plan_overrides(tasks, sensor_timeout={"validar_entrada": 3}))
    assert per_task[("validar_entrada", "timeout")] == 3
    assert ("aguardar_step_spark", "timeout") not in per_task
    named = changes(plan_overrides(tasks, sensor_timeout={"aguardar_step_spark": 120}))
    assert named[("aguardar_step_spark", "timeout")] == 120
    assert named[("validar_entrada", "timeout")] == INPUT_SENSOR_TIMEOUT  # not named: default
    one_value = changes(plan_overrides(tasks, sensor_timeout=300, retries=0))
    assert one_value[("validar_entrada", "timeout")] == 300  # may also be longer than 30 s
    assert ("aguardar_step_spark", "timeout") not in one_value
    assert one_value[("validar_entrada", "retries")] == 0


def test_override_reads_as_a_change():
    assert str(Override("t", "poke_interval", 60.0, 0.2)) == "t.poke_interval: 60.0 -> 0.2"


def result(**kw):
    base = dict(dag_id="d", run_id="r", state="success",
                task_states={"a": "success", "b": "success"}, durations={"a": 1.0, "b": 0.25},
                xcoms={"a": "j-1"})
    base.update(kw)
    return DagRunResult(**base)


def test_ok_needs_a_successful_run_and_no_failed_task():
    assert result().ok
    assert not result(state="failed", task_states={"a": "failed", "b": "upstream_failed"}).ok
    masked = result(task_states={"a": "failed", "b": "success"})  # teardown-leaf masking
    assert not masked.ok
    assert masked.failed_tasks == ["a"]
    assert "although tasks failed" in masked.failure_report()


def test_summary_is_a_per_task_table():
    text = result(task_states={"a": "success", "b": "upstream_failed"},
                  durations={"a": 1.0}).summary()
    lines = text.splitlines()
    assert lines[0].split() == ["task", "state", "duration"]
    assert lines[2].split() == ["a", "success", "1.00s"]
    assert lines[3].split() == ["b", "upstream_failed", "-"]
    assert lines[-1] == "dag run d: success"


def test_failure_report_names_the_task_error_and_step_stderr():
    r = result(state="failed", task_states={"a": "success", "wait": "failed"},
               errors={"wait": "AirflowException: EMR job failed"},
               step_failures=[{"cluster_id": "j-1", "step_id": "s-1", "name": "job",
                               "reason": "Step failed", "message": "boom",
                               "stderr_tail": "line1\nValueError: boom", "stdout_tail": None}],
               clusters=[{"id": "j-1", "state": "WAITING"}])
    report = r.failure_report()
    assert "failed task: wait" in report
    assert "AirflowException: EMR job failed" in report
    assert "ValueError: boom" in report
    assert "cluster j-1 is still WAITING" in report
    assert r.active_clusters == [{"id": "j-1", "state": "WAITING"}]


def test_result_round_trips_through_json():
    r = result(events=[TaskEvent("a", "success", 1.0).to_dict()])
    assert DagRunResult.from_dict(json.loads(json.dumps(r.to_dict()))) == r


def test_progress_lines_and_recorder():
    seen = []
    rec = Recorder(progress=seen.append)
    rec.running("a", 1)
    rec.log("hello")
    rec.finished("a", "failed", 1, error="ValueError: x")
    assert [e.state for e in seen] == ["running", "failed"]
    assert seen[1].duration is not None
    assert rec.errors == {"a": "ValueError: x"}
    assert rec.logs == {"a": ["hello"]}
    line = str(seen[1])
    assert "a" in line and "failed" in line and "ValueError: x" in line
    # A deferred task resuming does not print a second "running".
    rec.running("b", 1)
    rec.current = None
    rec.running("b", 1)
    assert [e.state for e in seen].count("running") == 2


def test_environment_builders(tmp_path):
    env = airflow_home.airflow_env(tmp_path, tmp_path / "dags")
    assert env["AIRFLOW_HOME"] == str(tmp_path.resolve())
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite:///")
    assert env["AIRFLOW__CORE__DAGS_FOLDER"].endswith("dags")
    conn = json.loads(airflow_home.connection_env("http://127.0.0.1:5000")["AIRFLOW_CONN_AWS_DEFAULT"])
    assert conn["extra"] == {"endpoint_url": "http://127.0.0.1:5000", "region_name": "us-east-1"}
    assert airflow_home.variables_env({"emr_bucket_name": "b", "cfg": {"x": 1}}) == {
        "AIRFLOW_VAR_EMR_BUCKET_NAME": "b", "AIRFLOW_VAR_CFG": '{"x": 1}'}


@pytest.mark.parametrize("bad", ["threads", ""])
def test_run_dag_rejects_unknown_isolation(bad):
    from harness.airflow.dag_runner import run_dag

    with pytest.raises(ValueError, match="isolation"):
        run_dag("x", isolation=bad)

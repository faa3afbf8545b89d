"""Structure of pipeline_emr: tasks, edges, operators, teardown, connections, timeouts."""

from __future__ import annotations

import inspect
from datetime import timedelta

from airflow.providers.amazon.aws.operators.emr import (
    EmrAddStepsOperator,
    EmrCreateJobFlowOperator,
    EmrTerminateJobFlowOperator,
)
from airflow.providers.amazon.aws.sensors.emr import EmrStepSensor
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.task.trigger_rule import TriggerRule

TASKS = {
    "validar_entrada": S3KeySensor,
    "criar_cluster_emr": EmrCreateJobFlowOperator,
    "adicionar_steps_spark": EmrAddStepsOperator,
    "aguardar_step_spark": EmrStepSensor,
    "terminar_cluster_emr": EmrTerminateJobFlowOperator,
    "watcher": None,  # a @task (DecoratedOperator subclass), checked separately
}
EDGES = {
    ("validar_entrada", "criar_cluster_emr"),
    ("criar_cluster_emr", "adicionar_steps_spark"),
    ("adicionar_steps_spark", "aguardar_step_spark"),
    ("aguardar_step_spark", "terminar_cluster_emr"),
    # setup -> teardown: the teardown is tied to the cluster's creation.
    ("criar_cluster_emr", "terminar_cluster_emr"),
    # the watcher is downstream of every other task but the setup (Airflow forbids a
    # non-ALL_SUCCESS rule right after a setup); the setup reaches it through the chain
    *{(t, "watcher") for t in TASKS if t not in ("watcher", "criar_cluster_emr")},
}


def test_exact_task_ids_and_operator_classes(dag):
    classes = {t.task_id: type(t) for t in dag.tasks}
    assert classes.pop("watcher").__name__ == "_PythonDecoratedOperator"
    assert classes == {k: v for k, v in TASKS.items() if k != "watcher"}


def test_the_watcher_is_the_only_leaf_and_decides_the_run_state(dag):
    """A failed step or a failed termination must fail the run even though the teardown ran."""
    watcher = dag.get_task("watcher")
    assert [t.task_id for t in dag.leaves] == ["watcher"]
    assert watcher.trigger_rule == TriggerRule.ONE_FAILED
    assert watcher.retries == 0
    assert not watcher.is_teardown


def test_exact_edges(dag):
    edges = {(up, t.task_id) for t in dag.tasks for up in t.upstream_task_ids}
    assert edges == EDGES


def test_termination_is_the_teardown_of_cluster_creation(dag):
    create, terminate = dag.get_task("criar_cluster_emr"), dag.get_task("terminar_cluster_emr")
    assert create.is_setup and not create.is_teardown
    assert terminate.is_teardown
    # Runs whatever happened after the setup succeeded...
    assert terminate.trigger_rule == TriggerRule.ALL_DONE_SETUP_SUCCESS
    # Not on_failure_fail_dagrun: that would make the teardown the only leaf and hide a
    # failed step; the watcher fails the run instead (for a failed termination too).
    assert terminate.on_failure_fail_dagrun is False
    others = [t for t in dag.tasks if t.task_id not in ("terminar_cluster_emr", "watcher")]
    assert all(t.trigger_rule == TriggerRule.ALL_SUCCESS for t in others)
    assert not any(t.is_teardown for t in others)


AWS_TASKS = [t for t in TASKS if t != "watcher"]


def test_every_task_uses_the_aws_default_connection(dag):
    conns = {t: dag.get_task(t).aws_conn_id for t in AWS_TASKS}
    assert conns == dict.fromkeys(AWS_TASKS, "aws_default")
    # The cluster spec is exactly the templated overrides: no hidden emr_default merge.
    assert dag.get_task("criar_cluster_emr").emr_conn_id is None


def test_input_sensor_is_bounded_and_frees_its_slot(dag):
    sensor = dag.get_task("validar_entrada")
    assert sensor.mode == "reschedule"
    assert sensor.poke_interval == 60
    assert sensor.timeout == 10 * 60
    assert sensor.soft_fail is False  # a missing input fails the run, not skips it


def test_step_sensor_production_cadence_and_bounds(dag):
    sensor = dag.get_task("aguardar_step_spark")
    assert sensor.poke_interval == 60  # the seed's; local runs shorten it from outside
    assert sensor.timeout == 30 * 60
    assert sensor.mode == "poke"
    assert sensor.deferrable is False  # Airflow's default_deferrable, unset here
    # Deferrable mode bounds the wait by max_attempts * poke_interval: the same 30 minutes.
    assert sensor.max_attempts * sensor.poke_interval == sensor.timeout


def test_retries_only_where_a_retry_is_safe(dag):
    retries = {t.task_id: t.retries for t in dag.tasks}
    assert retries == {
        "validar_entrada": 2,
        "criar_cluster_emr": 0,  # would start a second cluster
        "adicionar_steps_spark": 0,  # would queue the job twice
        "aguardar_step_spark": 0,  # a failed step stays failed
        "terminar_cluster_emr": 3,  # idempotent
        "watcher": 0,  # reports failures; retrying cannot change them
    }


def test_non_sensor_tasks_have_an_execution_timeout(dag):
    for task_id in ("criar_cluster_emr", "adicionar_steps_spark", "terminar_cluster_emr"):
        assert dag.get_task(task_id).execution_timeout == timedelta(minutes=10), task_id


def test_api_calls_retry_transient_errors_inside_botocore(dag):
    for task_id in AWS_TASKS:
        config = dag.get_task(task_id).botocore_config
        assert config == {"retries": {"mode": "standard", "max_attempts": 10}}, task_id


def test_step_sensor_deferrable_is_left_to_the_airflow_config_switch(dag):
    """Not pinned in the DAG, so [operators] default_deferrable (AIRFLOW__OPERATORS__
    DEFAULT_DEFERRABLE) decides it, and a harness may set `task.deferrable` on the loaded task."""
    sensor = dag.get_task("aguardar_step_spark")
    assert "deferrable" not in sensor._BaseOperator__init_kwargs
    default = inspect.signature(EmrStepSensor.__init__).parameters["deferrable"].default
    assert sensor.deferrable is default


def test_adding_the_step_never_waits_for_it(dag):
    """Even with default_deferrable on, the step's outcome is reported by the sensor."""
    add = dag.get_task("adicionar_steps_spark")
    assert add._BaseOperator__init_kwargs["deferrable"] is False
    assert add.deferrable is False and add.wait_for_completion is False

"""Scenarios of the production DAG (issue 5), run against every backend `--backend` names (issue
9). Each asserts, at the end, that no cluster is left active. Spark runs are kept few: the failure
scenarios stop before Spark or fail in the job's first lines. Fault scenarios need a backend that
can inject faults (the `faults` fixture skips elsewhere)."""

from __future__ import annotations

import pytest
from chispa import assert_df_equality

from harness.airflow.state_changes import CHANGE_WAIT_MAX, runtime_of

from .conftest import (
    COLUMNS,
    EXPECTED_ROWS,
    LAYOUT,
    MISSING_INPUT_TIMEOUT,
    assert_nothing_running,
    output_rows,
)

pytestmark = pytest.mark.spark

TASKS = ["validar_entrada", "criar_cluster_emr", "adicionar_steps_spark", "aguardar_step_spark",
         "terminar_cluster_emr"]
#: The DAG's run-state watcher fails whenever another task failed; it is not the cause.
WATCHER = "watcher"


def causes(result):
    """The failed tasks, without the watcher that only reports them."""
    return [t for t in result.failed_tasks if t != WATCHER]


def _output_df(spark, aws, tmp_path):
    """The job's result CSV, downloaded from the backend's S3 and read with the output schema."""
    from pyspark.sql.types import DecimalType, LongType, StringType, StructField, StructType

    schema = StructType([
        StructField("vendedor", StringType()),
        StructField("total_quantidade", LongType()),
        StructField("total_receita", DecimalType(18, 2)),
        StructField("total_transacoes", LongType()),
        StructField("ticket_medio", DecimalType(18, 2)),
    ])
    header, rows = output_rows(aws)
    assert header == COLUMNS
    path = tmp_path / "result.csv"
    path.write_text("\n".join([",".join(header)] + [",".join(r) for r in rows]) + "\n",
                    encoding="utf-8")
    actual = spark.read.option("header", "true").schema(schema).csv(str(path))
    expected = spark.createDataFrame(EXPECTED_ROWS, schema)
    return actual, expected


@pytest.mark.cold_spark  # the one scenario that proves the cold spark-submit path end to end
def test_happy_path_on_cold_spark_submit(run_pipeline, pipeline_aws, spark, tmp_path):
    events = []
    result = run_pipeline(progress=events.append)

    assert result.ok, result.failure_report()
    assert {t: result.task_states[t] for t in TASKS} == dict.fromkeys(TASKS, "success")
    assert set(result.task_states.values()) <= {"success", "skipped"}  # the watcher skips
    # XComs carry the cluster id and the step id between tasks.
    cluster_id = result.xcoms["criar_cluster_emr"]
    assert cluster_id.startswith("j-")
    (step_id,) = result.xcoms["adicionar_steps_spark"]
    assert step_id.startswith("s-")
    assert [c["id"] for c in result.clusters] == [cluster_id]
    step = pipeline_aws.client("emr").describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]
    assert step["Status"]["State"] == "COMPLETED"
    # Progress came per task, as it happened: running then success, in DAG order.
    assert [(e.task_id, e.state) for e in events
            if e.task_id in TASKS and e.state != "waiting"] == [
        (t, s) for t in TASKS for s in ("running", "success")
    ]

    if runtime_of(pipeline_aws) is not None:
        # The emulator told the step sensor of each EMR state change: it poked (for real) once
        # per change or per CHANGE_WAIT_MAX s, not every 0.2 s (a load can only make it fewer).
        assert any(o.startswith("aguardar_step_spark.poke:") and "state change" in o
                   for o in result.overrides), result.overrides
        pokes = result.logs["aguardar_step_spark"].count("Poking step")
        bound = 5 + result.durations["aguardar_step_spark"] / CHANGE_WAIT_MAX
        assert 1 <= pokes <= bound, (pokes, bound)

    actual, expected = _output_df(spark, pipeline_aws, tmp_path)
    assert_df_equality(actual, expected)  # row order too: by total_receita descending
    assert output_rows(pipeline_aws, LAYOUT.rejects_prefix)[1] == []  # no rejects
    # The run's view of the emulated S3: inputs, outputs and the step's logs at EMR's layout.
    keys = result.s3_keys[LAYOUT.bucket]
    assert LAYOUT.input_key in keys
    assert any(k.startswith(LAYOUT.output_prefix) and k.endswith(".csv") for k in keys)
    assert f"logs/{cluster_id}/steps/{step_id}/stderr.gz" in keys
    if pipeline_aws.name == "localstack" and pipeline_aws.emulator is not None:
        # LocalStack + the harness's EMR beside it: no S3 object went to moto's own S3.
        assert pipeline_aws.emulator.client("s3").list_buckets()["Buckets"] == []

    assert_nothing_running(pipeline_aws, result)
    assert result.clusters[0]["state"] == "TERMINATED"


# The subprocess engine (used when Airflow is already imported with another configuration) is
# exercised here, on the scenario that needs no Spark. "auto" runs in-process unless another
# test of this session imported Airflow with its own configuration first.
@pytest.mark.parametrize("isolation", ["auto", "subprocess"])
def test_input_missing_fails_before_any_cluster(run_dag_on, backend, isolation):
    import sys

    from harness.airflow import in_process as runner
    from tests.lesson import provision

    expected = isolation
    if isolation == "auto":
        ours = runner._HOME is not None or "airflow" not in sys.modules
        expected = "in-process" if ours else "subprocess"

    provision(backend, LAYOUT, data=None, script=None)  # bucket and roles, no input
    events = []
    result = run_dag_on(backend, variables=LAYOUT.variables(),
                        sensor_timeout={"validar_entrada": MISSING_INPUT_TIMEOUT},
                        isolation=isolation, progress=events.append)

    assert not result.ok
    assert result.state == "failed"
    assert causes(result) == ["validar_entrada"]
    assert "AirflowSensorTimeout" in result.errors["validar_entrada"]
    assert result.task_states["criar_cluster_emr"] == "upstream_failed"
    assert result.clusters == []  # never created
    assert backend.client("emr").list_clusters()["Clusters"] == []
    assert result.isolation == expected
    assert ("validar_entrada", "failed") in [(e.task_id, e.state) for e in events]
    # The wait was visible while it lasted (through the worker's event pipe too) and the
    # report names what was waited for.
    input_url = f"s3://{LAYOUT.bucket}/{LAYOUT.input_key}"
    waiting = [str(e) for e in events if e.task_id == "validar_entrada" and e.state == "waiting"]
    assert waiting and f"waiting for {input_url} (not there)" in waiting[0], waiting
    assert f"was waiting for: {input_url} (not there)" in result.failure_report()
    assert_nothing_running(backend, result)


def test_step_fails_run_fails_and_cluster_is_terminated(run_pipeline, pipeline_aws):
    # A broken job script: the step's Python error must surface in the sensor's log.
    pipeline_aws.client("s3").put_object(
        Bucket=LAYOUT.bucket, Key=LAYOUT.script_key,
        Body=b"raise RuntimeError('coluna vendedor ausente')\n",
    )
    result = run_pipeline()

    assert not result.ok
    assert result.state == "failed", (
        "Airflow marked the run successful although the step failed:\n" + result.failure_report()
    )
    assert causes(result) == ["aguardar_step_spark"]
    assert result.task_states["terminar_cluster_emr"] == "success"  # teardown still ran
    sensor_log = result.log("aguardar_step_spark")
    assert "EMR job failed" in sensor_log
    assert "RuntimeError: coluna vendedor ausente" in sensor_log  # the step's error line
    (failure,) = result.step_failures
    # The step's own traceback is in its logs (spark-submit sends the Python driver's to stdout;
    # on the warm Spark Connect server it is the script's stderr).
    assert "RuntimeError: coluna vendedor ausente" in (
        (failure["stdout_tail"] or "") + (failure["stderr_tail"] or ""))
    assert "coluna vendedor ausente" in result.failure_report()
    assert_nothing_running(pipeline_aws, result)


@pytest.mark.parametrize(
    ("arm", "variables"),
    [
        pytest.param(lambda f: f.fail_bootstrap(), {}, id="bootstrap-failure"),
        pytest.param(lambda f: f.spot_capacity_unavailable(), {"emr_use_spot": "true"},
                     id="spot-capacity-unavailable"),
    ],
)
def test_cluster_never_comes_up(run_pipeline, pipeline_aws, faults, arm, variables):
    arm(faults)
    result = run_pipeline(variables=variables)

    assert not result.ok
    assert result.state == "failed", result.failure_report()
    assert causes(result), result.summary()
    assert set(causes(result)) <= {"adicionar_steps_spark", "aguardar_step_spark"}
    (cluster,) = result.clusters
    assert cluster["state"] == "TERMINATED_WITH_ERRORS"
    assert cluster["reason"] in ("BOOTSTRAP_FAILURE", "INSTANCE_FAILURE")
    assert_nothing_running(pipeline_aws, result)


def test_describe_step_throttling_is_absorbed(run_pipeline, pipeline_aws, faults):
    result = run_pipeline(faults=lambda f: f.throttle("DescribeStep", times=3))

    assert result.ok, result.failure_report()
    assert faults.throttled.get("DescribeStep") == 3
    assert output_rows(pipeline_aws)[1] != []
    assert_nothing_running(pipeline_aws, result)


def test_rerun_gives_the_same_output_without_duplicates(run_pipeline, pipeline_aws):
    first = run_pipeline()
    assert first.ok, first.failure_report()
    header, rows_first = output_rows(pipeline_aws)

    second = run_pipeline()
    assert second.ok, second.failure_report()
    _, rows_second = output_rows(pipeline_aws)

    assert rows_second == rows_first
    assert len(rows_second) == len({r[0] for r in rows_second}) == len(EXPECTED_ROWS)
    assert second.xcoms["criar_cluster_emr"] != first.xcoms["criar_cluster_emr"]  # new cluster
    assert_nothing_running(pipeline_aws, second)


def test_deferrable_step_sensor(run_pipeline, pipeline_aws):
    result = run_pipeline(deferrable=True)

    assert result.ok, result.failure_report()
    assert "aguardar_step_spark.deferrable: False -> True" in result.overrides
    assert "trigger" in result.log("aguardar_step_spark").lower()  # it really deferred
    assert output_rows(pipeline_aws)[1] != []
    assert_nothing_running(pipeline_aws, result)

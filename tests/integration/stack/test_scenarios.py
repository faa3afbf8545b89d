"""pipeline_emr under the real scheduler (LocalExecutor), through the stack's REST API: the happy
path, a missing input, a failed Spark step (fault armed in the running emulator). After each run,
no EMR cluster is left active.
"""

from __future__ import annotations

import time

import pytest

from tests.lesson import PipelineLayout

from .conftest import ROOT, RunningStack

pytestmark = pytest.mark.stack

DAG = "pipeline_emr"
RUN_TIMEOUT_S = 600
LAYOUT = PipelineLayout()


def _run(stack: RunningStack) -> tuple[str, dict, dict[str, str | None], float]:
    started = time.monotonic()
    run_id = stack.api.trigger(DAG)
    run = stack.api.wait_run(DAG, run_id, timeout=RUN_TIMEOUT_S)
    return run_id, run, stack.api.task_states(DAG, run_id), time.monotonic() - started


ACTIVE = ["STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING", "TERMINATING"]


def _no_active_cluster(stack: RunningStack) -> None:
    # Through the EMR API, as a user would check: valid for any backend.
    clusters = stack.backend.client("emr").list_clusters(ClusterStates=ACTIVE)["Clusters"]
    assert clusters == [], clusters


def test_happy_path(stack: RunningStack) -> None:
    run_id, run, states, duration = _run(stack)
    assert run["state"] == "success", states
    assert states == {
        "validar_entrada": "success", "criar_cluster_emr": "success",
        "adicionar_steps_spark": "success", "aguardar_step_spark": "success",
        "terminar_cluster_emr": "success", "watcher": "skipped",
    }
    s3 = stack.backend.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(
        Bucket=LAYOUT.bucket, Prefix=LAYOUT.output_prefix).get("Contents", [])]
    assert any(k.endswith(".csv") for k in keys), keys
    _no_active_cluster(stack)
    print(f"\nhappy path under the scheduler: {duration:.1f} s (run {run_id})")


def test_missing_input_fails_at_the_sensor(stack: RunningStack) -> None:
    s3 = stack.backend.client("s3")
    s3.delete_object(Bucket=LAYOUT.bucket, Key=LAYOUT.input_key)
    try:
        _, run, states, _ = _run(stack)
    finally:
        s3.upload_file(str(ROOT / "data" / "dados_vendas.csv"), LAYOUT.bucket, LAYOUT.input_key)
    assert run["state"] == "failed", states
    assert states["validar_entrada"] == "failed"
    assert states["criar_cluster_emr"] == "upstream_failed"
    # No cluster was ever created, so the teardown had nothing to do.
    assert states["terminar_cluster_emr"] in ("upstream_failed", "skipped"), states
    _no_active_cluster(stack)


def test_failed_step_fails_the_run_and_still_terminates(stack: RunningStack) -> None:
    stack.backend.faults.fail_step("processar-vendas-spark", message="injected by the stack test")
    try:
        run_id, run, states, _ = _run(stack)
    finally:
        stack.backend.faults.clear()
    assert run["state"] == "failed", states
    assert states["aguardar_step_spark"] == "failed"
    assert states["terminar_cluster_emr"] == "success"  # the teardown still ran
    assert states["watcher"] == "failed"
    log = stack.api.task_log(DAG, run_id, "aguardar_step_spark")
    assert "FAILED" in log, log[-2000:]
    _no_active_cluster(stack)

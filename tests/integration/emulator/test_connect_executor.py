"""The warm-Spark executor: the seed step on a Spark Connect server, same result as spark-submit."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from harness.emr.connect import ConnectExecutor
from harness.emr.states import StepState as S

from .conftest import run_cluster, step

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def harness_step_executor(spark_connect_server):
    return ConnectExecutor(server=spark_connect_server)


def test_seed_step_runs_on_the_warm_server(emulated_aws, emr, s3):
    s3.create_bucket(Bucket="vendas")
    s3.upload_file(str(ROOT / "spark" / "processar_vendas.py"), "vendas", "scripts/job.py")
    s3.put_object(Bucket="vendas", Key="input/v.csv", Body=(
        "data,produto,quantidade,preco_unitario,vendedor\n"
        "2025-09-01,Mouse,2,50.00,João Santos\n"
        "2025-09-01,Mouse,x,50.00,Ana\n"
    ).encode())
    cid = run_cluster(emr, LogUri="s3://vendas/logs/", steps=[step(
        "job", "spark-submit", "--deploy-mode", "cluster", "--conf", "spark.executor.memory=4g",
        "s3://vendas/scripts/job.py", "s3://vendas/input/v.csv", "s3://vendas/out/",
    )])  # fmt: skip
    (sid,) = [s["Id"] for s in emr.list_steps(ClusterId=cid)["Steps"]]
    assert emulated_aws.runtime.wait_step(cid, sid, timeout=300).state is S.COMPLETED

    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="vendas")["Contents"]]
    (part,) = [k for k in keys if k.startswith("out/part-") and k.endswith(".csv")]
    body = s3.get_object(Bucket="vendas", Key=part)["Body"].read().decode()
    assert list(csv.reader(io.StringIO(body)))[1] == ["João Santos", "2", "100.00", "1", "100.00"]
    assert any(k.startswith("out_rejeitados/part-") for k in keys)  # sibling output staged back

    stdout = (emulated_aws.step_dir(cid, sid) / "stdout").read_text()
    controller = (emulated_aws.step_dir(cid, sid) / "controller").read_text()
    # How the step ran is the controller log's business; stdout is the program's own output.
    assert "running on the warm Spark Connect server sc://127.0.0.1:" in controller
    assert "static settings not applied to the shared server: spark.executor.memory" in controller
    assert "rows_in=2 rows_ok=1 rows_rejected=1" in stdout and "Spark Connect" not in stdout


def test_a_non_spark_step_falls_back_to_a_subprocess(emulated_aws, emr):
    cid = run_cluster(emr, steps=[step("plain", "bash", "-c", "echo plain-step")])
    (sid,) = [s["Id"] for s in emr.list_steps(ClusterId=cid)["Steps"]]
    assert emulated_aws.runtime.wait_step(cid, sid, timeout=60).state is S.COMPLETED
    stdout = (emulated_aws.step_dir(cid, sid) / "stdout").read_text()
    assert stdout == "plain-step\n"  # a plain command's output, untouched

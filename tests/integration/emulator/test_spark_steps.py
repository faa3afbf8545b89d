"""Real spark-submit steps: the seed job end to end (on the session's warm Spark Connect server,
as the other scenarios), and a failing script as a cold `spark-submit` (its own JVM), whose
Python error must reach FailureDetails from spark-submit's own output. The seed job's cold path
end to end is `test_pipeline_emr.py::test_happy_path_on_cold_spark_submit`."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from harness.emr.states import StepState as S

from .conftest import run_cluster, step

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[3]
SEED_CONFIGURATIONS = [
    {
        "Classification": "spark-env",
        "Configurations": [
            {"Classification": "export", "Properties": {"PYSPARK_PYTHON": "/usr/bin/python3"}}
        ],
    }
]
BAD_JOB = """\
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
df = spark.createDataFrame([(1, "a")], ["id", "nome"])
if "valor" not in df.columns:
    raise ValueError("coluna obrigatoria ausente: valor")
"""


def test_seed_spark_step_runs_locally(emulated_aws, emr, s3):
    bucket = "meu-bucket-emr"
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(
        str(ROOT / "spark" / "processar_vendas.py"), bucket, "scripts/processar_vendas.py"
    )
    s3.upload_file(str(ROOT / "data" / "dados_vendas.csv"), bucket, "input/dados_vendas.csv")
    seed_step = step(
        "processar-vendas-spark",
        "spark-submit", "--deploy-mode", "cluster",
        f"s3://{bucket}/scripts/processar_vendas.py",
        f"s3://{bucket}/input/dados_vendas.csv",
        f"s3://{bucket}/output/vendas_processadas/",
        action="TERMINATE_CLUSTER",
    )  # fmt: skip
    cid = run_cluster(emr, Configurations=SEED_CONFIGURATIONS, LogUri=f"s3://{bucket}/logs/")
    (sid,) = emr.add_job_flow_steps(JobFlowId=cid, Steps=[seed_step])["StepIds"]
    emr.get_waiter("step_complete").wait(
        ClusterId=cid, StepId=sid, WaiterConfig={"Delay": 0.2, "MaxAttempts": 1500}
    )
    parts = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=bucket, Prefix="output/vendas_processadas/")["Contents"]
        if o["Key"].endswith(".csv")
    ]
    assert len(parts) == 1, parts
    body = s3.get_object(Bucket=bucket, Key=parts[0])["Body"].read().decode()
    rows = {r["vendedor"]: r for r in csv.DictReader(io.StringIO(body))}
    assert rows["João Santos"]["total_quantidade"] == "7"
    assert float(rows["João Santos"]["total_receita"]) == 10450.0
    assert float(rows["Ana Silva"]["total_receita"]) == 7300.0
    assert not any(".crc" in o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    logs = s3.list_objects_v2(Bucket=bucket, Prefix=f"logs/{cid}/steps/{sid}/")["Contents"]
    assert len(logs) == 3
    emr.terminate_job_flows(JobFlowIds=[cid])


@pytest.mark.cold_spark  # the error's path out of a cold spark-submit's driver
def test_failing_pyspark_script_on_cold_spark_submit_reports_the_python_error(
        emulated_aws, emr, s3):  # fmt: skip
    s3.create_bucket(Bucket="jobs")
    s3.put_object(Bucket="jobs", Key="bad_job.py", Body=BAD_JOB.encode())
    cid = run_cluster(emr, steps=[step("bad", "spark-submit", "--master", "yarn",
                                       "s3://jobs/bad_job.py", action="TERMINATE_CLUSTER")],
                      LogUri="s3://jobs/logs/")  # fmt: skip
    (sid,) = [s["Id"] for s in emr.list_steps(ClusterId=cid)["Steps"]]
    assert emulated_aws.runtime.wait_step(cid, sid, timeout=120).state is S.FAILED
    failure = emr.describe_step(ClusterId=cid, StepId=sid)["Step"]["Status"]["FailureDetails"]
    assert failure["Message"] == "ValueError: coluna obrigatoria ausente: valor"
    assert failure["LogFile"] == f"s3://jobs/logs/{cid}/steps/{sid}/stderr.gz"
    assert "ValueError" in emulated_aws.step_stderr_tail(cid, sid)
    run = emulated_aws.runtime.wait_cluster(cid, timeout=30)
    assert run.state.value == "TERMINATED_WITH_ERRORS" and run.reason.value == "STEP_FAILURE"

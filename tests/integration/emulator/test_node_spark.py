"""Spark's node commands in real steps (one cold JVM each): `run-example SparkPi 10` runs the
Python SparkPi of the local pyspark, and a script-runner script's
`/usr/lib/spark/bin/spark-submit` with s3:// arguments runs the local Spark with the cluster's
Configurations and its output reaches the emulated S3."""

from __future__ import annotations

import re

import pytest

from harness.emr.states import StepState as S

from .conftest import run_cluster, step

# run-example needs a SparkContext: it never runs on the warm Spark Connect server anyway.
pytestmark = [pytest.mark.spark, pytest.mark.cold_spark]

BUCKET = "node-spark"
CONFIGURATIONS = [
    {"Classification": "spark-defaults", "Properties": {"spark.sql.shuffle.partitions": "3"}}
]
JOB = """\
import sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
print("shuffle partitions:", spark.conf.get("spark.sql.shuffle.partitions"))
print("master:", spark.sparkContext.master)
df = spark.read.option("header", "true").csv(sys.argv[1])
out = df.groupBy("k").count().coalesce(1)
out.write.mode("overwrite").option("header", "true").csv(sys.argv[2])
"""
SCRIPT = """\
#!/bin/bash
set -euo pipefail
echo "script starts with $1"
/usr/lib/spark/bin/spark-submit --master yarn --deploy-mode cluster \\
    s3://node-spark/jobs/count.py "$1" s3://node-spark/out/counts/
hadoop fs -test -e s3://node-spark/out/counts/_SUCCESS
"""


def test_run_example_and_spark_submit_inside_a_script(emulated_aws, emr, s3):
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="in/data.csv", Body=b"k,v\na,1\nb,2\na,3\n")
    s3.put_object(Bucket=BUCKET, Key="jobs/count.py", Body=JOB.encode())
    s3.put_object(Bucket=BUCKET, Key="scripts/run.sh", Body=SCRIPT.encode())
    runner = "s3://us-east-1.elasticmapreduce/libs/script-runner/script-runner.jar"
    cid = run_cluster(emr, Configurations=CONFIGURATIONS, steps=[
        step("pi", "/usr/lib/spark/bin/run-example", "SparkPi", "10"),
        # The script gets the URI as EMR passes it; its spark-submit stages it itself.
        step("script", f"s3://{BUCKET}/scripts/run.sh", "s3://node-spark/in/data.csv",
             jar=runner),
    ])  # fmt: skip
    ids = [s["Id"] for s in reversed(emr.list_steps(ClusterId=cid)["Steps"])]
    runs = [emulated_aws.runtime.wait_step(cid, sid, timeout=600) for sid in ids]
    dirs = [emulated_aws.runtime.step_dir(cid, r.id) for r in runs]
    for run, d in zip(runs, dirs, strict=True):
        assert run.state is S.COMPLETED, (d / "stderr").read_text()[-3000:]

    pi_out = (dirs[0] / "stdout").read_text()
    match = re.search(r"Pi is roughly (\d+\.\d+)", pi_out)
    assert match and abs(float(match.group(1)) - 3.1416) < 0.1, pi_out
    assert "pi.py" in (dirs[0] / "controller").read_text()

    out = (dirs[1] / "stdout").read_text()
    assert "shuffle partitions: 3" in out  # the cluster's spark-defaults reached the shim
    assert "master: local[2]" in out  # --master yarn / --deploy-mode cluster dropped
    parts = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="out/counts/")["Contents"]
             if o["Key"].endswith(".csv")]  # fmt: skip
    assert len(parts) == 1
    body = s3.get_object(Bucket=BUCKET, Key=parts[0])["Body"].read().decode()
    assert sorted(body.splitlines()[1:]) == ["a,2", "b,1"]
    emr.terminate_job_flows(JobFlowIds=[cid])

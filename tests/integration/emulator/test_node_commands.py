"""The commands of an EMR node inside real steps: hadoop fs / hdfs dfs / s3-dist-cp on the
emulated S3, aws / python3 / bash, EMR's absolute paths inside scripts, and the unsupported
commands failing with what to do instead. No JVM here (see test_node_spark.py)."""

from __future__ import annotations

import pytest

from harness.emr.states import StepState as S

from .conftest import run_cluster, step

BUCKET = "node-cmds"

NODE_SCRIPT = """\
#!/bin/bash
# What a data engineer's EMR script does: bare names and EMR's absolute paths.
set -euo pipefail
aws s3 cp s3://node-cmds/in/a.csv /tmp/$$.a.csv --quiet
/usr/bin/aws s3 cp /tmp/$$.a.csv s3://node-cmds/out/from-aws.csv --quiet
rm -f /tmp/$$.a.csv
/usr/bin/hadoop fs -mkdir -p s3://node-cmds/out/made
hdfs dfs -cp s3://node-cmds/in/b.csv s3://node-cmds/out/made/
/usr/lib/hadoop/bin/hadoop fs -cat s3://node-cmds/in/*.csv > "$1"
hadoop fs -put "$1" s3://node-cmds/out/cat.txt
if hadoop fs -test -e s3://node-cmds/missing; then exit 9; fi
s3-dist-cp --src s3://node-cmds/in/ --dest s3://node-cmds/out/dist/ --srcPattern '.*b\\.csv'
python3 - <<'PY'
import boto3  # plain boto3: AWS_ENDPOINT_URL and the dummy keys come from the step
keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="node-cmds",
        Prefix="out/")["Contents"]]
print("python sees", sorted(keys))
PY
/usr/bin/python3 -c 'import sys; print("python3 is", sys.executable)'
"""


def _wait(emulated_aws, emr, cid, timeout=120):
    ids = [s["Id"] for s in reversed(emr.list_steps(ClusterId=cid)["Steps"])]
    return [emulated_aws.runtime.wait_step(cid, sid, timeout=timeout) for sid in ids]


def _failure(emr, cid, sid):
    return emr.describe_step(ClusterId=cid, StepId=sid)["Step"]["Status"]["FailureDetails"]


def _keys(s3, prefix):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"])


@pytest.fixture
def bucket(s3):
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="in/a.csv", Body=b"a,1\n")
    s3.put_object(Bucket=BUCKET, Key="in/b.csv", Body=b"b,2\n")
    s3.put_object(Bucket=BUCKET, Key="scripts/node.sh", Body=NODE_SCRIPT.encode())
    return BUCKET


def test_hadoop_fs_and_s3_dist_cp_steps_work_on_the_emulated_s3(emulated_aws, emr, s3, bucket):
    cid = run_cluster(emr, steps=[
        step("mkdir", "hadoop", "fs", "-mkdir", "-p", f"s3://{bucket}/copy"),
        step("cp", "/usr/bin/hdfs", "dfs", "-cp", f"s3://{bucket}/in/*.csv", f"s3://{bucket}/copy/"),
        step("ls", "hadoop", "fs", "-ls", f"s3://{bucket}/copy/"),
        step("dist", "s3-dist-cp", "--src", f"s3://{bucket}/in/", "--dest",
             f"s3://{bucket}/grouped/", "--groupBy", r".*/in/(\w)\.csv"),
        step("test-missing", "hadoop", "fs", "-test", "-e", f"s3://{bucket}/missing"),
        step("inline", "bash", "-c", f"hadoop fs -rm s3://{bucket}/copy/a.csv && "
                                     f"hadoop fs -test -e s3://{bucket}/copy/a.csv || echo gone"),
    ])  # fmt: skip
    runs = _wait(emulated_aws, emr, cid)
    assert [r.state for r in runs] == [S.COMPLETED] * 4 + [S.FAILED, S.COMPLETED]
    assert runs[4].exit_code == 1  # `-test -e` on a missing path exits 1, as Hadoop's
    assert _keys(s3, "copy/") == ["copy/", "copy/b.csv"]  # the folder marker of -mkdir
    assert _keys(s3, "grouped/") == ["grouped/a", "grouped/b"]
    ls_out = (emulated_aws.runtime.step_dir(cid, runs[2].id) / "stdout").read_text()
    assert ls_out.splitlines()[0] == "Found 2 items" and "s3://node-cmds/copy/b.csv" in ls_out
    inline_out = (emulated_aws.runtime.step_dir(cid, runs[5].id) / "stdout").read_text()
    assert inline_out == "Deleted s3://node-cmds/copy/a.csv\ngone\n"
    emr.terminate_job_flows(JobFlowIds=[cid])


def test_a_script_reaches_the_node_commands_by_name_and_absolute_path(
    emulated_aws, emr, s3, bucket
):
    runner = "s3://us-east-1.elasticmapreduce/libs/script-runner/script-runner.jar"
    cid = run_cluster(emr, steps=[
        step("script", f"s3://{bucket}/scripts/node.sh", "/tmp/emr-node-cat.txt", jar=runner),
    ])  # fmt: skip
    (run,) = _wait(emulated_aws, emr, cid)
    step_dir = emulated_aws.runtime.step_dir(cid, run.id)
    assert run.state is S.COMPLETED, (step_dir / "stderr").read_text()
    assert s3.get_object(Bucket=bucket, Key="out/cat.txt")["Body"].read() == b"a,1\nb,2\n"
    assert s3.get_object(Bucket=bucket, Key="out/from-aws.csv")["Body"].read() == b"a,1\n"
    assert _keys(s3, "out/") == ["out/cat.txt", "out/dist/b.csv", "out/from-aws.csv",
                                 "out/made/", "out/made/b.csv"]  # fmt: skip
    out = (step_dir / "stdout").read_text()
    assert "python sees ['out/cat.txt', 'out/dist/b.csv'" in out
    import sys

    assert f"python3 is {sys.executable}" in out
    emr.terminate_job_flows(JobFlowIds=[cid])


@pytest.mark.parametrize("args,jar,message", [
    (["hive", "-f", "s3://node-cmds/q.hql"], "command-runner.jar",
     "UnsupportedStepError: `hive` is not emulated (this emulator runs steps without a Hadoop "
     "cluster): run the HiveQL with `spark-sql -e '...'` or `spark-sql -f s3://.../query.sql` "
     "(Spark SQL reads HiveQL), or as a PySpark step"),
    (["pig", "-f", "x.pig"], "command-runner.jar",
     "UnsupportedStepError: `pig` is not emulated (this emulator runs steps without a Hadoop "
     "cluster): rewrite the Pig script as a PySpark step (`spark-submit s3://.../job.py`)"),
    (["yarn", "application", "-list"], "command-runner.jar",
     "UnsupportedStepError: `yarn` is not emulated (this emulator runs steps without a Hadoop "
     "cluster): steps run in Spark's local mode, there is no YARN: leave `yarn` commands out of "
     "the step (drop `--master yarn`, it is ignored anyway)"),
    (["hadoop", "jar", "s3://node-cmds/wc.jar", "WordCount"], "command-runner.jar",
     "UnsupportedStepError: `hadoop jar` is not emulated: `hadoop jar` runs a JVM main class on "
     "YARN, which is not emulated: if it is a Spark application run it as `spark-submit --class "
     "<MainClass> s3://.../app.jar`, otherwise port it to a PySpark step"),
    (["s3://node-cmds/in"], "s3://node-cmds/jars/custom.jar",
     "UnsupportedStepError: step JAR 's3://node-cmds/jars/custom.jar' cannot run locally: the "
     "emulator runs command-runner.jar steps (spark-submit, bash, aws, python) and "
     "script-runner.jar. Wrap custom JARs in a `spark-submit --class ...` command-runner step."),
])  # fmt: skip
def test_unsupported_commands_fail_the_step_saying_what_to_do(emulated_aws, emr, bucket, args,
                                                              jar, message):  # fmt: skip
    cid = run_cluster(emr, steps=[step("unsupported", *args, jar=jar)])
    (run,) = _wait(emulated_aws, emr, cid, timeout=30)
    assert run.state is S.FAILED
    assert _failure(emr, cid, run.id)["Message"] == message
    emr.terminate_job_flows(JobFlowIds=[cid])


def test_unsupported_command_inside_a_script_fails_the_step_with_its_message(
    emulated_aws, emr, bucket
):
    cid = run_cluster(emr, steps=[
        step("hive-in-bash", "bash", "-c",
             "set -e; echo before; /usr/lib/hive/bin/hive -e 'select 1'"),
        step("unknown-example", "run-example", "SparkHdfsLR", "s3://node-cmds/in/"),
    ])  # fmt: skip
    hive, example = _wait(emulated_aws, emr, cid, timeout=60)
    assert hive.state is S.FAILED and hive.exit_code == 1
    assert _failure(emr, cid, hive.id)["Message"] == (
        "UnsupportedStepError: `hive` is not emulated (this emulator runs steps without a Hadoop "
        "cluster): run the HiveQL with `spark-sql -e '...'` or `spark-sql -f s3://.../query.sql` "
        "(Spark SQL reads HiveQL), or as a PySpark step"
    )
    pytest.importorskip("pyspark", reason="run-example's examples come with pyspark")
    message = _failure(emr, cid, example.id)["Message"]
    assert message.startswith(
        "UnsupportedStepError: run-example SparkHdfsLR: no Python version of this example ships "
        "with the local pyspark (the wheel has Spark's Python examples, not the examples JAR). "
        "Available: als, avro_inputformat, kmeans, logistic_regression, pagerank, "
        "parquet_inputformat, pi, sort, status_api_demo, transitive_closure, wordcount; and "
        "under ml/, mllib/, sql/, streaming/"
    ), message
    emr.terminate_job_flows(JobFlowIds=[cid])


def test_node_commands_run_under_the_offline_guard(emulated_aws, emr, bucket):
    # A script pointing the SDK at real AWS: hadoop fs (a Python child of the step) refuses.
    cid = run_cluster(emr, steps=[
        step("off-loopback", "bash", "-c",
             f"AWS_ENDPOINT_URL=https://s3.amazonaws.com hadoop fs -ls s3://{bucket}/"),
    ])  # fmt: skip
    (run,) = _wait(emulated_aws, emr, cid, timeout=60)
    assert run.state is S.FAILED
    assert _failure(emr, cid, run.id)["Message"].startswith(
        "harness.guard.OffLoopbackCallError: offline guard: refused"
    ), _failure(emr, cid, run.id)
    emr.terminate_job_flows(JobFlowIds=[cid])

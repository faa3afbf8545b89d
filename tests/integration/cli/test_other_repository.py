"""The harness in another repository: its own pyproject `[tool.harness]`, its own DAG (not the
lesson's), `python -m harness run` from that repository's folder, and its own pytest session
using the plugin with a conftest that overrides `spark`.

The harness comes from this environment's installation (the `pytest11` entry point and the
`harness` package), not from this checkout's folder: the subprocesses run with cwd = the
throw-away repository and no PYTHONPATH.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import datetime
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

PYPROJECT = textwrap.dedent('''
    [project]
    name = "other-repo"
    version = "0.0.1"

    [tool.harness]
    dags_folder = "flows"
    dag_id = "nightly_counts"
    emr_default_roles = true
    result = ["s3://other-data/counts/", "s3://other-data/steps/"]

    [tool.harness.uploads]
    "payload" = "s3://other-data/payload/"
    "node/bootstrap.sh" = "s3://other-data/node/bootstrap.sh"

    [tool.harness.variables]
    data_bucket = "other-data"
''')

DAG = textwrap.dedent('''
    """Not the lesson's DAG: plain boto3 in tasks, an EMR cluster with one `bash -c` step."""
    import gzip
    from datetime import datetime

    import boto3
    from airflow.sdk import DAG, Connection, Variable, task

    #: A step that passes only while the `pi` step runs beside it (so only with
    #: StepConcurrencyLevel 2), after the bootstrap action wrote its marker.
    BESIDE = """
    import sys, time, boto3
    cluster, bucket = sys.argv[1:3]
    emr, s3 = boto3.client("emr"), boto3.client("s3")
    s3.head_object(Bucket=bucket, Key="bootstrap/ready")  # the bootstrap action ran first
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        steps = emr.list_steps(ClusterId=cluster)["Steps"]
        state = {s["Name"]: s["Status"]["State"] for s in steps}["pi"]
        if state == "RUNNING":
            sys.exit(print("pi is running beside this step"))
        if state in ("COMPLETED", "FAILED", "CANCELLED"):
            sys.exit("pi ended before this step ran: the steps did not run at once")
        time.sleep(0.2)
    sys.exit("pi never started")
    """

    with DAG("nightly_counts", start_date=datetime(2024, 1, 1), schedule=None, catchup=False):

        @task(retries=0)
        def count_payload():
            s3 = boto3.client("s3")  # no endpoint, region or keys: the environment's
            bucket = Variable.get("data_bucket")
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket,
                                                         Prefix="payload/")["Contents"]]
            api = Connection.get("inventory_api")  # from `--conn`, for this run only
            s3.put_object(Bucket=bucket, Key="counts/part-00000.csv",
                          Body=("files,first,api_host\\n%d,%s,%s\\n"
                                % (len(keys), sorted(keys)[0], api.host)).encode())
            return len(keys)

        @task(retries=0)
        def run_cluster(n):
            """A cluster whose bootstrap action prepares the node, and two steps at once:
            `run-example SparkPi` and a Python step that must see SparkPi running beside it."""
            emr, s3 = boto3.client("emr"), boto3.client("s3")
            bucket = Variable.get("data_bucket")
            cluster = emr.run_job_flow(
                Name="nightly-counts", ReleaseLabel="emr-6.15.0",
                LogUri="s3://%s/logs/" % bucket, StepConcurrencyLevel=2,
                Instances={"InstanceCount": 1, "MasterInstanceType": "m5.xlarge",
                           "KeepJobFlowAliveWhenNoSteps": True},
                BootstrapActions=[{"Name": "prepare node", "ScriptBootstrapAction": {
                    "Path": "s3://%s/node/bootstrap.sh" % bucket,
                    "Args": ["s3://%s/bootstrap/ready" % bucket, str(n)]}}],
                JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole",
            )["JobFlowId"]
            emr.get_waiter("cluster_running").wait(
                ClusterId=cluster, WaiterConfig={"Delay": 1, "MaxAttempts": 600})
            step_ids = emr.add_job_flow_steps(JobFlowId=cluster, Steps=[
                {"Name": "pi", "ActionOnFailure": "CONTINUE", "HadoopJarStep": {
                    "Jar": "command-runner.jar", "Args": ["run-example", "SparkPi", "10"]}},
                {"Name": "beside", "ActionOnFailure": "CONTINUE", "HadoopJarStep": {
                    "Jar": "command-runner.jar",
                    "Args": ["python3", "-c", BESIDE, cluster, bucket]}},
            ])["StepIds"]
            rows = []
            for step_id in step_ids:
                emr.get_waiter("step_complete").wait(
                    ClusterId=cluster, StepId=step_id,
                    WaiterConfig={"Delay": 1, "MaxAttempts": 900})
                step = emr.describe_step(ClusterId=cluster, StepId=step_id)["Step"]
                times = step["Status"]["Timeline"]
                rows.append("%s,%s,%s,%s" % (step["Name"], step["Status"]["State"],
                                             times["StartDateTime"].isoformat(),
                                             times["EndDateTime"].isoformat()))
            stdout = s3.get_object(Bucket=bucket,
                                   Key="logs/%s/steps/%s/stdout.gz" % (cluster, step_ids[0]))
            pi_line = [line for line in gzip.decompress(stdout["Body"].read()).decode().splitlines()
                       if line.startswith("Pi is roughly")]
            s3.put_object(Bucket=bucket, Key="steps/part-00000.csv", Body=(
                "step,state,started,ended\\n" + "\\n".join(rows) + "\\n").encode())
            emr.terminate_job_flows(JobFlowIds=[cluster])
            emr.get_waiter("cluster_terminated").wait(
                ClusterId=cluster, WaiterConfig={"Delay": 1, "MaxAttempts": 600})
            assert pi_line, "SparkPi printed no 'Pi is roughly' line"
            return cluster

        run_cluster(count_payload())
''')

#: The bootstrap action: prepares the node (a folder in its HOME) and leaves a marker in S3
#: that the steps check, with the aws CLI as on a node.
BOOTSTRAP = textwrap.dedent('''
    #!/bin/bash
    set -euo pipefail
    mkdir -p "$HOME/app"
    echo "files=$2" > "$HOME/app/ready"
    aws s3 cp "$HOME/app/ready" "$1"
''').lstrip()

CONFTEST = textwrap.dedent('''
    import pytest


    @pytest.fixture(scope="session")
    def spark():
        """This repository's own `spark` (no JVM here): must win over the plugin's."""
        return "the repository's own spark"
''')

TESTS = textwrap.dedent('''
    from harness.provisioning import provision


    def test_own_spark_fixture_wins(spark):
        assert spark == "the repository's own spark"


    def test_the_plugin_parses_this_repositorys_dags(dagbag):
        assert "nightly_counts" in dagbag.dags, dagbag.import_errors


    def test_the_plugin_emulator_and_config(emulated_aws, harness_config):
        import boto3

        provision(emulated_aws, harness_config)
        keys = boto3.client("s3").list_objects_v2(Bucket="other-data")["Contents"]
        assert sorted(k["Key"] for k in keys) == [
            "node/bootstrap.sh", "payload/a.txt", "payload/sub/b.txt"]
''')


@pytest.fixture
def other_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "other-repo"
    (repo / "flows").mkdir(parents=True)
    (repo / "payload" / "sub").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "pyproject.toml").write_text(PYPROJECT)
    (repo / "flows" / "nightly_counts.py").write_text(DAG)
    (repo / "node").mkdir()
    (repo / "node" / "bootstrap.sh").write_text(BOOTSTRAP)
    (repo / "payload" / "a.txt").write_text("a\n")
    (repo / "payload" / "sub" / "b.txt").write_text("b\n")
    (repo / "tests" / "conftest.py").write_text(CONFTEST)
    (repo / "tests" / "test_mine.py").write_text(TESTS)
    return repo


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW", "AWS_", "PYTEST_")) and k != "PYTHONPATH"}
    # The migrated Airflow DB is cached per working directory: reuse this checkout's.
    env["HARNESS_CACHE_DIR"] = str(ROOT / ".harness" / "cache")
    env["HARNESS_NO_WARM"] = "1"
    return env


def test_the_harness_is_installed_with_its_pytest_plugin():
    entry = [e for e in metadata.entry_points(group="pytest11") if e.name == "harness"]
    assert [e.value for e in entry] == ["harness.pytest_plugin"]


def test_harness_run_in_another_repository(other_repo: Path):
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "--conn",
                           "inventory_api=http://inventory.internal:8080/"],
                          cwd=other_repo, env=_env(), capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    assert "running nightly_counts from" in out and str(other_repo / "flows") in out
    for task_id in ("count_payload", "run_cluster"):
        assert f"{task_id}" in out and any(
            line.split()[:2] == [task_id, "success"] for line in out.splitlines()), out[-3000:]
    # [tool.harness] result: what the task wrote, read back from the emulated S3.
    assert "result (s3://other-data/counts/): 1 row(s)" in out
    assert "2      payload/a.txt  inventory.internal" in out, out[-3000:]
    assert "step logs:" in out  # the run's cluster and its steps, found without task ids
    # The steps' timelines (the task wrote them): both completed, and they overlapped.
    steps = {}
    for line in out.splitlines():
        cells = line.split()
        if len(cells) == 4 and cells[0] in ("pi", "beside"):
            steps[cells[0]] = (cells[1], datetime.fromisoformat(cells[2]),
                               datetime.fromisoformat(cells[3]))
    assert set(steps) == {"pi", "beside"}, out[-3000:]
    assert steps["pi"][0] == steps["beside"][0] == "COMPLETED", steps
    (_, pi_start, pi_end), (_, b_start, b_end) = steps["pi"], steps["beside"]
    assert pi_start < b_end and b_start < pi_end, f"the steps did not overlap: {steps}"


def test_pytest_with_the_plugin_in_another_repository(other_repo: Path):
    proc = subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider"],
                          cwd=other_repo, env=_env(), capture_output=True, text=True,
                          timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    for name in ("test_own_spark_fixture_wins", "test_the_plugin_parses_this_repositorys_dags",
                 "test_the_plugin_emulator_and_config"):
        assert f"{name} PASSED" in out, out[-3000:]

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
    result = "s3://other-data/counts/"

    [tool.harness.uploads]
    "payload" = "s3://other-data/payload/"

    [tool.harness.variables]
    data_bucket = "other-data"
''')

DAG = textwrap.dedent('''
    """Not the lesson's DAG: plain boto3 in tasks, an EMR cluster with one `bash -c` step."""
    from datetime import datetime

    import boto3
    from airflow.sdk import DAG, Connection, Variable, task

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
            emr = boto3.client("emr")
            cluster = emr.run_job_flow(
                Name="nightly-counts", ReleaseLabel="emr-6.15.0",
                Instances={"InstanceCount": 1, "MasterInstanceType": "m5.xlarge",
                           "KeepJobFlowAliveWhenNoSteps": False},
                JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole",
                Steps=[{"Name": "echo", "ActionOnFailure": "TERMINATE_CLUSTER",
                        "HadoopJarStep": {"Jar": "command-runner.jar",
                                          "Args": ["bash", "-c", "echo counted %d files" % n]}}],
            )["JobFlowId"]
            emr.get_waiter("cluster_terminated").wait(
                ClusterId=cluster, WaiterConfig={"Delay": 1, "MaxAttempts": 600})
            (step,) = emr.list_steps(ClusterId=cluster)["Steps"]
            assert step["Status"]["State"] == "COMPLETED", step["Status"]
            return cluster

        run_cluster(count_payload())
''')

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
        assert sorted(k["Key"] for k in keys) == ["payload/a.txt", "payload/sub/b.txt"]
''')


@pytest.fixture
def other_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "other-repo"
    (repo / "flows").mkdir(parents=True)
    (repo / "payload" / "sub").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "pyproject.toml").write_text(PYPROJECT)
    (repo / "flows" / "nightly_counts.py").write_text(DAG)
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
    assert "step logs:" in out  # the run's cluster and its one step, found without task ids


def test_pytest_with_the_plugin_in_another_repository(other_repo: Path):
    proc = subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider"],
                          cwd=other_repo, env=_env(), capture_output=True, text=True,
                          timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    for name in ("test_own_spark_fixture_wins", "test_the_plugin_parses_this_repositorys_dags",
                 "test_the_plugin_emulator_and_config"):
        assert f"{name} PASSED" in out, out[-3000:]

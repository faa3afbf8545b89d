"""Plain `boto3.client("emr")` (no endpoint, region or keys) inside a `@task` reaches the emulator,
whichever engine runs the task: this process (in-process) or the DAG worker (subprocess).

The task creates a cluster and lists the clusters it sees; the emulator must hold that cluster
(created by that run) and the task must have seen only the emulator's clusters.
"""

from __future__ import annotations

import textwrap

import pytest

from harness.airflow.dag_runner import run_dag
from harness.endpoint import EmulatedAWS

DAG = textwrap.dedent(
    '''
    from datetime import datetime

    import boto3
    from airflow.sdk import DAG, task

    with DAG("plain_boto3", start_date=datetime(2024, 1, 1), schedule=None, catchup=False):

        @task(retries=0)
        def create_and_list():
            emr = boto3.client("emr")  # no endpoint_url, region or credentials
            created = emr.run_job_flow(
                Name="plain-boto3", ReleaseLabel="emr-6.15.0",
                Instances={"InstanceCount": 1, "MasterInstanceType": "m5.xlarge",
                           "KeepJobFlowAliveWhenNoSteps": False},
                JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole",
            )["JobFlowId"]
            seen = [c["Id"] for c in emr.list_clusters()["Clusters"]]
            return {"created": created, "seen": seen,
                    "endpoint": emr.meta.endpoint_url}

        create_and_list()
    '''
)


@pytest.mark.parametrize("isolation", ["in-process", "subprocess"])
def test_plain_boto3_in_a_task_reaches_the_emulator(tmp_path, isolation):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "plain_boto3.py").write_text(DAG)
    with EmulatedAWS(workdir=tmp_path / "aws") as aws:
        before = {c["Id"] for c in aws.client("emr").list_clusters()["Clusters"]}
        result = run_dag("plain_boto3", dags_folder=dags, aws=aws, isolation=isolation)
        assert result.ok, result.failure_report() + "\n" + result.log("create_and_list")[-3000:]
        assert result.isolation == isolation
        out = result.xcoms["create_and_list"]
        assert out["endpoint"] == aws.url
        emulator_ids = {c["Id"] for c in aws.client("emr").list_clusters()["Clusters"]}
        assert out["created"] in emulator_ids - before
        assert set(out["seen"]) <= emulator_ids and out["created"] in out["seen"]
        # The run's own inspection attributes the cluster to this run (its User-Agent app id).
        assert [c["id"] for c in result.clusters] == [out["created"]]

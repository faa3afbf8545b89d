"""Plain `boto3.client("emr")` (no endpoint, region or keys) inside a `@task` reaches the emulator,
whichever engine runs the task: this process (in-process) or the DAG worker (subprocess).

The task creates a cluster and lists the clusters it sees; the emulator must hold that cluster
(created by that run) and the task must have seen only the emulator's clusters.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

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


#: Runs one case in a fresh interpreter: the in-process engine needs a process whose Airflow
#: the harness configured itself, which a test session that already imported Airflow elsewhere
#: is not (run_dag refuses then). A fresh interpreter makes the case independent of test order.
CASE = textwrap.dedent(
    """
    import json, sys
    from harness.airflow.dag_runner import run_dag
    from harness.endpoint import EmulatedAWS

    dags, workdir, isolation = sys.argv[1:4]
    with EmulatedAWS(workdir=workdir) as aws:
        before = {c["Id"] for c in aws.client("emr").list_clusters()["Clusters"]}
        result = run_dag("plain_boto3", dags_folder=dags, aws=aws, isolation=isolation)
        after = {c["Id"] for c in aws.client("emr").list_clusters()["Clusters"]}
        print(json.dumps({
            "ok": result.ok, "isolation": result.isolation, "url": aws.url,
            "report": "" if result.ok else result.failure_report()
                      + result.log("create_and_list")[-3000:],
            "xcom": result.xcoms.get("create_and_list"), "before": sorted(before),
            "after": sorted(after), "attributed": [c["id"] for c in result.clusters],
        }))
    """
)


@pytest.mark.parametrize("isolation", ["in-process", "subprocess"])
def test_plain_boto3_in_a_task_reaches_the_emulator(tmp_path, isolation):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "plain_boto3.py").write_text(DAG)
    proc = subprocess.run(
        [sys.executable, "-c", CASE, str(dags), str(tmp_path / "aws"), isolation],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["ok"], got["report"]
    assert got["isolation"] == isolation
    out = got["xcom"]
    assert out["endpoint"] == got["url"]
    assert out["created"] in set(got["after"]) - set(got["before"])
    assert set(out["seen"]) <= set(got["after"]) and out["created"] in out["seen"]
    # The run's own inspection attributes the cluster to this run (its User-Agent app id).
    assert got["attributed"] == [out["created"]]

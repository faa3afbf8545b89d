"""`run_dag` reports the clusters its run created, not every cluster created around that time.

A one-task DAG creates one cluster through the amazon provider with an explicit
`botocore_config` (as the production DAG does); another client creates a cluster just before
each run. Each result must claim exactly its own run's cluster.
"""

from __future__ import annotations

import textwrap

import pytest

DAG = textwrap.dedent(
    """
    import pendulum
    from airflow.providers.amazon.aws.operators.emr import EmrCreateJobFlowOperator
    from airflow.sdk import DAG

    with DAG("make_one_cluster", start_date=pendulum.datetime(2024, 1, 1), schedule=None,
             catchup=False):
        EmrCreateJobFlowOperator(
            task_id="create",
            aws_conn_id="aws_default",
            botocore_config={"retries": {"mode": "standard", "max_attempts": 3}},
            job_flow_overrides={
                "Name": "from-the-dag",
                "ReleaseLabel": "emr-7.1.0",
                "Instances": {"MasterInstanceType": "m5.xlarge", "InstanceCount": 1,
                              "KeepJobFlowAliveWhenNoSteps": False},
                "JobFlowRole": "EMR_EC2_DefaultRole",
                "ServiceRole": "EMR_DefaultRole",
            },
        )
    """
)

INSTANCES = {"MasterInstanceType": "m5.xlarge", "InstanceCount": 1,
             "KeepJobFlowAliveWhenNoSteps": False}  # fmt: skip


@pytest.fixture(scope="session")
def harness_dags_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dags")
    (folder / "make_one_cluster.py").write_text(DAG)
    return folder


def test_back_to_back_runs_claim_only_their_own_cluster(dag_runner, emulated_aws):
    outsider = emulated_aws.client("emr")
    results = []
    for n in range(2):
        # created a moment before the run: inside the old one-second CreatedAfter window
        outsider.run_job_flow(Name=f"outsider-{n}", ReleaseLabel="emr-7.1.0",
                              Instances=INSTANCES, JobFlowRole="EMR_EC2_DefaultRole",
                              ServiceRole="EMR_DefaultRole")  # fmt: skip
        results.append(dag_runner("make_one_cluster"))
    for result in results:
        assert result.ok, result.failure_report()
        assert [c["id"] for c in result.clusters] == [result.xcoms["create"]]
        assert [c["name"] for c in result.clusters] == ["from-the-dag"]
    assert results[0].clusters[0]["id"] != results[1].clusters[0]["id"]

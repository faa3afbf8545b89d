"""The aws backend's code paths, offline: `AwsBackend(endpoint_url=...)` against the emulator.

Everything but the real AWS calls runs here: gating, naming, tagging, the cost guard, cleanup on
success, failure and signals, the sweeper. Only `test_smoke_real.py` (marker `aws`, opt-in with
--run-aws) talks to AWS.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.aws_setup import AwsRunSetup
from harness.config import load_config

ROOT = Path(__file__).resolve().parents[3]
#: The lesson's [tool.harness] table on a real-AWS run's bucket (what smoke-aws uploads, sets).
LESSON = AwsRunSetup.from_config(load_config(ROOT / "pyproject.toml"))


@pytest.fixture
def aws_backend_factory(emulated_aws):
    """`make(**kwargs) -> AwsBackend` aimed at this test's emulator (EMR roles provisioned,
    as the lesson's `aws emr create-default-roles` once per account)."""
    from harness.backends.aws import AwsBackend
    from harness.emr.roles import create_default_roles

    create_default_roles(emulated_aws.client("iam"))

    def make(**kwargs):
        kwargs.setdefault("endpoint_url", emulated_aws.url)
        kwargs.setdefault("region", emulated_aws.region)
        kwargs.setdefault("terminate_wait_s", 30)
        return AwsBackend(**kwargs)

    return make


def tags_of(tag_list) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tag_list}


def small_cluster(emr, *, tags=None, name="cluster-airflow-emr") -> str:
    """A running cluster like pipeline_emr's (optionally tagged)."""
    params = {
        "Name": name,
        "ReleaseLabel": "emr-6.15.0",
        "Applications": [{"Name": "Spark"}],
        "Instances": {
            "InstanceGroups": [
                {"Name": "Primary", "Market": "ON_DEMAND", "InstanceRole": "MASTER",
                 "InstanceType": "m5.xlarge", "InstanceCount": 1},
                {"Name": "Workers", "Market": "ON_DEMAND", "InstanceRole": "CORE",
                 "InstanceType": "m5.xlarge", "InstanceCount": 1},
            ],
            "KeepJobFlowAliveWhenNoSteps": True,
        },
        "JobFlowRole": "EMR_EC2_DefaultRole",
        "ServiceRole": "EMR_DefaultRole",
    }  # fmt: skip
    if tags:
        params["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    cid = emr.run_job_flow(**params)["JobFlowId"]
    emr.get_waiter("cluster_running").wait(ClusterId=cid, WaiterConfig={"Delay": 0.1})
    return cid


def cluster_state(emr, cid) -> str:
    return emr.describe_cluster(ClusterId=cid)["Cluster"]["Status"]["State"]


def bucket_names(s3) -> list[str]:
    return [b["Name"] for b in s3.list_buckets()["Buckets"]]

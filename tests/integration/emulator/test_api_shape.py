"""EMR API shape the runtime adds to moto: security configurations, ExecutionRoleArn, tags,
ListClusters filters."""

from __future__ import annotations

import datetime as dt
import json

import botocore.exceptions
import pytest

from harness.emr.states import ClusterState as C

from .conftest import ok_step, run_cluster

SEC = json.dumps({"EncryptionConfiguration": {"EnableInTransitEncryption": False,
                                              "EnableAtRestEncryption": False}})  # fmt: skip


def test_security_configurations(emulated_aws, emr):
    emr.create_security_configuration(Name="enc", SecurityConfiguration=SEC)
    emr.create_security_configuration(Name="other", SecurityConfiguration=SEC)
    names = [c["Name"] for c in emr.list_security_configurations()["SecurityConfigurations"]]
    assert names == ["enc", "other"]
    assert json.loads(emr.describe_security_configuration(Name="enc")["SecurityConfiguration"]) \
        == json.loads(SEC)  # fmt: skip
    cid = run_cluster(emr, SecurityConfiguration="enc")
    assert emr.describe_cluster(ClusterId=cid)["Cluster"]["SecurityConfiguration"] == "enc"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        run_cluster(emr, SecurityConfiguration="nope")
    assert err.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "Security configuration with name 'nope' does not exist.",
    }
    emr.delete_security_configuration(Name="other")
    names = [c["Name"] for c in emr.list_security_configurations()["SecurityConfigurations"]]
    assert names == ["enc"]


def test_execution_role_arn_is_kept_on_steps(emulated_aws, emr):
    role = "arn:aws:iam::123456789012:role/step-runtime"
    cid = run_cluster(emr)
    (sid,) = emr.add_job_flow_steps(JobFlowId=cid, Steps=[ok_step("a")],
                                    ExecutionRoleArn=role)["StepIds"]  # fmt: skip
    emulated_aws.runtime.wait_step(cid, sid, timeout=60)
    assert emr.describe_step(ClusterId=cid, StepId=sid)["Step"]["ExecutionRoleArn"] == role
    (plain,) = emr.add_job_flow_steps(JobFlowId=cid, Steps=[ok_step("b")])["StepIds"]
    assert "ExecutionRoleArn" not in emr.describe_step(ClusterId=cid, StepId=plain)["Step"]


def test_tags(emulated_aws, emr):
    cid = run_cluster(emr, Tags=[{"Key": "team", "Value": "data"}])
    emr.add_tags(ResourceId=cid, Tags=[{"Key": "env", "Value": "test"}])
    tags = {t["Key"]: t["Value"] for t in emr.describe_cluster(ClusterId=cid)["Cluster"]["Tags"]}
    assert tags == {"team": "data", "env": "test"}
    emr.remove_tags(ResourceId=cid, TagKeys=["team"])
    tags = {t["Key"]: t["Value"] for t in emr.describe_cluster(ClusterId=cid)["Cluster"]["Tags"]}
    assert tags == {"env": "test"}


def test_list_clusters_filters(emulated_aws, emr):
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    done = run_cluster(emr, name="done")
    emulated_aws.runtime.wait_cluster(done, C.WAITING, timeout=20)
    emr.terminate_job_flows(JobFlowIds=[done])
    emulated_aws.runtime.wait_cluster(done, timeout=20)
    live = run_cluster(emr, name="live")
    emulated_aws.runtime.wait_cluster(live, C.WAITING, timeout=20)

    def ids(**kw):
        return {c["Id"] for c in emr.list_clusters(**kw)["Clusters"]}

    assert ids(ClusterStates=["WAITING"]) == {live}
    assert ids(ClusterStates=["TERMINATED"]) == {done}
    assert ids(CreatedAfter=before) == {done, live}
    assert ids(CreatedBefore=before) == set()

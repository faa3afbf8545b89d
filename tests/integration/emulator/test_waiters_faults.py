"""botocore's EMR waiters against the emulator, and every injected fault."""

from __future__ import annotations

import logging

import botocore.exceptions
import pytest
from botocore.config import Config

from harness.emr.states import StepState as S

from .conftest import ok_step, run_cluster, states, step

FAST = {"Delay": 0.1, "MaxAttempts": 300}  # bounded fast polling, not a fixed sleep


def test_three_waiters(emulated_aws, emr):
    cid = run_cluster(emr)
    emr.get_waiter("cluster_running").wait(ClusterId=cid, WaiterConfig=FAST)
    (sid,) = emr.add_job_flow_steps(JobFlowId=cid, Steps=[ok_step()])["StepIds"]
    emr.get_waiter("step_complete").wait(ClusterId=cid, StepId=sid, WaiterConfig=FAST)
    emr.terminate_job_flows(JobFlowIds=[cid])
    emr.get_waiter("cluster_terminated").wait(ClusterId=cid, WaiterConfig=FAST)
    assert emr.describe_cluster(ClusterId=cid)["Cluster"]["Status"]["State"] == "TERMINATED"


def test_step_complete_waiter_fails_on_failed_step(emulated_aws, emr):
    emulated_aws.faults.fail_step("job", message="ValueError: bad input")
    cid = run_cluster(emr, steps=[ok_step("job")])
    (sid,) = [s["Id"] for s in emr.list_steps(ClusterId=cid)["Steps"]]
    with pytest.raises(botocore.exceptions.WaiterError, match="FAILED"):
        emr.get_waiter("step_complete").wait(ClusterId=cid, StepId=sid, WaiterConfig=FAST)
    failure = emr.describe_step(ClusterId=cid, StepId=sid)["Step"]["Status"]["FailureDetails"]
    assert failure["Message"] == "ValueError: bad input"


def test_fail_bootstrap(emulated_aws, emr):
    emulated_aws.faults.fail_bootstrap()
    cid = run_cluster(emr, steps=[ok_step("never")])
    with pytest.raises(botocore.exceptions.WaiterError):
        emr.get_waiter("cluster_running").wait(ClusterId=cid, WaiterConfig=FAST)
    emulated_aws.runtime.wait_cluster(cid, timeout=10)
    status = emr.describe_cluster(ClusterId=cid)["Cluster"]["Status"]
    assert status["State"] == "TERMINATED_WITH_ERRORS"
    assert status["StateChangeReason"]["Code"] == "BOOTSTRAP_FAILURE"
    assert "bootstrap action" in status["StateChangeReason"]["Message"]
    assert [s.value for s, _, _ in emulated_aws.runtime.cluster(cid).history] == [
        "STARTING", "BOOTSTRAPPING", "TERMINATING", "TERMINATED_WITH_ERRORS"]  # fmt: skip
    assert states(emr, cid) == {"never": "CANCELLED"}


def test_spot_capacity_unavailable(emulated_aws, emr):
    emulated_aws.faults.spot_capacity_unavailable()
    cid = run_cluster(emr, steps=[ok_step("never")])
    emulated_aws.runtime.wait_cluster(cid, timeout=10)
    status = emr.describe_cluster(ClusterId=cid)["Cluster"]["Status"]
    assert status["State"] == "TERMINATED_WITH_ERRORS"
    assert status["StateChangeReason"]["Code"] == "INSTANCE_FAILURE"
    assert "CORE, SPOT" in status["StateChangeReason"]["Message"]
    assert "Spot capacity is not available" in status["StateChangeReason"]["Message"]
    assert [s.value for s, _, _ in emulated_aws.runtime.cluster(cid).history] == [
        "STARTING", "TERMINATING", "TERMINATED_WITH_ERRORS"]  # fmt: skip
    assert states(emr, cid) == {"never": "CANCELLED"}


def test_cluster_fault_filtered_by_name(emulated_aws, emr):
    emulated_aws.faults.fail_bootstrap(cluster_name="doomed")
    healthy = run_cluster(emr, name="healthy")
    doomed = run_cluster(emr, name="doomed")
    emr.get_waiter("cluster_running").wait(ClusterId=healthy, WaiterConfig=FAST)
    assert (
        emulated_aws.runtime.wait_cluster(doomed, timeout=10).state.value
        == "TERMINATED_WITH_ERRORS"
    )


def test_fail_step_by_index_and_hang(emulated_aws, emr):
    emulated_aws.faults.fail_step(1, message="second one breaks").hang_step("hangs")
    cid = run_cluster(emr)
    a, b, c = emr.add_job_flow_steps(
        JobFlowId=cid, Steps=[ok_step("first"), ok_step("second"), ok_step("hangs")]
    )["StepIds"]
    emulated_aws.runtime.wait_step(cid, c, S.RUNNING, timeout=20)
    assert states(emr, cid) == {"first": "COMPLETED", "second": "FAILED", "hangs": "RUNNING"}
    emr.terminate_job_flows(JobFlowIds=[cid])
    emr.get_waiter("cluster_terminated").wait(ClusterId=cid, WaiterConfig=FAST)
    assert states(emr, cid)["hangs"] == "CANCELLED"


def test_throttling_refuses_n_calls_then_recovers(emulated_aws, emr):
    cid = run_cluster(emr, steps=[ok_step()])
    (sid,) = [s["Id"] for s in emr.list_steps(ClusterId=cid)["Steps"]]
    no_retry = emulated_aws.client("emr", config=Config(retries={"total_max_attempts": 1}))
    emulated_aws.faults.throttle("DescribeStep", times=2)
    for _ in range(2):
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            no_retry.describe_step(ClusterId=cid, StepId=sid)
        assert exc.value.response["Error"]["Code"] == "ThrottlingException"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert no_retry.describe_step(ClusterId=cid, StepId=sid)["Step"]["Id"] == sid
    no_retry.describe_cluster(ClusterId=cid)  # other operations were never throttled
    assert emulated_aws.faults.throttled == {"DescribeStep": 2}


def test_throttling_absorbed_by_botocore_retries(emulated_aws, emr):
    cid = run_cluster(emr)
    emulated_aws.faults.throttle("DescribeCluster", times=2)
    retrying = emulated_aws.client(
        "emr", config=Config(retries={"mode": "standard", "max_attempts": 5})
    )
    assert retrying.describe_cluster(ClusterId=cid)["Cluster"]["Id"] == cid
    assert emulated_aws.faults.throttled == {"DescribeCluster": 2}


def test_throttling_query_protocol_operations_answers_in_xml(emulated_aws):
    # botocore sends IAM/STS/EC2 calls as POST form bodies and parses XML errors.
    no_retry = Config(retries={"total_max_attempts": 1})
    iam = emulated_aws.client("iam", config=no_retry)
    ec2 = emulated_aws.client("ec2", config=no_retry)
    emulated_aws.faults.throttle("CreateRole", times=1).throttle("DescribeVpcs", times=1)
    policy = '{"Version": "2012-10-17", "Statement": []}'
    for call in (lambda: iam.create_role(RoleName="r", AssumeRolePolicyDocument=policy),
                 ec2.describe_vpcs):  # fmt: skip
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            call()
        assert exc.value.response["Error"]["Code"] == "ThrottlingException"
        assert exc.value.response["Error"]["Message"] == "Rate exceeded"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # the form body reaches moto intact once the throttle is used up
    assert iam.create_role(RoleName="r", AssumeRolePolicyDocument=policy)["Role"]["RoleName"] == "r"
    assert ec2.describe_vpcs()["Vpcs"]
    assert emulated_aws.faults.throttled == {"CreateRole": 1, "DescribeVpcs": 1}


def test_version_guard_warns_once_per_cluster(emulated_aws, emr, caplog):
    caplog.set_level(logging.WARNING, logger="harness.emr")
    cid = run_cluster(emr)
    emr.add_job_flow_steps(JobFlowId=cid, Steps=[ok_step()])
    logged = [r for r in caplog.records if r.name == "harness.emr" and "emr-6.15.0" in r.message]
    assert len(logged) == 1 and logged[0].levelno == logging.WARNING
    assert len(emulated_aws.version_warnings) == 1
    assert "Spark 3.4.1" in emulated_aws.version_warnings[0]


def test_version_guard_strict_mode_fails_the_cluster(tmp_path):
    from harness.endpoint import EmulatedAWS

    with EmulatedAWS(workdir=tmp_path, strict_versions=True) as aws:
        emr = aws.client("emr")
        cid = run_cluster(emr, steps=[ok_step()])
        run = aws.runtime.wait_cluster(cid, timeout=10)
        status = emr.describe_cluster(ClusterId=cid)["Cluster"]["Status"]
    assert run.state.value == "TERMINATED_WITH_ERRORS"
    assert status["StateChangeReason"]["Code"] == "VALIDATION_ERROR"
    assert "Strict version check failed" in status["StateChangeReason"]["Message"]


def test_step_env_points_at_the_emulator(emulated_aws, emr, s3):
    """A command-runner `aws s3 cp` step talks to the emulated S3, never to AWS."""
    s3.create_bucket(Bucket="bkt")
    s3.put_object(Bucket="bkt", Key="a.txt", Body=b"hello")
    cid = run_cluster(
        emr, steps=[step("copy", "aws", "s3", "cp", "s3://bkt/a.txt", "s3://bkt/b.txt")]
    )
    (sid,) = [s["Id"] for s in emr.list_steps(ClusterId=cid)["Steps"]]
    assert emulated_aws.runtime.wait_step(cid, sid, timeout=60).state is S.COMPLETED, (
        emulated_aws.step_stderr_tail(cid, sid))  # fmt: skip
    assert s3.get_object(Bucket="bkt", Key="b.txt")["Body"].read() == b"hello"

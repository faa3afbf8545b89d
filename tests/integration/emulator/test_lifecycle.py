"""Cluster and step lifecycles, StepConcurrencyLevel 1, ActionOnFailure, CancelSteps."""

from __future__ import annotations

import botocore.exceptions
import pytest

from harness.emr.states import ClusterState as C
from harness.emr.states import StepState as S
from harness.endpoint import EmulatedAWS, LifecycleDelays

from .conftest import failing_step, ok_step, run_cluster, states, step


def history(aws, cid):
    return [(s.value, code) for s, code, _ in aws.runtime.cluster(cid).history]


def test_idle_cluster_lifecycle_and_user_termination(emulated_aws, emr):
    cid = run_cluster(emr)
    emulated_aws.runtime.wait_cluster(cid, C.WAITING, timeout=10)
    desc = emr.describe_cluster(ClusterId=cid)["Cluster"]["Status"]
    assert desc["State"] == "WAITING"
    assert "ReadyDateTime" in desc["Timeline"] and "EndDateTime" not in desc["Timeline"]

    emr.terminate_job_flows(JobFlowIds=[cid])
    emulated_aws.runtime.wait_cluster(cid, timeout=10)
    status = emr.describe_cluster(ClusterId=cid)["Cluster"]["Status"]
    assert status["State"] == "TERMINATED"
    assert status["StateChangeReason"] == {
        "Code": "USER_REQUEST",
        "Message": "Terminated by user request",
    }
    assert status["Timeline"]["EndDateTime"] >= status["Timeline"]["ReadyDateTime"]
    assert history(emulated_aws, cid) == [
        ("STARTING", None), ("BOOTSTRAPPING", None), ("WAITING", None),
        ("TERMINATING", "USER_REQUEST"), ("TERMINATED", "USER_REQUEST"),
    ]  # fmt: skip
    assert emulated_aws.active_clusters() == []


def test_transitional_states_visible_through_the_api(emulated_aws, emr):
    rt = emulated_aws.runtime
    rt.hold(C.STARTING, C.BOOTSTRAPPING, C.TERMINATING)

    def api_state():
        return emr.describe_cluster(ClusterId=cid)["Cluster"]["Status"]["State"]

    cid = run_cluster(emr)
    seen = [api_state()]
    rt.release(C.STARTING)
    rt.wait_cluster(cid, C.BOOTSTRAPPING, timeout=5)
    seen.append(api_state())
    rt.release(C.BOOTSTRAPPING)
    rt.wait_cluster(cid, C.WAITING, timeout=5)
    seen.append(api_state())
    emr.terminate_job_flows(JobFlowIds=[cid])
    seen.append(api_state())
    rt.release(C.TERMINATING)
    rt.wait_cluster(cid, timeout=5)
    seen.append(api_state())
    assert seen == ["STARTING", "BOOTSTRAPPING", "WAITING", "TERMINATING", "TERMINATED"]


def test_lifecycle_delays_hold_the_state_until_a_termination_request(tmp_path):
    def api_state(emr, cid):
        return emr.describe_cluster(ClusterId=cid)["Cluster"]["Status"]["State"]

    # Delays far longer than the test: a cluster can only leave the state early.
    with EmulatedAWS(workdir=tmp_path, delays=LifecycleDelays(starting=600)) as aws:
        emr = aws.client("emr")
        cid = run_cluster(emr)
        assert api_state(emr, cid) == "STARTING"
        emr.terminate_job_flows(JobFlowIds=[cid])  # ends the pause early
        aws.runtime.wait_cluster(cid, timeout=10)
        assert [s for s, _ in history(aws, cid)] == ["STARTING", "TERMINATING", "TERMINATED"]

    with EmulatedAWS(workdir=tmp_path, delays=LifecycleDelays(bootstrapping=600)) as aws:
        emr = aws.client("emr")
        cid = run_cluster(emr)
        aws.runtime.wait_cluster(cid, C.BOOTSTRAPPING, timeout=10)
        assert api_state(emr, cid) == "BOOTSTRAPPING"
        emr.terminate_job_flows(JobFlowIds=[cid])
        aws.runtime.wait_cluster(cid, timeout=10)
        assert [s for s, _ in history(aws, cid)] == [
            "STARTING", "BOOTSTRAPPING", "TERMINATING", "TERMINATED"]  # fmt: skip


def test_terminating_delay_is_not_cut_short_by_other_clusters(tmp_path):
    with EmulatedAWS(workdir=tmp_path, delays=LifecycleDelays(terminating=600)) as aws:
        emr = aws.client("emr")
        first = run_cluster(emr, name="first")
        aws.runtime.wait_cluster(first, C.WAITING, timeout=10)
        emr.terminate_job_flows(JobFlowIds=[first])
        # Another cluster starting and running a step notifies the runtime many times.
        second = run_cluster(emr, name="second", steps=[ok_step()])
        (sid,) = [s["Id"] for s in emr.list_steps(ClusterId=second)["Steps"]]
        aws.runtime.wait_step(second, sid, timeout=20)
        run = aws.runtime.cluster(first)
        assert run.state is C.TERMINATING
    # stop() ends the delay: the cluster still reaches its final state
    assert [s.value for s, _, _ in run.history][-2:] == ["TERMINATING", "TERMINATED"]


def test_run_job_flow_steps_run_and_auto_terminate(emulated_aws, emr):
    cid = run_cluster(emr, steps=[ok_step("a"), ok_step("b")], keep_alive=False)
    emulated_aws.runtime.wait_cluster(cid, timeout=20)
    assert states(emr, cid) == {"a": "COMPLETED", "b": "COMPLETED"}
    status = emr.describe_cluster(ClusterId=cid)["Cluster"]["Status"]
    assert status["State"] == "TERMINATED"
    assert status["StateChangeReason"] == {
        "Code": "ALL_STEPS_COMPLETED",
        "Message": "Steps completed",
    }
    assert [s for s, _ in history(emulated_aws, cid)] == [
        "STARTING", "BOOTSTRAPPING", "WAITING", "RUNNING", "WAITING", "RUNNING", "WAITING",
        "TERMINATING", "TERMINATED",
    ]  # fmt: skip


def test_steps_run_one_at_a_time_in_submission_order(emulated_aws, emr, tmp_path):
    order = tmp_path / "order.txt"
    cid = run_cluster(emr)
    ids = emr.add_job_flow_steps(
        JobFlowId=cid,
        Steps=[step(f"s{i}", "bash", "-c", f"echo start{i} >> {order}; echo end{i} >> {order}")
               for i in range(3)],
    )["StepIds"]  # fmt: skip
    for sid in ids:
        emulated_aws.runtime.wait_step(cid, sid, timeout=20)
    assert order.read_text().split() == ["start0", "end0", "start1", "end1", "start2", "end2"]
    timelines = [
        emr.describe_step(ClusterId=cid, StepId=s)["Step"]["Status"]["Timeline"] for s in ids
    ]
    for earlier, later in zip(timelines, timelines[1:], strict=False):
        assert earlier["EndDateTime"] <= later["StartDateTime"]
    assert emr.describe_cluster(ClusterId=cid)["Cluster"]["Status"]["State"] == "WAITING"


def test_action_on_failure_terminate_cluster(emulated_aws, emr):
    cid = run_cluster(emr, steps=[failing_step("bad", "TERMINATE_CLUSTER"), ok_step("next")])
    emulated_aws.runtime.wait_cluster(cid, timeout=20)
    assert states(emr, cid) == {"bad": "FAILED", "next": "CANCELLED"}
    status = emr.describe_cluster(ClusterId=cid)["Cluster"]["Status"]
    assert status["State"] == "TERMINATED_WITH_ERRORS"
    assert status["StateChangeReason"] == {
        "Code": "STEP_FAILURE",
        "Message": "Shut down as step failed",
    }


def test_action_on_failure_cancel_and_wait(emulated_aws, emr):
    cid = run_cluster(emr, steps=[failing_step("bad", "CANCEL_AND_WAIT"), ok_step("next")])
    bad = emr.list_steps(ClusterId=cid)["Steps"]
    ids = {s["Name"]: s["Id"] for s in bad}
    emulated_aws.runtime.wait_step(cid, ids["next"], timeout=20)
    emulated_aws.runtime.wait_cluster(cid, C.WAITING, timeout=5)
    assert states(emr, cid) == {"bad": "FAILED", "next": "CANCELLED"}
    # the cluster stays up and accepts new work
    (later,) = emr.add_job_flow_steps(JobFlowId=cid, Steps=[ok_step("later")])["StepIds"]
    assert emulated_aws.runtime.wait_step(cid, later, timeout=20).state is S.COMPLETED


def test_action_on_failure_continue(emulated_aws, emr):
    cid = run_cluster(
        emr, steps=[failing_step("bad", "CONTINUE"), ok_step("next")], keep_alive=False
    )
    emulated_aws.runtime.wait_cluster(cid, timeout=20)
    assert states(emr, cid) == {"bad": "FAILED", "next": "COMPLETED"}
    status = emr.describe_cluster(ClusterId=cid)["Cluster"]["Status"]
    assert (status["State"], status["StateChangeReason"]["Message"]) == (
        "TERMINATED", "Steps completed with errors")  # fmt: skip


def test_failure_details(emulated_aws, emr, s3):
    s3.create_bucket(Bucket="logs-bucket")
    cid = run_cluster(emr, steps=[failing_step("bad", message="the real cause")],
                      LogUri="s3://logs-bucket/emr-logs/")  # fmt: skip
    (sid,) = [s["Id"] for s in emr.list_steps(ClusterId=cid)["Steps"]]
    emulated_aws.runtime.wait_step(cid, sid, timeout=20)
    failure = emr.describe_step(ClusterId=cid, StepId=sid)["Step"]["Status"]["FailureDetails"]
    assert failure["Message"] == "RuntimeError: the real cause"
    assert failure["Reason"] == "Step failed with exitCode 3"
    assert failure["LogFile"] == f"s3://logs-bucket/emr-logs/{cid}/steps/{sid}/stderr.gz"
    assert "RuntimeError: the real cause" in emulated_aws.step_stderr_tail(cid, sid)


def test_cancel_pending_and_running_steps(emulated_aws, emr):
    emulated_aws.faults.hang_step("stuck")
    cid = run_cluster(emr)
    stuck, queued = emr.add_job_flow_steps(
        JobFlowId=cid, Steps=[ok_step("stuck"), ok_step("queued")]
    )["StepIds"]
    emulated_aws.runtime.wait_step(cid, stuck, S.RUNNING, timeout=10)
    info = emr.cancel_steps(ClusterId=cid, StepIds=[queued])["CancelStepsInfoList"]
    assert info == [{"StepId": queued, "Status": "SUBMITTED", "Reason": ""}]
    assert states(emr, cid)["queued"] == "CANCELLED"
    emr.cancel_steps(ClusterId=cid, StepIds=[stuck])
    assert emulated_aws.runtime.wait_step(cid, stuck, timeout=10).state is S.CANCELLED
    emulated_aws.runtime.wait_cluster(cid, C.WAITING, timeout=5)
    again = emr.cancel_steps(ClusterId=cid, StepIds=[stuck])["CancelStepsInfoList"][0]
    assert again["Status"] == "FAILED" and "CANCELLED" in again["Reason"]


def test_terminating_kills_the_running_step(emulated_aws, emr, tmp_path):
    marker = tmp_path / "never"
    cid = run_cluster(emr, steps=[step("long", "bash", "-c", f"sleep 60; touch {marker}"),
                                  ok_step("after")])  # fmt: skip
    sid = emr.list_steps(ClusterId=cid, StepStates=["PENDING", "RUNNING"])["Steps"][-1]["Id"]
    emulated_aws.runtime.wait_step(cid, sid, S.RUNNING, timeout=10)
    emr.terminate_job_flows(JobFlowIds=[cid])
    emulated_aws.runtime.wait_cluster(cid, timeout=15)
    assert states(emr, cid) == {"long": "CANCELLED", "after": "CANCELLED"}
    assert not marker.exists()


def test_no_steps_on_terminated_cluster_and_termination_protection(emulated_aws, emr):
    cid = run_cluster(emr)
    emr.terminate_job_flows(JobFlowIds=[cid])
    emulated_aws.runtime.wait_cluster(cid, timeout=10)
    with pytest.raises(botocore.exceptions.ClientError, match="may not be modified"):
        emr.add_job_flow_steps(JobFlowId=cid, Steps=[ok_step()])

    protected = run_cluster(emr)
    emr.set_termination_protection(JobFlowIds=[protected], TerminationProtected=True)
    with pytest.raises(botocore.exceptions.ClientError, match="termination protected"):
        emr.terminate_job_flows(JobFlowIds=[protected])
    assert emr.describe_cluster(ClusterId=protected)["Cluster"]["Status"]["State"] != "TERMINATING"
    emr.set_termination_protection(JobFlowIds=[protected], TerminationProtected=False)
    emr.terminate_job_flows(JobFlowIds=[protected])


def test_unsupported_step_fails_with_an_explanation(emulated_aws, emr):
    cid = run_cluster(emr, steps=[step("jar", "x", jar="s3://b/custom.jar")])
    (sid,) = [s["Id"] for s in emr.list_steps(ClusterId=cid)["Steps"]]
    emulated_aws.runtime.wait_step(cid, sid, timeout=10)
    failure = emr.describe_step(ClusterId=cid, StepId=sid)["Step"]["Status"]["FailureDetails"]
    assert "cannot run locally" in failure["Message"]


def test_step_setup_failure_fails_the_step_not_the_cluster(emulated_aws, emr):
    emulated_aws.runtime.logs_root.write_text("not a folder")  # no step folder can be made
    cid = run_cluster(emr, steps=[ok_step("a")])
    (sid,) = [s["Id"] for s in emr.list_steps(ClusterId=cid)["Steps"]]
    assert emulated_aws.runtime.wait_step(cid, sid, timeout=20).state is S.FAILED
    failure = emr.describe_step(ClusterId=cid, StepId=sid)["Step"]["Status"]["FailureDetails"]
    assert failure["Message"].startswith(("FileExistsError", "NotADirectoryError")), failure
    assert emulated_aws.runtime.wait_cluster(cid, C.WAITING, timeout=10).state is C.WAITING


def test_internal_error_mid_step_cancels_the_running_step(emulated_aws, emr, monkeypatch):
    def broken(run, step, workspace):
        raise RuntimeError("emulator bug")

    monkeypatch.setattr(emulated_aws.runtime.step_runner, "run", broken)
    cid = run_cluster(emr, steps=[ok_step("a"), ok_step("b")])
    emulated_aws.runtime.wait_cluster(cid, timeout=20)
    status = emr.describe_cluster(ClusterId=cid)["Cluster"]["Status"]
    assert (status["State"], status["StateChangeReason"]["Code"]) == (
        "TERMINATED_WITH_ERRORS", "INTERNAL_ERROR")  # fmt: skip
    assert states(emr, cid) == {"a": "CANCELLED", "b": "CANCELLED"}  # none left RUNNING


def test_wait_step_timeout_names_an_unknown_step(emulated_aws, emr):
    cid = run_cluster(emr)
    with pytest.raises(TimeoutError, match="it is unknown"):
        emulated_aws.runtime.wait_step(cid, "s-NOPE", timeout=0)

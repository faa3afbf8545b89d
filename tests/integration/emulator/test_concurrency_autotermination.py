"""StepConcurrencyLevel (RunJobFlow, ModifyCluster) and AutoTerminationPolicy idle timeouts."""

from __future__ import annotations

import botocore.exceptions
import pytest

from harness.emr.states import ClusterState as C
from harness.emr.states import StepState as S
from harness.endpoint import EmulatedAWS, LifecycleDelays

from .conftest import failing_step, ok_step, run_cluster, states, step


def rendezvous_step(name, here, there, folder):
    """Writes its own flag and waits (bounded) for the other step's: it can only succeed
    when both steps run at the same time."""
    script = (
        f"touch {folder}/{here}; for i in $(seq 600); do "
        f"[ -e {folder}/{there} ] && exit 0; sleep 0.1; done; "
        f"echo 'TimeoutError: {there} never ran beside {here}' >&2; exit 1"
    )
    return step(name, "bash", "-c", script)


def timeline(emr, cid, sid):
    t = emr.describe_step(ClusterId=cid, StepId=sid)["Step"]["Status"]["Timeline"]
    return t["StartDateTime"], t["EndDateTime"]


def step_ids(emr, cid):
    return {s["Name"]: s["Id"] for s in emr.list_steps(ClusterId=cid)["Steps"]}


def test_concurrency_level_runs_steps_at_once(emulated_aws, emr, tmp_path):
    cid = run_cluster(
        emr,
        StepConcurrencyLevel=2,
        steps=[rendezvous_step("a", "a", "b", tmp_path), rendezvous_step("b", "b", "a", tmp_path)],
    )
    ids = step_ids(emr, cid)
    for sid in ids.values():
        assert emulated_aws.runtime.wait_step(cid, sid, timeout=90).state is S.COMPLETED
    (a0, a1), (b0, b1) = timeline(emr, cid, ids["a"]), timeline(emr, cid, ids["b"])
    assert a0 < b1 and b0 < a1  # the timelines overlap
    assert emr.describe_cluster(ClusterId=cid)["Cluster"]["StepConcurrencyLevel"] == 2
    emulated_aws.runtime.wait_cluster(cid, C.WAITING, timeout=10)


def test_level_one_never_overlaps(emulated_aws, emr):
    cid = run_cluster(emr, steps=[ok_step("a"), ok_step("b"), ok_step("c")])
    ids = step_ids(emr, cid)
    for sid in ids.values():
        emulated_aws.runtime.wait_step(cid, sid, timeout=60)
    spans = sorted(timeline(emr, cid, ids[n]) for n in "abc")
    assert all(prev[1] <= nxt[0] for prev, nxt in zip(spans, spans[1:], strict=False))


def test_modify_cluster_raises_the_level_of_a_running_cluster(emulated_aws, emr, tmp_path):
    cid = run_cluster(emr)
    emulated_aws.runtime.wait_cluster(cid, C.WAITING, timeout=20)
    assert emr.modify_cluster(ClusterId=cid, StepConcurrencyLevel=3)["StepConcurrencyLevel"] == 3
    pair = [rendezvous_step("a", "a", "b", tmp_path), rendezvous_step("b", "b", "a", tmp_path)]
    emr.add_job_flow_steps(JobFlowId=cid, Steps=pair)
    for sid in step_ids(emr, cid).values():
        assert emulated_aws.runtime.wait_step(cid, sid, timeout=90).state is S.COMPLETED


@pytest.mark.parametrize("level", [0, 257])
def test_concurrency_level_bounds(emulated_aws, emr, level):
    cid = run_cluster(emr)
    with pytest.raises(botocore.exceptions.ClientError) as err:
        emr.modify_cluster(ClusterId=cid, StepConcurrencyLevel=level)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "must be an integer from 1 to 256" in err.value.response["Error"]["Message"]
    with pytest.raises(botocore.exceptions.ClientError) as err:
        run_cluster(emr, StepConcurrencyLevel=level)
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_concurrent_cluster_rejects_serial_only_actions(emulated_aws, emr):
    cid = run_cluster(emr, StepConcurrencyLevel=2)
    for action in ("TERMINATE_CLUSTER", "CANCEL_AND_WAIT"):
        with pytest.raises(botocore.exceptions.ClientError) as err:
            emr.add_job_flow_steps(JobFlowId=cid, Steps=[ok_step("x", action=action)])
        assert err.value.response["Error"]["Code"] == "ValidationException"
        assert err.value.response["Error"]["Message"] == (
            f"The ActionOnFailure setting {action} of step 'x' is not valid: the cluster's "
            "StepConcurrencyLevel is 2, and with more than one step at a time only CONTINUE "
            "is allowed."
        )
    emr.add_job_flow_steps(JobFlowId=cid, Steps=[failing_step("bad"), ok_step("ok")])
    for sid in step_ids(emr, cid).values():
        emulated_aws.runtime.wait_step(cid, sid, timeout=60)
    assert states(emr, cid) == {"bad": "FAILED", "ok": "COMPLETED"}


def test_idle_cluster_ends_after_its_idle_timeout(emulated_aws, emr):
    cid = run_cluster(emr, steps=[ok_step("a")], AutoTerminationPolicy={"IdleTimeout": 60})
    assert emr.get_auto_termination_policy(ClusterId=cid)["AutoTerminationPolicy"] == {
        "IdleTimeout": 60}  # fmt: skip
    run = emulated_aws.runtime.wait_cluster(cid, timeout=30)  # 60 s x 0.01 here
    status = emr.describe_cluster(ClusterId=cid)["Cluster"]["Status"]
    assert status["State"] == "TERMINATED"
    assert status["StateChangeReason"] == {
        "Code": "ALL_STEPS_COMPLETED",
        "Message": "Cluster was idle for 60 seconds (AutoTerminationPolicy IdleTimeout) and "
        "terminated automatically",
    }
    assert states(emr, cid) == {"a": "COMPLETED"}  # the timer starts once nothing runs
    assert [s.value for s, _, _ in run.history][-3:] == ["WAITING", "TERMINATING", "TERMINATED"]


def test_put_and_remove_auto_termination_policy(tmp_path):
    # time_factor 1: EMR's own clock, so nothing ends during this test unless put short.
    with EmulatedAWS(workdir=tmp_path, delays=LifecycleDelays(time_factor=1.0)) as aws:
        emr = aws.client("emr")
        cid = run_cluster(emr)
        aws.runtime.wait_cluster(cid, C.WAITING, timeout=20)
        assert "AutoTerminationPolicy" not in emr.get_auto_termination_policy(ClusterId=cid)
        emr.put_auto_termination_policy(ClusterId=cid, AutoTerminationPolicy={"IdleTimeout": 600})
        assert emr.get_auto_termination_policy(ClusterId=cid)["AutoTerminationPolicy"] == {
            "IdleTimeout": 600}  # fmt: skip
        emr.remove_auto_termination_policy(ClusterId=cid)
        assert "AutoTerminationPolicy" not in emr.get_auto_termination_policy(ClusterId=cid)
        assert aws.runtime.cluster(cid).state is C.WAITING
        with pytest.raises(botocore.exceptions.ClientError) as err:
            emr.put_auto_termination_policy(ClusterId=cid, AutoTerminationPolicy={"IdleTimeout": 5})
        assert "must be from 60 to 604800 seconds" in err.value.response["Error"]["Message"]

    with EmulatedAWS(workdir=tmp_path) as aws:  # default factor: a put policy ends it soon
        emr = aws.client("emr")
        cid = run_cluster(emr)
        aws.runtime.wait_cluster(cid, C.WAITING, timeout=20)
        emr.put_auto_termination_policy(ClusterId=cid, AutoTerminationPolicy={"IdleTimeout": 60})
        assert aws.runtime.wait_cluster(cid, timeout=30).reason.value == "ALL_STEPS_COMPLETED"


def test_failure_at_level_above_one_neither_cancels_nor_terminates(emulated_aws, emr):
    # RunJobFlow's own steps are not refused; EMR documents that at a level above 1 a failing
    # TERMINATE_CLUSTER / CANCEL_AND_WAIT step does not terminate the cluster or cancel steps.
    cid = run_cluster(emr, StepConcurrencyLevel=2, steps=[
        failing_step("bad", action="TERMINATE_CLUSTER"),
        failing_step("bad2", action="CANCEL_AND_WAIT"), ok_step("after")])  # fmt: skip
    for sid in step_ids(emr, cid).values():
        emulated_aws.runtime.wait_step(cid, sid, timeout=60)
    assert states(emr, cid) == {"bad": "FAILED", "bad2": "FAILED", "after": "COMPLETED"}
    assert emulated_aws.runtime.wait_cluster(cid, C.WAITING, timeout=10).state is C.WAITING

"""EmrRuntime.on_state_change: every cluster and step state change is announced (what wakes a
waiting EMR sensor, harness.airflow.state_changes), and a removed listener hears nothing."""

from __future__ import annotations

from .conftest import ok_step, run_cluster

FAST = {"Delay": 0.1, "MaxAttempts": 300}  # bounded fast polling, not a fixed sleep


def test_every_state_change_is_announced_to_listeners(emulated_aws, emr):
    runtime = emulated_aws.runtime
    seen: list[tuple[str, ...]] = []

    def listener() -> None:  # runs under the runtime's lock, in the thread that changed it
        seen.append(tuple(sorted(f"{s.id}:{s.state.value}" for c in runtime.clusters()
                                 for s in c.steps)))

    remove = runtime.on_state_change(listener)
    cid = run_cluster(emr)
    emr.get_waiter("cluster_running").wait(ClusterId=cid, WaiterConfig=FAST)
    (sid,) = emr.add_job_flow_steps(JobFlowId=cid, Steps=[ok_step()])["StepIds"]
    emr.get_waiter("step_complete").wait(ClusterId=cid, StepId=sid, WaiterConfig=FAST)
    steps = [s for snapshot in seen for s in snapshot if s.startswith(sid)]
    # The step's RUNNING and COMPLETED were each announced as they happened.
    assert f"{sid}:RUNNING" in steps and f"{sid}:COMPLETED" in steps
    cluster_changes = len(runtime.cluster(cid).history)
    assert len(seen) >= cluster_changes + 2
    remove()
    before = len(seen)
    emr.terminate_job_flows(JobFlowIds=[cid])
    runtime.wait_cluster(cid, timeout=30)
    assert len(seen) == before


def test_a_failing_listener_does_not_break_the_cluster(emulated_aws, emr):
    def broken() -> None:
        raise RuntimeError("listener bug")

    remove = emulated_aws.runtime.on_state_change(broken)
    try:
        cid = run_cluster(emr, steps=[ok_step("job")])
        (sid,) = [s["Id"] for s in emr.list_steps(ClusterId=cid)["Steps"]]
        emr.get_waiter("step_complete").wait(ClusterId=cid, StepId=sid, WaiterConfig=FAST)
    finally:
        remove()

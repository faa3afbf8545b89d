"""Local bounds on waiting (harness.airflow.run_bounds) and how waits are reported: no Airflow."""

from __future__ import annotations

import copy
from datetime import timedelta
from types import SimpleNamespace

import pytest

from harness.airflow.environment import RunSpec
from harness.airflow.progress import WAIT_REPORT_EVERY, Recorder, TaskEvent
from harness.airflow.results import DagRunResult
from harness.airflow.run_bounds import (
    TEARDOWN_GRACE,
    Deadline,
    describe_wait,
    instrument,
    is_job_sensor,
)
from harness.airflow.state_changes import CHANGE_WAIT_MAX
from harness.airflow.worker import killed_result


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Fail(Exception):
    """Stands in for AirflowFailException."""


class BaseSensorOperator(SimpleNamespace):
    poke_interval = 0.2
    mode = "poke"
    answers: list = []

    def poke(self, context):
        return self.answers.pop(0)

    def prepare_for_execution(self):
        return copy.copy(self)


class S3KeySensor(BaseSensorOperator):
    pass


class EmrBaseSensor(BaseSensorOperator):
    @staticmethod
    def state_from_response(response):
        return response["Step"]["Status"]["State"]

    def poke(self, context):
        state = self.state_from_response(self.answers.pop(0))
        return state == "COMPLETED"


class EmrStepSensor(EmrBaseSensor):
    pass


class Operator(SimpleNamespace):
    def prepare_for_execution(self):
        return copy.copy(self)


def test_what_a_sensor_waits_for():
    key = S3KeySensor(task_id="v", bucket_key="s3://b/input/x.csv", bucket_name=None)
    assert describe_wait(key) == "s3://b/input/x.csv (not there)"
    split = S3KeySensor(task_id="v", bucket_key=["a.csv", "/b.csv"], bucket_name="bk",
                        wildcard_match=True)
    assert describe_wait(split) == "s3://bk/a.csv, s3://bk/b.csv (no match)"
    step = EmrStepSensor(task_id="s", job_flow_id="j-1", step_id="s-2")
    assert describe_wait(step, "RUNNING") == "step s-2 on j-1 (RUNNING)"
    assert describe_wait(EmrBaseSensor(task_id="c", job_flow_id="j-1")) == "cluster j-1"
    other = BaseSensorOperator(task_id="t")
    assert describe_wait(other) == "BaseSensorOperator t's condition (poke returned false)"


def test_job_sensors_are_told_apart_from_input_sensors():
    assert is_job_sensor(EmrStepSensor(task_id="s"))
    assert not is_job_sensor(S3KeySensor(task_id="v"))
    assert not is_job_sensor(Operator(task_id="o"))  # not a sensor at all


def test_wrapped_poke_reports_the_rendered_copy_airflow_runs():
    # Airflow runs a shallow copy (prepare_for_execution) whose templates are rendered: the
    # report must describe that copy, not the DAG's template.
    task = S3KeySensor(task_id="v", bucket_key="{{ template }}", bucket_name=None,
                       answers=[False, True])
    waits = []
    instrument([task], on_wait=lambda *a: waits.append(a))
    running = task.prepare_for_execution()
    running.bucket_key = "s3://b/rendered.csv"
    assert running.poke({"task": running}) is False
    assert running.poke({"task": running}) is True  # no report for a poke that succeeded
    assert waits == [("v", "s3://b/rendered.csv (not there)")]


def test_step_sensor_reports_the_step_state_it_read():
    task = EmrStepSensor(task_id="s", job_flow_id="j-1", step_id="s-2", answers=[
        {"Step": {"Status": {"State": "PENDING"}}}, {"Step": {"Status": {"State": "RUNNING"}}}])
    waits = []
    instrument([task], on_wait=lambda *a: waits.append(a[1]))
    assert not task.poke({"task": task}) and not task.poke({"task": task})
    assert waits == ["step s-2 on j-1 (PENDING)", "step s-2 on j-1 (RUNNING)"]


def test_a_sensor_still_waiting_at_the_deadline_fails_naming_what_it_waited_for():
    clock = Clock()
    deadline = Deadline(10, clock=clock, fail_with=Fail)
    task = S3KeySensor(task_id="v", bucket_key="s3://b/k", bucket_name=None,
                       answers=[False, False])
    instrument([task], on_wait=lambda *a: None, deadline=deadline)
    assert task.poke({"task": task}) is False  # within the budget
    clock.now += 10.5
    with pytest.raises(Fail, match=r"10 s budget was used up after 10.5 s, still waiting for "
                                   r"s3://b/k \(not there\)"):
        task.poke({"task": task})
    assert deadline.hit == {"task_id": "v", "waiting_for": "s3://b/k (not there)",
                            "elapsed": 10.5}


def test_tasks_get_the_budget_left_teardowns_a_grace_past_it():
    clock = Clock()
    deadline = Deadline(60, clock=clock, fail_with=Fail)
    work = Operator(task_id="w", execution_timeout=timedelta(minutes=10), is_teardown=False)
    short = Operator(task_id="s", execution_timeout=timedelta(seconds=5), is_teardown=False)
    unset = Operator(task_id="u", execution_timeout=None, is_teardown=False)
    teardown = Operator(task_id="t", execution_timeout=timedelta(minutes=10), is_teardown=True)
    instrument([work, short, unset, teardown], on_wait=lambda *a: None, deadline=deadline)
    clock.now += 20
    assert work.prepare_for_execution().execution_timeout == timedelta(seconds=40)
    assert short.prepare_for_execution().execution_timeout == timedelta(seconds=5)
    assert unset.prepare_for_execution().execution_timeout == timedelta(seconds=40)
    assert work.execution_timeout == timedelta(minutes=10)  # the DAG's task is left alone
    clock.now += 50  # past the deadline: new work fails at once (no retry), cleanup still runs
    with pytest.raises(Fail, match="before w could finish"):
        work.prepare_for_execution()
    assert teardown.prepare_for_execution().execution_timeout == timedelta(
        seconds=TEARDOWN_GRACE - 10)


def test_no_deadline_leaves_execution_timeouts_alone():
    work = Operator(task_id="w", execution_timeout=None)
    assert instrument([work], on_wait=lambda *a: None) == []
    assert "prepare_for_execution" not in vars(work)


def test_waiting_events_are_throttled_but_changes_show_at_once():
    clock = Clock()
    seen = []
    rec = Recorder(progress=seen.append, clock=clock)
    rec.running("s", 1)
    for _ in range(10):  # ten pokes 0.2 s apart: one line
        clock.now += 0.2
        rec.waiting("s", "step s-1 on j-1 (PENDING)")
    rec.waiting("s", "step s-1 on j-1 (RUNNING)")  # the state changed
    clock.now += WAIT_REPORT_EVERY
    rec.waiting("s", "step s-1 on j-1 (RUNNING)")  # still running: a reminder
    rec.finished("s", "success", 1)
    assert [(e.state, e.detail) for e in seen] == [
        ("running", None),
        ("waiting", "step s-1 on j-1 (PENDING)"),
        ("waiting", "step s-1 on j-1 (RUNNING)"),
        ("waiting", "step s-1 on j-1 (RUNNING)"),
        ("success", None),
    ]
    assert rec.waits == {"s": "step s-1 on j-1 (RUNNING)"}
    assert str(seen[3]) == (
        "    ...  s                        waiting for step s-1 on j-1 (RUNNING) [7 s]")
    # A waiting event does not close the task: a deferred task resuming is not "running" again.
    rec.running("d", 1)
    rec.waiting("d", "x")
    rec.current = None
    rec.running("d", 1)
    assert [e.state for e in seen if e.task_id == "d"] == ["running", "waiting"]


def spec(**kw):
    base = dict(dag_id="d", dags_folder="dags", endpoint_url=None, region="us-east-1",
                conn_id="aws_default", variables={}, extra_env={}, poke_interval=0.2,
                deferrable=False, sensor_timeout=None, retries=None, conf=None,
                echo_logs=False, timeout=60.0)
    base.update(kw)
    return RunSpec(**base)


def test_a_killed_worker_is_reported_from_its_progress_events():
    events = [TaskEvent("v", "running", try_number=1), TaskEvent("v", "success", 1.0),
              TaskEvent("s", "running", try_number=1),
              TaskEvent("s", "waiting", 5.0, detail="step s-1 on j-1 (RUNNING)")]
    result = killed_result(spec(), events, 91.0)
    assert result.state == "failed" and not result.ok
    assert result.task_states == {"v": "success", "s": "failed"}
    assert result.timed_out == {"timeout": 60.0, "elapsed": 91.0, "task_id": "s",
                                "waiting_for": "step s-1 on j-1 (RUNNING)",
                                "how": "worker killed"}
    report = result.failure_report()
    assert "run timed out: the 60 s budget (--timeout) was used up after 91.0 s while s was " \
           "running, waiting for step s-1 on j-1 (RUNNING)" in report
    assert "failed task: s" in report and "was waiting for: step s-1 on j-1 (RUNNING)" in report


def test_failure_report_names_what_a_failed_sensor_waited_for():
    result = DagRunResult(dag_id="d", run_id="r", state="failed",
                          task_states={"v": "failed"}, durations={}, xcoms={},
                          errors={"v": "AirflowSensorTimeout: Sensor has timed out"},
                          waits={"v": "s3://b/input/x.csv (not there)"})
    assert "    was waiting for: s3://b/input/x.csv (not there)" in result.failure_report()


def test_cli_bounds_parse_and_reject_nonsense(capsys):
    import argparse

    from harness.cli.run import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--timeout", "90", "--sensor-timeout", "5"])
    assert (args.timeout, args.sensor_timeout) == (90.0, 5.0)
    assert parser.parse_args([]).timeout is None  # unbounded unless asked
    for bad in ("0", "-3", "abc", "inf", "nan"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--timeout", bad])
        assert "expected a positive number of seconds" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [0, -1, float("inf")])
def test_run_dag_rejects_a_timeout_that_is_not_a_positive_duration(bad):
    from harness.airflow.dag_runner import run_dag

    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        run_dag("x", timeout=bad)


def test_a_reused_dag_object_loses_an_earlier_runs_deadline():
    work = Operator(task_id="w", execution_timeout=None)
    instrument([work], on_wait=lambda *a: None, deadline=Deadline(5, fail_with=Fail))
    instrument([work], on_wait=lambda *a: None)
    assert work.prepare_for_execution().execution_timeout is None


class Changes:
    """Stands in for state_changes.StateChanges: records the calls, answers ``changed``."""

    def __init__(self, changed: bool = False) -> None:
        self.calls: list = []
        self.changed = changed

    def clear(self):
        self.calls.append("clear")

    def wait(self, timeout):
        self.calls.append(("wait", timeout))
        return self.changed


def test_a_step_sensor_waits_for_the_emulators_next_change_after_a_false_poke():
    task = EmrStepSensor(task_id="s", job_flow_id="j-1", step_id="s-2", answers=[
        {"Step": {"Status": {"State": "RUNNING"}}}, {"Step": {"Status": {"State": "COMPLETED"}}}])
    changes = Changes()
    lines = instrument([task], on_wait=lambda *a: None, changes=changes)
    assert lines == [f"s.poke: reports what it waits for; waits up to {CHANGE_WAIT_MAX:g} s "
                     "for the emulator's next EMR state change between pokes"]
    assert task.poke({"task": task}) is False
    # Cleared before the poke (a change during it ends the wait), waited for after it.
    assert changes.calls == ["clear", ("wait", CHANGE_WAIT_MAX)]
    assert task.poke({"task": task}) is True
    assert changes.calls[2:] == ["clear"]  # no wait after the poke that succeeded


def test_the_change_wait_stops_at_the_runs_deadline():
    clock = Clock()
    deadline = Deadline(10, clock=clock, fail_with=Fail)
    task = EmrStepSensor(task_id="s", job_flow_id="j-1", step_id="s-2",
                         answers=[{"Step": {"Status": {"State": "RUNNING"}}}])
    changes = Changes()
    instrument([task], on_wait=lambda *a: None, deadline=deadline, changes=changes)
    clock.now += 9.5
    assert task.poke({"task": task}) is False
    assert changes.calls[-1] == ("wait", pytest.approx(0.5))


def test_sensors_of_other_state_keep_their_fixed_poll():
    # The emulator signals EMR state only: an S3 key appearing would not end the wait.
    task = S3KeySensor(task_id="v", bucket_key="s3://b/k", bucket_name=None, answers=[False])
    changes = Changes()
    assert instrument([task], on_wait=lambda *a: None, changes=changes) == [
        "v.poke: reports what it waits for"]
    assert task.poke({"task": task}) is False
    assert changes.calls == []

"""Local bounds on waiting, and what a waiting task waits for.

A local run must not sit silent for the ten minutes a production sensor may wait. Three pieces,
all applied from outside the DAG (on the loaded DAG's task objects, never in the DAG file):

* **Which sensors wait for data** (``is_job_sensor``): sensors that follow a running job (the EMR
  step sensor and its kin) keep the DAG's own timeout, long enough for a real Spark step; every
  other sensor waits for something to *appear* (S3KeySensor and friends) and gets a local bound
  of ``INPUT_SENSOR_TIMEOUT`` seconds (``plan_overrides`` in ``harness.airflow.dag_runner``).
* **What a sensor is waiting for** (``describe_wait``, pure): ``s3://bucket/key (not there)``,
  ``step s-X on j-Y (RUNNING)``, or a generic line for other sensors.
* **Instrumenting the tasks** (``instrument``): each sensor's ``poke`` is wrapped so that after
  a poke that returned false, ``on_wait(task_id, description)`` is called; with a ``Deadline``,
  a sensor that is still waiting when the run's budget is used up fails at once
  (``AirflowFailException``: no retry), and every other task's ``execution_timeout`` is capped to
  what is left of the budget when it starts. Teardowns are exempt (they clean up, e.g. terminate
  the cluster): they get ``TEARDOWN_GRACE`` seconds past the deadline.
  Given the emulator's state-change signal (``harness.airflow.state_changes``), an EMR sensor
  then waits for the next EMR state change (at most ``CHANGE_WAIT_MAX`` s) before Airflow's own
  ``poke_interval`` sleep and the next poke, instead of polling every ``poke_interval``.

Airflow copies a task right before running it (``prepare_for_execution``, a shallow copy) and
renders templates on the copy; the wrappers are instance attributes, copied with it, and act on
the task found in ``context["task"]`` (the rendered copy), not on the object they were put on.

Airflow is imported only when a deadline fires (to raise its ``AirflowFailException``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from harness.airflow.state_changes import CHANGE_WAIT_MAX, SIGNALLED_SENSOR_CLASSES, StateChanges

__all__ = [
    "INPUT_SENSOR_TIMEOUT",
    "JOB_SENSOR_CLASSES",
    "TEARDOWN_GRACE",
    "Deadline",
    "describe_wait",
    "instrument",
    "is_job_sensor",
]

#: Seconds an input sensor (waits for data to appear) waits locally unless told otherwise.
INPUT_SENSOR_TIMEOUT = 30.0
#: Sensors (class names anywhere in the MRO) that follow a running job: they keep their own
#: timeout (a real Spark step may take minutes); bound them with a whole-run timeout instead.
JOB_SENSOR_CLASSES = (
    "EmrBaseSensor",  # the base of the three below
    "EmrStepSensor",
    "EmrJobFlowSensor",
    "EmrNotebookExecutionSensor",
    "EmrContainerSensor",
    "EmrServerlessJobSensor",
    "EmrServerlessApplicationSensor",
)
#: Seconds a teardown may still run once the run's budget is used up (it cleans up).
TEARDOWN_GRACE = 30.0
#: A sensor's execution_timeout is the budget left plus this: the poke check (with the better
#: message) fires first; the execution timeout only stops a poke that hangs.
SENSOR_BACKSTOP = 10.0


def class_names(task: Any) -> set[str]:
    return {c.__name__ for c in type(task).__mro__}


def is_sensor(task: Any) -> bool:
    return hasattr(task, "poke_interval") and hasattr(task, "mode")


def is_job_sensor(task: Any) -> bool:
    return is_sensor(task) and bool(class_names(task) & set(JOB_SENSOR_CLASSES))


def _s3_urls(task: Any) -> list[str]:
    keys = task.bucket_key
    keys = [keys] if isinstance(keys, str) else list(keys or [])
    bucket = getattr(task, "bucket_name", None)
    return [k if "://" in k or not bucket else f"s3://{bucket}/{k.lstrip('/')}" for k in keys]


def describe_wait(task: Any, state: str | None = None) -> str:
    """What ``task`` waits for after a poke that returned false (``state``: the job's state)."""
    if hasattr(task, "bucket_key"):
        how = "no match" if getattr(task, "wildcard_match", False) else "not there"
        return f"{', '.join(_s3_urls(task)) or '(no key)'} ({how})"
    suffix = f" ({state})" if state else ""
    if getattr(task, "step_id", None) and getattr(task, "job_flow_id", None):
        return f"step {task.step_id} on {task.job_flow_id}{suffix}"
    if getattr(task, "job_flow_id", None):
        return f"cluster {task.job_flow_id}{suffix}"
    kind = next((n for n in type(task).__mro__ if "Sensor" in n.__name__), type(task)).__name__
    return f"{kind} {task.task_id}'s condition{suffix or ' (poke returned false)'}"


def airflow_fail(message: str) -> BaseException:
    """Airflow's no-retry failure (imported late: this module is importable without Airflow)."""
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(message)


@dataclass
class Deadline:
    """The whole run's time budget: ``seconds`` from its creation (``clock``: monotonic)."""

    seconds: float
    clock: Callable[[], float] = time.monotonic
    fail_with: Callable[[str], BaseException] = airflow_fail
    start: float = field(init=False)
    #: Set when the deadline stopped a task: {"task_id", "waiting_for", "elapsed"}.
    hit: dict[str, Any] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.start = self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.start

    def remaining(self) -> float:
        return self.seconds - self.elapsed()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def stop(self, task_id: str, waiting_for: str | None) -> BaseException:
        """Record the (first) hit; the exception that fails ``task_id`` without a retry."""
        elapsed = self.elapsed()
        if self.hit is None:
            self.hit = {"task_id": task_id, "waiting_for": waiting_for, "elapsed": elapsed}
        message = f"run timeout: the run's {self.seconds:g} s budget was used up after " \
                  f"{elapsed:.1f} s"
        message += f", still waiting for {waiting_for}" if waiting_for else \
            f", before {task_id} could finish"
        return self.fail_with(message)


def _capped(current: timedelta | None, seconds: float) -> timedelta:
    # A budget already spent still needs a positive value: Airflow fails 0 at once (a timeout
    # that retries); the prepare hook fails those tasks first, without a retry.
    cap = timedelta(seconds=max(seconds, 0.001))
    return cap if current is None else min(current, cap)


def instrument(
    tasks: Iterable[Any],
    *,
    on_wait: Callable[[str, str], Any],
    deadline: Deadline | None = None,
    changes: StateChanges | None = None,
) -> list[str]:
    """Wrap the tasks' ``poke`` / ``prepare_for_execution`` as described in the module doc.

    ``changes``: the emulator's state-change signal; EMR sensors it covers wait for a change
    (at most ``CHANGE_WAIT_MAX`` s) after a false poke (``harness.airflow.state_changes``).
    Returns one line per instrumented task (for ``DagRunResult.overrides``).
    """
    done = []
    for task in tasks:
        if is_sensor(task) and callable(getattr(type(task), "poke", None)):
            signalled = changes is not None and bool(class_names(task)
                                                     & set(SIGNALLED_SENSOR_CLASSES))
            _wrap_poke(task, on_wait, deadline, changes if signalled else None)
            done.append(f"{task.task_id}.poke: reports what it waits for"
                        + (f"; waits up to {CHANGE_WAIT_MAX:g} s for the emulator's next EMR "
                           "state change between pokes" if signalled else ""))
        if deadline is not None and hasattr(type(task), "prepare_for_execution"):
            _wrap_prepare(task, deadline)
            done.append(f"{task.task_id}.execution_timeout: capped to the run's budget left")
        elif "prepare_for_execution" in vars(task):
            del task.prepare_for_execution  # an earlier run's deadline on a reused DAG object
    return done


def _wrap_poke(task: Any, on_wait: Callable[[str, str], Any], deadline: Deadline | None,
               changes: StateChanges | None = None) -> None:  # fmt: skip
    poke = type(task).poke
    # The job's last state, read where the provider reads it (a staticmethod called on self).
    last_state: dict[str, str] = {}
    state_of = getattr(type(task), "state_from_response", None)
    if callable(state_of):

        def state_from_response(response: Any) -> str:
            state = state_of(response)
            last_state["state"] = state
            return state

        task.state_from_response = state_from_response

    def wrapped(context: Any) -> Any:
        current = context.get("task", task) if hasattr(context, "get") else task
        if changes is not None:
            changes.clear()  # a change from now on, even during the poke, ends the wait below
        result = poke(current, context)
        if not result:
            waiting_for = describe_wait(current, last_state.get("state"))
            on_wait(current.task_id, waiting_for)
            if deadline is not None and deadline.expired():
                raise deadline.stop(current.task_id, waiting_for)
            if changes is not None:
                limit = CHANGE_WAIT_MAX if deadline is None else \
                    min(CHANGE_WAIT_MAX, deadline.remaining())
                changes.wait(limit)  # then Airflow sleeps poke_interval and pokes again
        return result

    task.poke = wrapped


def _wrap_prepare(task: Any, deadline: Deadline) -> None:
    prepare = type(task).prepare_for_execution
    teardown = bool(getattr(task, "is_teardown", False))
    sensor = is_sensor(task)

    def wrapped() -> Any:
        copy = prepare(task)
        left = deadline.remaining()
        if teardown:
            copy.execution_timeout = _capped(copy.execution_timeout, left + TEARDOWN_GRACE)
        elif left <= 0:
            raise deadline.stop(task.task_id, None)
        else:
            extra = SENSOR_BACKSTOP if sensor else 0.0
            copy.execution_timeout = _capped(copy.execution_timeout, left + extra)
        return copy

    task.prepare_for_execution = wrapped

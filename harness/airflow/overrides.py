"""Local timing planned from outside the DAG file: the attribute changes that make a DAG's
tasks fast locally (``plan_overrides``, pure) and applying them to a loaded DAG.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from harness.airflow import run_bounds

__all__ = ["DEFAULT_POKE_INTERVAL", "Override", "STEP_SENSOR_CLASSES", "apply_overrides",
           "plan_overrides"]


DEFAULT_POKE_INTERVAL = 0.2
#: Class names (anywhere in a task's MRO) that `deferrable=True` switches to deferrable.
STEP_SENSOR_CLASSES = ("EmrStepSensor",)


@dataclass(frozen=True)
class Override:
    task_id: str
    attr: str
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.task_id}.{self.attr}: {self.old!r} -> {self.new!r}"


_class_names = run_bounds.class_names
_is_sensor = run_bounds.is_sensor


def plan_overrides(
    tasks: Iterable[Any],
    *,
    poke_interval: float = DEFAULT_POKE_INTERVAL,
    deferrable: bool = False,
    sensor_timeout: float | Mapping[str, float] | None = None,
    retries: int | None = None,
) -> list[Override]:
    """The attribute changes that make a DAG's tasks fast locally (pure: nothing is applied).

    Sensors: ``poke_interval`` lowered to ``poke_interval``, ``mode`` reschedule -> poke,
    ``exponential_backoff`` off, ``deferrable`` off, except EMR step sensors when ``deferrable``
    is true: those become deferrable with a whole-second interval (their trigger's ``waiter_delay``
    is ``int(poke_interval)``) and ``max_attempts`` covering their timeout.
    Timeouts: input sensors (any sensor but a job sensor, ``run_bounds.is_job_sensor``) wait at
    most ``run_bounds.INPUT_SENSOR_TIMEOUT`` s; job sensors keep the DAG's timeout.
    ``sensor_timeout`` changes that: one value replaces input sensors' timeout (job sensors keep
    theirs), a mapping sets the timeout of the sensors it names (any kind) by task id.
    Every task: ``retry_delay`` 0, no exponential backoff, ``retries`` replaced when given;
    operators that wait with a boto waiter get ``waiter_delay`` of at most 1 s.
    """
    plan: list[Override] = []

    def want(task: Any, attr: str, new: Any) -> None:
        if not hasattr(task, attr):
            return
        old = getattr(task, attr)
        if old != new:
            plan.append(Override(task.task_id, attr, old, new))

    for task in tasks:
        if _is_sensor(task):
            timeout = task.timeout
            job_sensor = run_bounds.is_job_sensor(task)
            if not job_sensor:
                timeout = min(float(timeout), run_bounds.INPUT_SENSOR_TIMEOUT)
            if isinstance(sensor_timeout, Mapping):
                timeout = sensor_timeout.get(task.task_id, timeout)
            elif sensor_timeout is not None and not job_sensor:
                timeout = sensor_timeout
            want(task, "timeout", timeout)
            step_sensor = bool(_class_names(task) & set(STEP_SENSOR_CLASSES))
            if deferrable and step_sensor:
                interval = max(1, math.ceil(poke_interval))
                want(task, "deferrable", True)
                want(task, "poke_interval", interval)
                if hasattr(task, "max_attempts") and timeout:
                    want(task, "max_attempts", max(1, math.ceil(float(timeout) / interval)))
            else:
                want(task, "deferrable", False)
                want(task, "poke_interval", min(float(task.poke_interval), poke_interval))
            want(task, "mode", "poke")
            want(task, "exponential_backoff", False)
        else:
            want(task, "deferrable", False)
            if isinstance(getattr(task, "waiter_delay", None), (int, float)):
                want(task, "waiter_delay", min(task.waiter_delay, max(1, math.ceil(poke_interval))))
        want(task, "retry_delay", timedelta(0))
        want(task, "retry_exponential_backoff", False)
        if retries is not None:
            want(task, "retries", retries)
    return plan


def apply_overrides(dag: Any, plan: Iterable[Override]) -> None:
    for o in plan:
        setattr(dag.get_task(o.task_id), o.attr, o.new)

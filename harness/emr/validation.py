"""Input checks the EMR API makes and moto does not, with EMR's error codes and messages.

Pure logic (moto's exception classes carry the AWS error code): unit-tested without a server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "MAX_IDLE_TIMEOUT",
    "MAX_STEP_CONCURRENCY",
    "MIN_IDLE_TIMEOUT",
    "check_auto_termination_policy",
    "check_concurrency_level",
    "check_security_configuration",
    "check_steps_for_concurrency",
]

#: StepConcurrencyLevel bounds (EMR API reference: RunJobFlow, ModifyCluster).
MAX_STEP_CONCURRENCY = 256
#: AutoTerminationPolicy.IdleTimeout bounds in seconds (botocore's EMR model documents them).
MIN_IDLE_TIMEOUT, MAX_IDLE_TIMEOUT = 60, 604800

#: With StepConcurrencyLevel > 1 EMR refuses AddJobFlowSteps for steps with these actions.
_SERIAL_ONLY = ("CANCEL_AND_WAIT", "TERMINATE_CLUSTER", "TERMINATE_JOB_FLOW")


def _validation(message: str) -> Exception:
    from moto.emr.exceptions import ValidationException

    return ValidationException(message)


def check_concurrency_level(level: Any) -> int:
    if isinstance(level, bool) or not isinstance(level, int) or not (
        1 <= level <= MAX_STEP_CONCURRENCY
    ):
        raise _validation(
            f"StepConcurrencyLevel {level!r} is not valid: it must be an integer from 1 to "
            f"{MAX_STEP_CONCURRENCY}."
        )
    return level


def check_steps_for_concurrency(steps: Iterable[Mapping[str, Any]], level: int) -> None:
    """EMR: with StepConcurrencyLevel > 1, a step whose ActionOnFailure is CANCEL_AND_WAIT or
    TERMINATE_CLUSTER is not submitted (omitted ActionOnFailure means TERMINATE_CLUSTER)."""
    if level <= 1:
        return
    for step in steps:
        action = step.get("ActionOnFailure") or "TERMINATE_CLUSTER"
        if action in _SERIAL_ONLY:
            raise _validation(
                f"The ActionOnFailure setting {action} of step {step.get('Name', '')!r} is not "
                f"valid: the cluster's StepConcurrencyLevel is {level}, and with more than one "
                "step at a time only CONTINUE is allowed."
            )


def check_auto_termination_policy(policy: Mapping[str, Any]) -> dict[str, int]:
    timeout = policy.get("IdleTimeout")
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not (
        MIN_IDLE_TIMEOUT <= timeout <= MAX_IDLE_TIMEOUT
    ):
        raise _validation(
            f"AutoTerminationPolicy IdleTimeout {timeout!r} is not valid: it must be from "
            f"{MIN_IDLE_TIMEOUT} to {MAX_IDLE_TIMEOUT} seconds."
        )
    return {"IdleTimeout": timeout}


def check_security_configuration(name: str | None, known: Iterable[str]) -> None:
    if name and name not in set(known):
        raise _validation(f"Security configuration with name '{name}' does not exist.")

"""EMR cluster and step lifecycles as enums with explicit transition tables.

Pure logic: no I/O, no threads. The runtime asks `advance()` for every move, so an illegal
move (a TERMINATED cluster going back to RUNNING, a COMPLETED step being cancelled) raises
instead of silently corrupting what DescribeCluster/DescribeStep report.

Codes and messages follow the Amazon EMR API reference (ClusterStateChangeReason,
StepStateChangeReason, FailureDetails).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ActionOnFailure",
    "ClusterReason",
    "ClusterState",
    "IllegalTransitionError",
    "StepState",
    "advance",
]


class IllegalTransitionError(RuntimeError):
    """A state machine was asked for a move its table does not allow."""


class ClusterState(StrEnum):
    STARTING = "STARTING"
    BOOTSTRAPPING = "BOOTSTRAPPING"
    RUNNING = "RUNNING"
    WAITING = "WAITING"
    TERMINATING = "TERMINATING"
    TERMINATED = "TERMINATED"
    TERMINATED_WITH_ERRORS = "TERMINATED_WITH_ERRORS"

    @property
    def is_terminal(self) -> bool:
        return self in (ClusterState.TERMINATED, ClusterState.TERMINATED_WITH_ERRORS)

    @property
    def is_active(self) -> bool:
        """What `aws emr list-clusters --active` lists."""
        return not self.is_terminal

    @property
    def accepts_steps(self) -> bool:
        return self not in (ClusterState.TERMINATING, *TERMINAL_CLUSTER_STATES)


TERMINAL_CLUSTER_STATES = (ClusterState.TERMINATED, ClusterState.TERMINATED_WITH_ERRORS)


class StepState(StrEnum):
    PENDING = "PENDING"
    CANCEL_PENDING = "CANCEL_PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"
    INTERRUPTED = "INTERRUPTED"

    @property
    def is_terminal(self) -> bool:
        return self in (
            StepState.COMPLETED,
            StepState.CANCELLED,
            StepState.FAILED,
            StepState.INTERRUPTED,
        )


class ActionOnFailure(StrEnum):
    TERMINATE_CLUSTER = "TERMINATE_CLUSTER"
    TERMINATE_JOB_FLOW = "TERMINATE_JOB_FLOW"  # legacy spelling of TERMINATE_CLUSTER
    CANCEL_AND_WAIT = "CANCEL_AND_WAIT"
    CONTINUE = "CONTINUE"

    @classmethod
    def parse(cls, value: str | None) -> ActionOnFailure:
        # AWS defaults to TERMINATE_CLUSTER when the field is omitted.
        return cls(value or cls.TERMINATE_CLUSTER.value)

    @property
    def terminates_cluster(self) -> bool:
        return self in (ActionOnFailure.TERMINATE_CLUSTER, ActionOnFailure.TERMINATE_JOB_FLOW)

    @property
    def cancels_pending(self) -> bool:
        """On failure, does the rest of the queue get cancelled? (AWS: all but CONTINUE)."""
        return self is not ActionOnFailure.CONTINUE


class ClusterReason(StrEnum):
    """ClusterStateChangeReasonCode, with the message AWS shows for each."""

    INTERNAL_ERROR = "INTERNAL_ERROR"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    INSTANCE_FAILURE = "INSTANCE_FAILURE"
    INSTANCE_FLEET_TIMEOUT = "INSTANCE_FLEET_TIMEOUT"
    BOOTSTRAP_FAILURE = "BOOTSTRAP_FAILURE"
    USER_REQUEST = "USER_REQUEST"
    STEP_FAILURE = "STEP_FAILURE"
    ALL_STEPS_COMPLETED = "ALL_STEPS_COMPLETED"

    @property
    def default_message(self) -> str:
        return _REASON_MESSAGES[self]

    @property
    def is_error(self) -> bool:
        """Whether a cluster ending for this reason ends TERMINATED_WITH_ERRORS."""
        return self not in (ClusterReason.USER_REQUEST, ClusterReason.ALL_STEPS_COMPLETED)


_REASON_MESSAGES = {
    ClusterReason.INTERNAL_ERROR: "Internal error",
    ClusterReason.VALIDATION_ERROR: "Validation error",
    ClusterReason.INSTANCE_FAILURE: "Instance failure",
    ClusterReason.INSTANCE_FLEET_TIMEOUT: "Instance fleet provisioning timed out",
    ClusterReason.BOOTSTRAP_FAILURE: "Bootstrap failure",
    ClusterReason.USER_REQUEST: "Terminated by user request",
    ClusterReason.STEP_FAILURE: "Shut down as step failed",
    ClusterReason.ALL_STEPS_COMPLETED: "Steps completed",
}

_C = ClusterState
CLUSTER_TRANSITIONS: dict[ClusterState, frozenset[ClusterState]] = {
    _C.STARTING: frozenset({_C.BOOTSTRAPPING, _C.TERMINATING}),
    _C.BOOTSTRAPPING: frozenset({_C.RUNNING, _C.WAITING, _C.TERMINATING}),
    _C.RUNNING: frozenset({_C.WAITING, _C.TERMINATING}),
    _C.WAITING: frozenset({_C.RUNNING, _C.TERMINATING}),
    _C.TERMINATING: frozenset({_C.TERMINATED, _C.TERMINATED_WITH_ERRORS}),
    _C.TERMINATED: frozenset(),
    _C.TERMINATED_WITH_ERRORS: frozenset(),
}

_S = StepState
STEP_TRANSITIONS: dict[StepState, frozenset[StepState]] = {
    _S.PENDING: frozenset({_S.RUNNING, _S.CANCEL_PENDING, _S.CANCELLED}),
    _S.CANCEL_PENDING: frozenset({_S.CANCELLED}),
    _S.RUNNING: frozenset({_S.COMPLETED, _S.FAILED, _S.CANCELLED, _S.INTERRUPTED}),
    _S.COMPLETED: frozenset(),
    _S.CANCELLED: frozenset(),
    _S.FAILED: frozenset(),
    _S.INTERRUPTED: frozenset(),
}


def advance(
    current: ClusterState | StepState, target: ClusterState | StepState
) -> ClusterState | StepState:
    """Return `target` if the table allows `current -> target`, else raise."""
    moves: frozenset[ClusterState] | frozenset[StepState] = (
        CLUSTER_TRANSITIONS[current]
        if isinstance(current, ClusterState)
        else STEP_TRANSITIONS[current]
    )
    if type(target) is not type(current) or target not in moves:
        allowed = ", ".join(sorted(s.value for s in moves)) or "nothing (terminal)"
        raise IllegalTransitionError(
            f"{type(current).__name__}: illegal move {current.value} -> "
            f"{getattr(target, 'value', target)}; from {current.value} allowed: {allowed}"
        )
    return target

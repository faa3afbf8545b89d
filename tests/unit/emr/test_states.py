import pytest

from harness.emr.states import (
    ActionOnFailure,
    ClusterReason,
    ClusterState,
    IllegalTransitionError,
    StepState,
    advance,
)

C, S = ClusterState, StepState


@pytest.mark.parametrize(
    "path",
    [
        [C.STARTING, C.BOOTSTRAPPING, C.WAITING, C.RUNNING, C.WAITING, C.TERMINATING, C.TERMINATED],
        [C.STARTING, C.TERMINATING, C.TERMINATED_WITH_ERRORS],
        [C.STARTING, C.BOOTSTRAPPING, C.TERMINATING, C.TERMINATED_WITH_ERRORS],
        [C.STARTING, C.BOOTSTRAPPING, C.RUNNING, C.TERMINATING, C.TERMINATED],
    ],
)
def test_cluster_paths_allowed(path):
    state = path[0]
    for nxt in path[1:]:
        state = advance(state, nxt)
    assert state is path[-1]


@pytest.mark.parametrize(
    "current,target",
    [
        (C.TERMINATED, C.RUNNING),
        (C.TERMINATED_WITH_ERRORS, C.TERMINATED),
        (C.STARTING, C.RUNNING),
        (C.WAITING, C.TERMINATED),
        (C.TERMINATING, C.WAITING),
    ],
)
def test_illegal_cluster_moves_raise(current, target):
    with pytest.raises(IllegalTransitionError, match=f"{current.value} -> {target.value}"):
        advance(current, target)


@pytest.mark.parametrize(
    "current,target",
    [(S.COMPLETED, S.CANCELLED), (S.PENDING, S.COMPLETED), (S.FAILED, S.RUNNING),
     (S.CANCELLED, S.PENDING)],
)  # fmt: skip
def test_illegal_step_moves_raise(current, target):
    with pytest.raises(IllegalTransitionError):
        advance(current, target)


def test_step_moves():
    assert advance(S.PENDING, S.RUNNING) is S.RUNNING
    assert advance(S.PENDING, S.CANCELLED) is S.CANCELLED
    for end in (S.COMPLETED, S.FAILED, S.CANCELLED):
        assert advance(S.RUNNING, end) is end


def test_mixing_machines_raises():
    with pytest.raises(IllegalTransitionError):
        advance(C.STARTING, S.RUNNING)


def test_terminal_and_active():
    assert {s for s in C if s.is_terminal} == {C.TERMINATED, C.TERMINATED_WITH_ERRORS}
    assert C.WAITING.is_active and not C.TERMINATED.is_active
    assert not C.TERMINATING.accepts_steps and C.STARTING.accepts_steps
    assert {s for s in S if s.is_terminal} == {S.COMPLETED, S.CANCELLED, S.FAILED, S.INTERRUPTED}


def test_action_on_failure():
    assert ActionOnFailure.parse(None) is ActionOnFailure.TERMINATE_CLUSTER
    assert ActionOnFailure.parse("TERMINATE_JOB_FLOW").terminates_cluster
    assert ActionOnFailure.CANCEL_AND_WAIT.cancels_pending
    assert not ActionOnFailure.CANCEL_AND_WAIT.terminates_cluster
    assert not ActionOnFailure.CONTINUE.cancels_pending
    with pytest.raises(ValueError):
        ActionOnFailure.parse("EXPLODE")


def test_reasons():
    assert not ClusterReason.USER_REQUEST.is_error
    assert not ClusterReason.ALL_STEPS_COMPLETED.is_error
    assert ClusterReason.STEP_FAILURE.is_error and ClusterReason.BOOTSTRAP_FAILURE.is_error
    assert ClusterReason.USER_REQUEST.default_message == "Terminated by user request"

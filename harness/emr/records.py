"""What the runtime knows about each cluster and step: plain records, no behaviour.

moto's objects (`moto`) stay the API's view; these records hold the runtime's own truth
(enum states, history, cancel events) next to them.
"""

from __future__ import annotations

import datetime as _dt
import threading
from dataclasses import dataclass, field
from typing import Any

from harness.emr.states import ActionOnFailure, ClusterReason, ClusterState, StepState

__all__ = ["ClusterRun", "LifecycleDelays", "StepRun", "utcnow"]


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


@dataclass(frozen=True)
class LifecycleDelays:
    """Seconds spent in each transitional cluster state (0 = as fast as possible).

    Non-zero values help tests and demos that want to watch STARTING or BOOTSTRAPPING; they
    are interruptible waits, never fixed sleeps.
    """

    starting: float = 0.0
    bootstrapping: float = 0.0
    terminating: float = 0.0


@dataclass
class StepRun:
    moto: Any  # moto.emr.models.Step
    cluster_id: str
    index: int
    action_on_failure: ActionOnFailure
    state: StepState = StepState.PENDING
    cancel_event: threading.Event = field(default_factory=threading.Event)
    failure: dict[str, str] | None = None
    exit_code: int | None = None

    @property
    def id(self) -> str:
        return self.moto.id

    @property
    def name(self) -> str:
        return self.moto.name


@dataclass
class ClusterRun:
    moto: Any  # moto.emr.models.Cluster
    state: ClusterState = ClusterState.STARTING
    reason: ClusterReason | None = None
    reason_message: str | None = None
    steps: list[StepRun] = field(default_factory=list)
    history: list[tuple[ClusterState, str | None, _dt.datetime]] = field(default_factory=list)
    thread: threading.Thread | None = None
    any_step_failed: bool = False
    #: the `app/<id>` of the RunJobFlow request's User-Agent (botocore's `user_agent_appid`,
    #: `AWS_SDK_UA_APP_ID`): who created the cluster, e.g. one `run_dag` call
    app_id: str | None = None

    @property
    def id(self) -> str:
        return self.moto.id

    @property
    def keep_alive(self) -> bool:
        return bool(self.moto.keep_job_flow_alive_when_no_steps)

    def next_pending(self) -> StepRun | None:
        return next((s for s in self.steps if s.state is StepState.PENDING), None)

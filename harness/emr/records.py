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
    #: Local seconds per EMR second for the timers EMR runs on its own clock
    #: (AutoTerminationPolicy's IdleTimeout): the default makes EMR's minimum, 60 s idle,
    #: 0.6 s here. 1.0 keeps EMR's timing.
    time_factor: float = 0.01


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
    #: set when the cluster is asked to terminate: stops a running bootstrap action
    cancel_event: threading.Event = field(default_factory=threading.Event)
    #: the threads of the steps running now (StepConcurrencyLevel of them at most)
    step_threads: dict[str, threading.Thread] = field(default_factory=dict)
    #: monotonic time the cluster last became idle (WAITING, nothing running or pending)
    idle_since: float | None = None

    @property
    def id(self) -> str:
        return str(self.moto.id)

    @property
    def terminating(self) -> bool:
        """Asked to terminate. A method, not a comparison at the call site: other threads
        change `state` while the lifecycle thread waits, which a type checker cannot see."""
        return self.state is ClusterState.TERMINATING

    @property
    def concurrency(self) -> int:
        return int(getattr(self.moto, "step_concurrency_level", 1) or 1)

    @property
    def idle_timeout(self) -> float | None:
        """AutoTerminationPolicy.IdleTimeout in EMR seconds, if the cluster has a policy."""
        policy = getattr(self.moto, "_emu_auto_termination", None)
        return float(policy["IdleTimeout"]) if policy else None

    def running_steps(self) -> list[StepRun]:
        return [s for s in self.steps if s.state is StepState.RUNNING]

    @property
    def keep_alive(self) -> bool:
        return bool(self.moto.keep_job_flow_alive_when_no_steps)

    def next_pending(self) -> StepRun | None:
        return next((s for s in self.steps if s.state is StepState.PENDING), None)

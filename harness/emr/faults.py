"""Fault injection for reliability tests: armed on `EmulatedAWS.faults`, read by the runtime.

    aws.faults.fail_bootstrap()                      # next clusters fail in BOOTSTRAPPING
    aws.faults.spot_capacity_unavailable()           # next clusters get no Spot CORE group
    aws.faults.fail_step("processar-vendas-spark", message="boom")   # by step name ...
    aws.faults.fail_step(0)                          # ... or by 0-based position in its cluster
    aws.faults.hang_step("slow")                     # runs until cancelled / cluster terminated
    aws.faults.throttle("DescribeStep", times=3)     # ThrottlingException for the next 3 calls
    aws.faults.clear()

Cluster faults apply to every cluster created while armed (optionally only clusters whose
Name matches `cluster_name`). Step faults apply to every matching step until cleared.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

__all__ = ["ClusterFault", "Faults", "StepFault", "ThrottleMiddleware"]


@dataclass(frozen=True)
class ClusterFault:
    kind: str  # "bootstrap" | "spot_capacity"
    message: str | None = None
    cluster_name: str | None = None

    def matches(self, cluster_name: str) -> bool:
        return self.cluster_name is None or self.cluster_name == cluster_name


@dataclass(frozen=True)
class StepFault:
    kind: str  # "fail" | "hang"
    step: str | int  # step Name, or 0-based index within its cluster
    message: str = "Injected step failure"
    exit_code: int = 1

    def matches(self, name: str, index: int) -> bool:
        return self.step == index if isinstance(self.step, int) else self.step == name


class Faults:
    """Thread-safe registry of armed faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cluster: list[ClusterFault] = []
        self._step: list[StepFault] = []
        self._throttle: dict[str, int] = {}
        self.throttled: dict[str, int] = {}  # operation -> how many calls were refused

    # -- arming ------------------------------------------------------------------------------
    def fail_bootstrap(self, *, message: str | None = None, cluster_name: str | None = None):
        """Clusters fail during BOOTSTRAPPING -> TERMINATED_WITH_ERRORS (BOOTSTRAP_FAILURE)."""
        with self._lock:
            self._cluster.append(ClusterFault("bootstrap", message, cluster_name))
        return self

    def spot_capacity_unavailable(
        self, *, message: str | None = None, cluster_name: str | None = None
    ):
        """Clusters cannot provision their Spot CORE group -> TERMINATED_WITH_ERRORS
        (INSTANCE_FAILURE) before bootstrapping; queued steps are cancelled."""
        with self._lock:
            self._cluster.append(ClusterFault("spot_capacity", message, cluster_name))
        return self

    def fail_step(self, step: str | int, *, message: str = "Injected step failure",
                  exit_code: int = 1):  # fmt: skip
        """The matching step fails without running; `message` is its stderr's last line."""
        with self._lock:
            self._step.append(StepFault("fail", step, message, exit_code))
        return self

    def hang_step(self, step: str | int):
        """The matching step stays RUNNING until cancelled or its cluster is terminated."""
        with self._lock:
            self._step.append(StepFault("hang", step))
        return self

    def throttle(self, operation: str, *, times: int = 3):
        """The next `times` calls of `operation` (e.g. "DescribeStep") get a 400
        ThrottlingException; botocore's retries usually absorb a few."""
        with self._lock:
            self._throttle[operation] = self._throttle.get(operation, 0) + times
        return self

    def clear(self) -> None:
        with self._lock:
            self._cluster.clear()
            self._step.clear()
            self._throttle.clear()
            self.throttled.clear()

    # -- reading (runtime side) ---------------------------------------------------------------
    def cluster_fault(self, cluster_name: str) -> ClusterFault | None:
        with self._lock:
            return next((f for f in self._cluster if f.matches(cluster_name)), None)

    def step_fault(self, name: str, index: int) -> StepFault | None:
        with self._lock:
            return next((f for f in self._step if f.matches(name, index)), None)

    def take_throttle(self, operation: str) -> bool:
        """Consume one throttle for `operation`; True if this call must be refused."""
        with self._lock:
            left = self._throttle.get(operation, 0)
            if left <= 0:
                return False
            self._throttle[operation] = left - 1
            self.throttled[operation] = self.throttled.get(operation, 0) + 1
            return True


def operation_of(environ: dict[str, Any]) -> str | None:
    """The API operation of a request: `X-Amz-Target` (JSON protocols: EMR, Logs ...) or the
    `Action` parameter (query protocols: IAM, STS, EC2)."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    action = parse_qs(environ.get("QUERY_STRING", "")).get("Action")
    return action[0] if action else None


class ThrottleMiddleware:
    """WSGI wrapper answering armed operations with a ThrottlingException (HTTP 400)."""

    def __init__(self, app: Callable, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if self.faults._throttle:  # cheap check first: no lock on the hot path when unarmed
            op = operation_of(environ)
            if op and self.faults.take_throttle(op):
                body = json.dumps(
                    {"__type": "ThrottlingException", "message": "Rate exceeded"}
                ).encode()
                start_response(
                    "400 Bad Request",
                    [
                        ("Content-Type", "application/x-amz-json-1.1"),
                        ("Content-Length", str(len(body))),
                        ("x-amzn-ErrorType", "ThrottlingException"),
                    ],
                )
                return [body]
        return self.app(environ, start_response)

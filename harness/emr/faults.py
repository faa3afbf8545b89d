"""Fault injection for reliability tests: armed on `EmulatedAWS.faults`, read by the runtime.

    aws.faults.fail_bootstrap()                      # next clusters fail in BOOTSTRAPPING
    aws.faults.spot_capacity_unavailable()           # next clusters get no Spot CORE group
    aws.faults.fail_step("my-spark-step", message="boom")   # by step name ...
    aws.faults.fail_step(0)                          # ... or by 0-based position in its cluster
    aws.faults.hang_step("slow")                     # runs until cancelled / cluster terminated
    aws.faults.throttle("DescribeStep", times=3)     # ThrottlingException for the next 3 calls
    aws.faults.throttle("CreateRole")                # query protocols too (IAM, STS, EC2)
    aws.faults.clear()

Cluster faults apply to every cluster created while armed (optionally only clusters whose
Name matches `cluster_name`). Step faults apply to every matching step until cleared.
Throttling works for operations named by `X-Amz-Target` (JSON protocols: EMR, CloudWatch
Logs ...) or by `Action=` in the query string or form body (query protocols: IAM, STS, EC2,
answered in XML); S3's REST operations carry no operation name and cannot be throttled.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

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
    def fail_bootstrap(
        self, *, message: str | None = None, cluster_name: str | None = None
    ) -> Self:
        """Clusters fail during BOOTSTRAPPING -> TERMINATED_WITH_ERRORS (BOOTSTRAP_FAILURE)."""
        with self._lock:
            self._cluster.append(ClusterFault("bootstrap", message, cluster_name))
        return self

    def spot_capacity_unavailable(
        self, *, message: str | None = None, cluster_name: str | None = None
    ) -> Self:
        """Clusters cannot provision their Spot CORE group -> TERMINATED_WITH_ERRORS
        (INSTANCE_FAILURE) before bootstrapping; queued steps are cancelled."""
        with self._lock:
            self._cluster.append(ClusterFault("spot_capacity", message, cluster_name))
        return self

    def fail_step(self, step: str | int, *, message: str = "Injected step failure",
                  exit_code: int = 1) -> Self:  # fmt: skip
        """The matching step fails without running; `message` is its stderr's last line."""
        with self._lock:
            self._step.append(StepFault("fail", step, message, exit_code))
        return self

    def hang_step(self, step: str | int) -> Self:
        """The matching step stays RUNNING until cancelled or its cluster is terminated."""
        with self._lock:
            self._step.append(StepFault("hang", step))
        return self

    def throttle(self, operation: str, *, times: int = 3) -> Self:
        """The next `times` calls of `operation` (e.g. "DescribeStep", "CreateRole") get a
        400 ThrottlingException; botocore's retries usually absorb a few.

        Raises ValueError for S3 operations: S3's REST requests do not name their operation,
        so they cannot be intercepted."""
        if operation in _s3_operations():
            raise ValueError(
                f"cannot throttle {operation!r}: it is an S3 REST operation, and S3 requests do "
                "not carry an operation name (only JSON-protocol X-Amz-Target operations and "
                "query-protocol Action= operations, e.g. EMR, CloudWatch Logs, IAM, STS, EC2, "
                "can be throttled)"
            )
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
            if left == 1:
                del self._throttle[operation]  # keeps the middleware's unarmed check cheap
            else:
                self._throttle[operation] = left - 1
            self.throttled[operation] = self.throttled.get(operation, 0) + 1
            return True


def _s3_operations() -> frozenset[str]:
    global _S3_OPERATIONS
    if _S3_OPERATIONS is None:
        import botocore.session

        model = botocore.session.get_session().get_service_model("s3")
        _S3_OPERATIONS = frozenset(model.operation_names)
    return _S3_OPERATIONS


_S3_OPERATIONS: frozenset[str] | None = None


def operation_of(environ: dict[str, Any]) -> str | None:
    """The API operation of a request: `X-Amz-Target` (JSON protocols: EMR, Logs ...) or the
    `Action` parameter of the query string or of a form-encoded body (query protocols: IAM,
    STS, EC2, which botocore sends as POST). Reading the body puts an in-memory copy back
    into `wsgi.input` for the application."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    action = parse_qs(environ.get("QUERY_STRING", "")).get("Action")
    if action:
        return action[0]
    if not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return None
    try:
        size = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if size <= 0 or "wsgi.input" not in environ:
        return None
    body = environ["wsgi.input"].read(size)
    environ["wsgi.input"] = io.BytesIO(body)
    action = parse_qs(body.decode("utf-8", "replace")).get("Action")
    return action[0] if action else None


def throttling_response(environ: dict[str, Any]) -> tuple[bytes, list[tuple[str, str]]]:
    """Body and headers of a ThrottlingException in the request's protocol."""
    return error_response(environ, "ThrottlingException", "Rate exceeded")


def error_response(
    environ: dict[str, Any], code: str, message: str
) -> tuple[bytes, list[tuple[str, str]]]:
    """Body and headers of an AWS error in the request's protocol: JSON for `X-Amz-Target`
    requests, the query protocols' XML (ErrorResponse/Error) otherwise."""
    if environ.get("HTTP_X_AMZ_TARGET"):
        body = json.dumps({"__type": code, "message": message}).encode()
        content_type = "application/x-amz-json-1.1"
    else:
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error>"
            "<RequestId>emulated-error</RequestId></ErrorResponse>"
        ).encode()
        content_type = "text/xml"
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("x-amzn-ErrorType", code),
    ]
    return body, headers


class ThrottleMiddleware:
    """WSGI wrapper answering armed operations with a ThrottlingException (HTTP 400)."""

    def __init__(self, app: Callable, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if self.faults._throttle:  # cheap check first: no lock on the hot path when unarmed
            op = operation_of(environ)
            if op and self.faults.take_throttle(op):
                body, headers = throttling_response(environ)
                start_response("400 Bad Request", headers)
                return [body]
        return self.app(environ, start_response)

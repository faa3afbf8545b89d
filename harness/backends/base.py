"""The contract every backend fulfils (embedded emulator, LocalStack, real AWS).

A backend is started and stopped as a context manager; `stop()` always cleans up what the
backend itself started or created (servers, clusters it launched, throw-away buckets), even
when `start()` failed half-way. Nothing here imports Airflow.

    with SomeBackend(region="us-east-1") as backend:
        s3 = backend.client("s3")
        env = backend.env()                     # for child processes and plain boto3
        extra = backend.connection_extra()      # the Airflow `aws` connection's extra
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Self

__all__ = ["Backend", "BackendUnavailable", "env_service", "new_run_id"]


class BackendUnavailable(RuntimeError):
    """The backend cannot run here (no Docker engine, no token, no credentials ...).

    Its message is the exact reason: tests skip with it, the CLI prints it.
    """


def new_run_id() -> str:
    """A short id for one run, put in every resource name and tag (as Airflow's system tests)."""
    return uuid.uuid4().hex[:8]


class Backend(ABC):
    #: "embedded", "localstack" or "aws"
    name: ClassVar[str]
    #: True when nothing may reach real AWS (the off-loopback guard applies).
    offline: ClassVar[bool] = True

    def __init__(self, *, region: str = "us-east-1", run_id: str | None = None) -> None:
        self.region = region
        self.run_id = run_id or new_run_id()

    # -- lifecycle -------------------------------------------------------------------------
    @abstractmethod
    def start(self) -> Self:
        """Start (or connect to) the services; on failure clean up, then raise."""

    @abstractmethod
    def stop(self) -> None:
        """Stop what `start` started; idempotent; never raises for an already stopped one."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- where AWS is ----------------------------------------------------------------------
    @abstractmethod
    def endpoints(self) -> dict[str, str]:
        """Service name (botocore's: "s3", "emr", "iam", "sts", "logs" ...) -> endpoint URL.

        Services missing from the map use `default_endpoint()`; an empty map with no default
        means AWS's own endpoints (the aws backend)."""

    def default_endpoint(self) -> str | None:
        """The URL for services not in `endpoints()` (None: AWS's own)."""
        return None

    def env(self) -> dict[str, str]:
        """Environment for child processes and plain `boto3.client(...)` calls: region, and
        `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` and dummy credentials for an offline
        backend (never real ones). Remove `harness.endpoint.ENV_UNSET` next to it."""
        env = {"AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region}
        if self.offline:
            from harness.guard import DUMMY_CREDENTIALS

            env.update(DUMMY_CREDENTIALS)
            env["AWS_EC2_METADATA_DISABLED"] = "true"
        default = self.default_endpoint()
        if default:
            env["AWS_ENDPOINT_URL"] = default
        for service, url in self.endpoints().items():
            env[f"AWS_ENDPOINT_URL_{env_service(service)}"] = url
        return env

    def connection_extra(self) -> dict[str, Any]:
        """The `extra` of Airflow's aws connection: region, and per-service endpoints through
        the amazon provider's `service_config` (`endpoint_url` per service)."""
        extra: dict[str, Any] = {"region_name": self.region}
        default = self.default_endpoint()
        if default:
            extra["endpoint_url"] = default
        services = self.endpoints()
        if services:
            extra["service_config"] = {s: {"endpoint_url": u} for s, u in services.items()}
        return extra

    def endpoint_for(self, service: str) -> str | None:
        return self.endpoints().get(service) or self.default_endpoint()

    @abstractmethod
    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client for `service` aimed at this backend."""

    # -- optional abilities ----------------------------------------------------------------
    #: `harness.emr.faults.Faults` when the backend can inject failures, else None.
    faults: Any = None

    def step_stderr_tail(self, cluster_id: str, step_id: str, lines: int = 20) -> str | None:
        """The tail of a step's stderr when the backend can read it locally (else None)."""
        return None

    def describe(self) -> str:
        """One line for the console: what this backend is and where."""
        return f"{self.name} backend ({self.region})"


def env_service(service: str) -> str:
    """The `<SERVICE>` of botocore's `AWS_ENDPOINT_URL_<SERVICE>` for a client name ("logs" ->
    "CLOUDWATCH_LOGS", "emr" -> "EMR"): botocore's own rule and tables (the service model's
    serviceId, hyphenated, without loading the model), as its endpoint config provider does."""
    from botocore import utils

    name = utils.SERVICE_NAME_ALIASES.get(service, service)
    hyphenated = utils.CLIENT_NAME_TO_HYPHENIZED_SERVICE_ID_OVERRIDES.get(name, name)
    return hyphenated.replace("-", "_").upper()

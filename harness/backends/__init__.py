"""Where AWS comes from for a run: the embedded emulator, LocalStack, or a real account.

Every backend is one small class (see `harness.backends.base.Backend`) used as a context
manager: endpoints per service, the Airflow connection that reaches them, clients, provisioning
helpers and cleanup. Backends never import Airflow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.backends.base import Backend, BackendUnavailable

__all__ = ["BACKENDS", "Backend", "BackendUnavailable", "create_backend"]

#: Every backend name `create_backend` knows, and what it is.
BACKENDS: dict[str, str] = {
    "embedded": "moto's server + the harness's EMR runtime, in this process",
    "localstack": "a real LocalStack (S3, IAM, STS, Logs) on this host, or at --localstack-url; "
                  "EMR from LocalStack when licensed, else the harness's EMR runtime beside it",
    "localstack-docker": "LocalStack in Docker through testcontainers (pinned image)",
    "aws": "a real AWS account (costs money; cleans up)",
}


def create_backend(name: str, *, region: str = "us-east-1", workdir: str | Path | None = None,
                   executor: Any = None, localstack_url: str | None = None,
                   install_localstack: bool = False, **options: Any) -> Backend:  # fmt: skip
    """A backend by name, not yet started (`with create_backend("localstack") as backend:`).

    Backends that cannot exist here raise `BackendUnavailable` when started (or, for a backend
    whose module is missing, here), with the exact reason."""
    if name == "embedded":
        from harness.backends.embedded import EmbeddedBackend

        return EmbeddedBackend(region=region, workdir=workdir, executor=executor, **options)
    if name in ("localstack", "localstack-docker"):
        from harness.backends.localstack import LocalStackBackend

        return LocalStackBackend(region=region, workdir=workdir, executor=executor,
                                 url=localstack_url, docker=name == "localstack-docker",
                                 install=install_localstack, **options)
    if name == "aws":
        try:
            from harness.backends.aws import AwsBackend
        except ImportError as exc:
            raise BackendUnavailable(f"the aws backend is not available: {exc}") from exc
        return AwsBackend(region=region, **options)
    raise ValueError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")

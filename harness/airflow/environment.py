"""A run's spec and environment: ``RunSpec`` (JSON-able, for the DAG worker), the
environment a run gets (the AWS connection, Variables, connections, dummy keys) and where
AWS is for a backend, an ``EmulatedAWS`` or a URL.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.airflow import home as airflow_home
from harness.airflow.overrides import DEFAULT_POKE_INTERVAL

__all__ = ["RunSpec"]


@dataclass
class RunSpec:
    """Everything an engine needs (JSON-able, for the subprocess worker)."""

    dag_id: str
    dags_folder: str
    endpoint_url: str | None
    region: str
    conn_id: str
    variables: dict[str, Any]
    extra_env: dict[str, str]
    poke_interval: float
    deferrable: bool
    sensor_timeout: float | dict[str, float] | None
    retries: int | None
    conf: dict[str, Any] | None
    echo_logs: bool
    timeout: float | None = None  # the whole run's budget, seconds
    #: A backend's `connection_extra()` (per-service endpoints); None: one endpoint_url.
    connection_extra: dict[str, Any] | None = None
    #: False for real AWS: no dummy keys, the default credential chain.
    offline: bool = True
    #: Extra Airflow connections: conn id -> URI or JSON (``AIRFLOW_CONN_<ID>``).
    connections: dict[str, str] = field(default_factory=dict)
    #: The worker is told of the emulator's EMR state changes (``harness.airflow.state_changes``):
    #: EMR sensors wait for one between pokes instead of polling every ``poke_interval``.
    state_changes: bool = False


def _run_env(spec: RunSpec) -> dict[str, str]:
    env = dict(spec.extra_env)
    if spec.connection_extra is not None:
        # A backend: the connection carries its endpoints per service (service_config).
        env.update(airflow_home.connection_env(None, conn_id=spec.conn_id,
                                               extra=spec.connection_extra,
                                               dummy_keys=spec.offline))
        if spec.offline:
            env.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
            env.pop("AWS_SESSION_TOKEN", None)
        env.setdefault("AWS_DEFAULT_REGION", spec.region)
    elif spec.endpoint_url:
        env.update(airflow_home.connection_env(spec.endpoint_url, region=spec.region,
                                               conn_id=spec.conn_id))
        env.setdefault("AWS_ENDPOINT_URL", spec.endpoint_url)
        # Dummy credentials: an offline run must never sign a request with real keys.
        env.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
        env.pop("AWS_SESSION_TOKEN", None)  # and `unsafe_offline_keys` are dropped by the engine
        env.setdefault("AWS_DEFAULT_REGION", spec.region)
    env.update(airflow_home.variables_env(spec.variables))
    env.update(airflow_home.connections_env(spec.connections))
    return env


def _is_backend(aws: Any) -> bool:
    """A `harness.backends.base.Backend` (duck-typed: this module does not import backends)."""
    return hasattr(aws, "connection_extra") and hasattr(aws, "endpoints")


def _one_of(aws: Any, backend: Any) -> Any:
    if backend is not None and aws is not None:
        raise TypeError("give aws= or backend=, not both")
    return backend if backend is not None else aws


def _endpoint_of(aws: Any) -> tuple[str | None, str | None, dict[str, str]]:
    """(endpoint URL, region, extra env) from a backend, an EmulatedAWS-like object or a URL."""
    if aws is None:
        return None, None, {}
    if isinstance(aws, str):
        return aws, None, {}
    if _is_backend(aws):
        return aws.default_endpoint(), aws.region, dict(aws.env())
    env = dict(aws.env()) if hasattr(aws, "env") else {}
    return aws.url, getattr(aws, "region", None), env


def _spec(
    dag_id: str,
    dags_folder: str | os.PathLike[str],
    aws: Any,
    *,
    variables: Mapping[str, Any] | None = None,
    region: str | None = None,
    conn_id: str = airflow_home.DEFAULT_CONN_ID,
    poke_interval: float = DEFAULT_POKE_INTERVAL,
    deferrable: bool = False,
    sensor_timeout: float | Mapping[str, float] | None = None,
    retries: int | None = None,
    conf: Mapping[str, Any] | None = None,
    echo_logs: bool = False,
    timeout: float | None = None,
    connections: Mapping[str, str] | None = None,
) -> tuple[RunSpec, str | None, str]:
    if timeout is not None and not 0 < timeout < math.inf:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    url, aws_region, extra_env = _endpoint_of(aws)
    region = region or aws_region or "us-east-1"
    backend = _is_backend(aws)
    spec = RunSpec(
        dag_id=dag_id,
        dags_folder=str(Path(dags_folder).resolve()),
        endpoint_url=url,
        region=region,
        conn_id=conn_id,
        variables=dict(variables or {}),
        extra_env=extra_env,
        poke_interval=float(poke_interval),
        deferrable=deferrable,
        sensor_timeout=(
            dict(sensor_timeout) if isinstance(sensor_timeout, Mapping) else sensor_timeout
        ),
        retries=retries,
        conf=dict(conf) if conf is not None else None,
        echo_logs=echo_logs,
        timeout=float(timeout) if timeout is not None else None,
        connection_extra=dict(aws.connection_extra()) if backend else None,
        offline=bool(getattr(aws, "offline", True)),
        connections=dict(connections or {}),
    )
    return spec, url, region

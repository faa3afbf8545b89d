"""What the client and the daemon say to each other: one JSON object a line on a unix socket.

Client -> daemon, one request a connection:
    {"op": "ping"}                          -> {"type": "pong", ...status}
    {"op": "stop"}                          -> {"type": "stopping"}
    {"op": "run", "request": {...}, "wait": true}
        -> {"type": "queued", "busy_with": ...}   (only if another run holds the services)
           {"type": "busy", "busy_with": ...}     (instead, with "wait": false; connection ends)
           {"type": "out", "line": "..."} ...    (the run's console output, as it happens)
           {"type": "done", "code": 0, "result": {...}}   (exit code, DagRunResult as a dict)
    any request can get {"type": "error", "message": "..."} instead.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.config import HarnessConfig, Upload, parse_s3_uri

__all__ = [
    "PROTOCOL",
    "ProtocolError",
    "RunRequest",
    "decode",
    "encode",
    "unsupported_options",
]

PROTOCOL = 2  # 2: uploads/buckets/result from [tool.harness] replace data/script/bucket
MAX_LINE = 64 * 1024 * 1024  # a result with captured logs can be large, not unbounded

#: `python -m harness run` options the warm loop knows how to honour (the rest of the Namespace
#: is argparse's own). An option added to `run` later that is not listed here and is given a
#: non-default value makes the run go cold, with a message: never silently ignored.
RUN_OPTIONS = frozenset({
    "config", "dag_id", "dags_folder", "upload", "var", "conn", "workdir", "poke_interval",
    "deferrable", "echo_logs", "warm_spark", "timings", "no_warm", "keep_state", "warm_dir",
    "sensor_timeout", "timeout",
})  # fmt: skip
_NOT_OPTIONS = frozenset({"handler", "command"})


class ProtocolError(ValueError):
    """A line that is not one JSON object, or a request with missing/wrong fields."""


def encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, default=str) + "\n").encode("utf-8")


def decode(line: bytes) -> dict[str, Any]:
    if len(line) > MAX_LINE:
        raise ProtocolError(f"message of {len(line)} bytes exceeds {MAX_LINE}")
    try:
        message = json.loads(line)
    except ValueError as exc:
        raise ProtocolError(f"not JSON: {exc}: {line[:200]!r}") from None
    if not isinstance(message, dict):
        raise ProtocolError(f"not a JSON object: {line[:200]!r}")
    return message


@dataclass(frozen=True)
class RunRequest:
    """One `python -m harness run`, with every path absolute (the daemon has its own cwd)."""

    dag_id: str
    dags_folder: str
    workdir: str
    poke_interval: float
    #: What to provision (``harness.config.HarnessConfig``): [local path, s3 URI] pairs ...
    uploads: list[list[str]] = field(default_factory=list)
    buckets: list[str] = field(default_factory=list)
    emr_default_roles: bool = False
    #: ... and the s3 prefixes printed as tables after the run.
    result: list[str] = field(default_factory=list)
    deferrable: bool = False
    variables: dict[str, str] = field(default_factory=dict)
    connections: dict[str, str] = field(default_factory=dict)
    echo_logs: bool = False
    timings: str | None = None
    keep_state: bool = False
    sensor_timeout: float | None = None  # `run --sensor-timeout`: input sensors' wait, seconds
    timeout: float | None = None  # `run --timeout`: the whole DAG run's budget, seconds
    started: float = 0.0  # the client's time.time() at start: "done in" covers the whole command
    client_pid: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def config(self) -> HarnessConfig:
        """What to provision and report, as the cold command's ``HarnessConfig``."""
        return HarnessConfig(
            dags_folder=Path(self.dags_folder), dag_id=self.dag_id, buckets=tuple(self.buckets),
            uploads=tuple(Upload(Path(local), parse_s3_uri(uri, what="run request upload"))
                          for local, uri in self.uploads),
            variables=self.variables, connections=self.connections,
            result=tuple(parse_s3_uri(r, what="run request result") for r in self.result),
            emr_default_roles=self.emr_default_roles, sensor_timeout=self.sensor_timeout,
            timeout=self.timeout)

    @classmethod
    def from_dict(cls, data: Any) -> RunRequest:
        if not isinstance(data, dict):
            raise ProtocolError("run request: not an object")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ProtocolError(f"run request: unknown field(s) {', '.join(unknown)}")
        for name in ("dag_id", "dags_folder", "workdir"):
            if not isinstance(data.get(name), str) or not data[name]:
                raise ProtocolError(f"run request: {name} must be a non-empty string")
        for name in ("dags_folder", "workdir", "timings"):
            value = data.get(name)
            if value is not None and not Path(value).is_absolute():
                raise ProtocolError(f"run request: {name} must be an absolute path, got {value!r}")
        uploads = data.get("uploads", [])
        if not isinstance(uploads, list) or not all(
            isinstance(u, list) and len(u) == 2 and all(isinstance(x, str) for x in u)
            and Path(u[0]).is_absolute() for u in uploads
        ):
            raise ProtocolError("run request: uploads must be [absolute local path, s3 URI] pairs")
        for name in ("variables", "connections"):
            value = data.get(name, {})
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise ProtocolError(f"run request: {name} must map names to strings")
        try:
            poke = float(data["poke_interval"])
        except (KeyError, TypeError, ValueError):
            raise ProtocolError("run request: poke_interval must be a number") from None
        return cls(**{**data, "poke_interval": poke})

    @classmethod
    def from_args(cls, args: argparse.Namespace, config: HarnessConfig) -> RunRequest:
        """From `python -m harness run`'s arguments and resolved config (``run_config``),
        resolved against this process's cwd."""

        def absolute(value: Any) -> str | None:
            return None if value is None else str(Path(value).resolve())

        workdir = args.workdir or Path(".harness", "runs", datetime.now().strftime("%Y%m%d-%H%M%S"))
        assert config.dag_id is not None
        return cls(
            dag_id=config.dag_id,
            dags_folder=str(Path(config.dags_folder).resolve()),
            workdir=str(Path(workdir).resolve()),
            poke_interval=float(args.poke_interval),
            uploads=[[str(u.local.resolve()), str(u.dest)] for u in config.uploads],
            buckets=list(config.buckets),
            emr_default_roles=config.emr_default_roles,
            result=[str(r) for r in config.result],
            deferrable=bool(args.deferrable),
            variables=dict(config.variables),
            connections=dict(config.connections),
            echo_logs=bool(args.echo_logs),
            timings=absolute(args.timings),
            keep_state=bool(getattr(args, "keep_state", False)),
            sensor_timeout=config.sensor_timeout,
            timeout=config.timeout,
            started=time.time(),
            client_pid=os.getpid(),
        )


def unsupported_options(args: argparse.Namespace, defaults: dict[str, Any]) -> list[str]:
    """Options of `args` the warm loop does not honour and that differ from their default."""
    out = []
    for name, value in sorted(vars(args).items()):
        if name in RUN_OPTIONS or name in _NOT_OPTIONS:
            continue
        if name not in defaults or defaults[name] != value:
            out.append("--" + name.replace("_", "-"))
    return out

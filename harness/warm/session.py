"""Warm services from Python (pytest fixtures, scripts): start or attach, run, stop.

    with WarmSession.start(tmp_dir) as warm:           # `python -m harness up`
        run = warm.run(variables={"emr_instance_count": "3"})
        assert run.result.ok, run.result.failure_report()

Each ``run`` is a `python -m harness run` on the warm services (same provisioning, isolation
and report; ``run.output`` holds the report's lines, ``run.result`` the ``DagRunResult``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config import HarnessConfig, Upload, load_config
from harness.warm import client, protocol, state

__all__ = ["WarmRun", "WarmSession", "WarmSessionError"]


class WarmSessionError(RuntimeError):
    """The warm services could not be started, reached or stopped (carries their output)."""


@dataclass
class WarmRun:
    code: int
    result: Any  # DagRunResult, or None when the run did not get that far
    output: list[str] = field(default_factory=list)


class WarmSession:
    def __init__(self, directory: str | os.PathLike[str], *, owned: bool = False) -> None:
        self.directory = Path(directory).resolve()
        self.owned = owned  # stop() stops only services this object started

    @classmethod
    def start(cls, directory: str | os.PathLike[str], *, spark: str = "connect",
              idle_timeout: float = client.DEFAULT_IDLE_TIMEOUT) -> WarmSession:  # fmt: skip
        lines: list[str] = []
        code = client.up(directory=Path(directory).resolve(), spark=spark,
                         idle_timeout=idle_timeout, out=lines.append)  # fmt: skip
        if code != 0:
            raise WarmSessionError("harness up failed:\n" + "\n".join(lines))
        return cls(directory, owned=True)

    @property
    def state(self) -> state.WarmState:
        live, st, why = state.check(self.directory)
        if live is not state.Liveness.ALIVE or st is None:
            raise WarmSessionError(f"warm services in {self.directory} are not up ({why})")
        return st

    def run(self, *, config: HarnessConfig | None = None, dag_id: str | None = None,
            dags_folder: str | os.PathLike[str] | None = None,
            variables: dict[str, str] | None = None, uploads: Sequence[Upload] = (),
            workdir: str | os.PathLike[str] | None = None, poke_interval: float = 0.2,
            keep_state: bool = False) -> WarmRun:  # fmt: skip
        """One run of ``config`` (default: ``[tool.harness]`` of ./pyproject.toml); the other
        arguments override it as `python -m harness run`'s flags do (``variables`` and
        ``uploads`` add to it)."""
        from harness.airflow.dag_runner import DagRunResult

        def absolute(value: Any) -> str | None:
            return None if value is None else str(Path(value).resolve())

        stamp = time.strftime("%Y%m%d-%H%M%S")
        cfg = (config or load_config()).with_overrides(
            dags_folder=dags_folder, dag_id=dag_id, uploads=uploads, variables=variables)
        if not cfg.dag_id:
            raise WarmSessionError("no DAG to run: give dag_id= or set [tool.harness] dag_id")
        req = protocol.RunRequest(
            dag_id=cfg.dag_id, dags_folder=str(absolute(cfg.dags_folder)),
            workdir=str(absolute(workdir or Path(".harness", "runs", stamp))),
            poke_interval=poke_interval,
            uploads=[[str(absolute(u.local)), str(u.dest)] for u in cfg.uploads],
            buckets=list(cfg.buckets), emr_default_roles=cfg.emr_default_roles,
            result=[str(r) for r in cfg.result], variables=dict(cfg.variables),
            connections=dict(cfg.connections), sensor_timeout=cfg.sensor_timeout,
            timeout=cfg.timeout, keep_state=keep_state, started=time.time(),
            client_pid=os.getpid(),
        )
        lines: list[str] = []
        code, result = client.run_request(self.state, req, lines.append)
        return WarmRun(code, DagRunResult.from_dict(result) if result else None, lines)

    def stop(self) -> None:
        if not self.owned:
            return
        lines: list[str] = []
        if client.down(directory=self.directory, out=lines.append) != 0:
            raise WarmSessionError("harness down did not stop everything:\n" + "\n".join(lines))

    def __enter__(self) -> WarmSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""The embedded backend: moto's server plus the harness's EMR runtime, in this process.

    with EmbeddedBackend(workdir=tmp_path) as backend:
        backend.client("s3").create_bucket(Bucket="b")
        backend.faults.throttle("DescribeStep", times=3)

Every service is served by one endpoint (`default_endpoint()`); faults can be injected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from harness.backends.base import Backend
from harness.emr.executors import StepExecutor

__all__ = ["EmbeddedBackend"]


class EmbeddedBackend(Backend):
    name = "embedded"

    def __init__(self, *, region: str = "us-east-1", run_id: str | None = None,
                 workdir: str | Path | None = None, executor: StepExecutor | None = None,
                 **emulator_options: Any) -> None:  # fmt: skip
        super().__init__(region=region, run_id=run_id)
        self._options = {"region": region, "workdir": workdir, "executor": executor,
                         **emulator_options}
        self.emulator: Any = None  # the EmulatedAWS while started

    def start(self) -> Self:
        if self.emulator is not None:
            raise RuntimeError("EmbeddedBackend already started")
        from harness.endpoint import EmulatedAWS

        # Always available: a failure to start is an error, never a reason to skip.
        self.emulator = EmulatedAWS(**self._options).start()
        self.faults = self.emulator.faults
        return self

    def stop(self) -> None:
        emulator, self.emulator = self.emulator, None
        if emulator is not None:
            emulator.stop()

    def _started(self) -> Any:
        if self.emulator is None:
            raise RuntimeError("EmbeddedBackend is not started: use `with EmbeddedBackend():`")
        return self.emulator

    def endpoints(self) -> dict[str, str]:
        return {}

    def default_endpoint(self) -> str | None:
        return self._started().url

    def env(self) -> dict[str, str]:
        return {**super().env(), **self._started().env()}

    def client(self, service: str, **kwargs: Any) -> Any:
        return self._started().client(service, **kwargs)

    def put_file(self, path: str | Path, bucket: str, key: str) -> bool:
        """The emulator's kernel-copy way in for a local file (`EmulatedAWS.put_file`)."""
        return bool(self._started().put_file(path, bucket, key))

    def step_stderr_tail(self, cluster_id: str, step_id: str, lines: int = 20) -> str | None:
        return self._started().step_stderr_tail(cluster_id, step_id, lines)

    def step_dir(self, cluster_id: str, step_id: str) -> Path:
        """Local folder with the step's stdout, stderr and controller logs."""
        return self._started().step_dir(cluster_id, step_id)

    @property
    def workdir(self) -> Path:
        return self._started().workdir

    def describe(self) -> str:
        aws = self._started()
        where = f"embedded emulator at {aws.url} ({self.region})"
        # A step executor that is not the default cold spark-submit says so (it may come from
        # HARNESS_SPARK_CONNECT_URL, which a shell can leave set unnoticed).
        describe = getattr(aws.executor, "describe", None)
        return f"{where}; {describe()}" if describe else where

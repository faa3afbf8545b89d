"""One `python -m harness run` on warm services, as isolated as a cold one.

Per run: a fresh metadata DB (Variables, XComs, DAG runs of earlier runs are gone), an empty
emulated account, this run's own workdir, the same ``provision`` and the same report as the cold
command. The account is emptied *after* a run (``reset_account``, called by the daemon once the
client has its answer), so its ~2-5 s are spent while nobody waits; a run made with
``keep_state`` is not followed by a reset: what it left stays in the emulator, to inspect (its
URL is in the state file) and for the next run to start from. The DAG folder is parsed anew: modules
loaded from it by an earlier run are dropped, and no bytecode cache is read for them (a cached
``.pyc`` is trusted on mtime + size, which an edit within the same second can keep).

Runs in the daemon's main thread (Airflow installs signal handlers while running tasks).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness.warm.protocol import RunRequest

__all__ = ["WarmPipeline", "drop_modules_under"]

Out = Callable[[str], Any]

# A DAG file with the imports an EMR DAG needs, run once at start-up: Airflow is imported,
# its Execution API built and dag.test() exercised before the first real run arrives.
_PRIME_DAG = '''
import pendulum
from airflow.providers.amazon.aws.operators.emr import EmrCreateJobFlowOperator  # noqa: F401
from airflow.providers.amazon.aws.sensors.emr import EmrStepSensor  # noqa: F401
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor  # noqa: F401
from airflow.sdk import DAG, task

with DAG("harness_warm_prime", start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
         schedule=None):
    @task
    def prime():
        return "ok"

    prime()
'''


def drop_modules_under(folder: str | os.PathLike[str]) -> list[str]:
    """Forget every imported module whose file is inside ``folder`` (helpers a DAG file
    imports would otherwise be reused, unedited, by the next parse)."""
    root = Path(folder).resolve()
    dropped = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file:
            continue
        try:
            inside = Path(file).resolve().is_relative_to(root)
        except (OSError, ValueError):
            continue
        if inside:
            del sys.modules[name]
            dropped.append(name)
    return dropped


@contextlib.contextmanager
def _no_bytecode_cache(empty_dir: Path) -> Iterator[None]:
    """Within the block, imports neither read nor write ``.pyc`` files of modules not yet
    loaded: sources are compiled as they are now."""
    saved = sys.pycache_prefix, sys.dont_write_bytecode
    sys.pycache_prefix, sys.dont_write_bytecode = str(empty_dir), True
    try:
        yield
    finally:
        sys.pycache_prefix, sys.dont_write_bytecode = saved


class _CachedClients:
    """The endpoint, handing out one boto3 client per service: a new client's first
    ``upload_file`` costs seconds (its transfer machinery starts), a reused one's milliseconds."""

    def __init__(self, aws: Any) -> None:
        self._aws = aws
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._aws.client(service)
        return self._clients[service]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._aws, name)


def spark_executor(home: Path, log: Out) -> Any:
    """The warm Spark: the server HARNESS_SPARK_CONNECT_URL names, if set (left running by
    `down`), else a Spark Connect server of the daemon's own, started now: its JVM warms up
    while Airflow and the emulator start."""
    from harness.emr.connect import SERVER_URL_ENV, ConnectExecutor, executor_from_env

    executor = executor_from_env()
    if executor is not None:
        log(f"Spark Connect server {executor.server.url}: started elsewhere ({SERVER_URL_ENV});"
            " `down` leaves it running")
        return executor
    executor = ConnectExecutor(log_path=home / "spark-connect.log")
    log(f"Spark Connect server starting at {executor.server.url}")
    return executor


class WarmPipeline:
    """The services one daemon keeps warm, and how a run request uses them."""

    def __init__(self, *, home: Path, spark: str = "connect") -> None:
        if spark not in ("connect", "submit"):
            raise ValueError(f"spark must be 'connect' or 'submit', not {spark!r}")
        self.home = home
        self.spark = spark
        self.executor: Any = None
        self.aws: Any = None
        self._stack = contextlib.ExitStack()
        self._db_template: Path | None = None
        self._empty = Path(tempfile.mkdtemp(prefix="harness-warm-nopyc-"))
        self._stack.callback(shutil.rmtree, self._empty, ignore_errors=True)
        self.timings: dict[str, float] = {}

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, log: Out = print) -> WarmPipeline:
        try:
            self._start(log)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, log: Out) -> None:
        t0 = time.perf_counter()
        if self.spark == "connect":
            self.executor = self._stack.enter_context(spark_executor(self.home, log))
        from harness.endpoint import EmulatedAWS

        self.aws = self._stack.enter_context(
            EmulatedAWS(workdir=self.home / "aws", executor=self.executor))
        self._clients = _CachedClients(self.aws)
        self.timings["emulator"] = time.perf_counter() - t0
        log(f"emulated AWS at {self.aws.url}")
        t = time.perf_counter()
        self._prime_airflow()
        self.timings["airflow"] = time.perf_counter() - t
        log(f"Airflow ready ({self.timings['airflow']:.1f} s)")
        if self.executor is not None:
            t = time.perf_counter()
            self.executor.server.wait_ready()
            self.timings["spark_connect_wait"] = time.perf_counter() - t
            log("Spark Connect server ready")
        self.timings["start"] = time.perf_counter() - t0

    def _prime_airflow(self) -> None:
        from harness.airflow import home as airflow_home
        from harness.airflow.dag_runner import run_dag

        # Captured now: cache_dir() depends on the cwd and the environment of this moment.
        self._db_template = airflow_home.migrated_db()
        with tempfile.TemporaryDirectory(prefix="harness-warm-prime-") as folder:
            Path(folder, "harness_warm_prime.py").write_text(_PRIME_DAG)
            result = run_dag("harness_warm_prime", dags_folder=folder, isolation="in-process")
        if not result.ok:
            raise RuntimeError("priming Airflow failed:\n" + result.failure_report())

    def stop(self) -> None:
        self.aws = self.executor = None
        self._stack.close()

    @property
    def services(self) -> dict[str, Any]:
        return {
            "aws": "embedded",
            "aws_url": self.aws.url if self.aws else None,
            "spark": self.spark,
            "spark_url": self.executor.server.url if self.executor else None,
            "airflow_home": os.environ.get("AIRFLOW_HOME"),
        }

    # -- one run ---------------------------------------------------------------------------
    def run(self, request: RunRequest, out: Out) -> tuple[int, Any]:
        """Run the request; return (exit code, DagRunResult)."""
        from harness.airflow.dag_runner import run_dag
        from harness.provisioning import provision
        from harness.run_report import report, write_timings

        # "done in" counts from the client's start, on the same clock as the cold command.
        t0 = time.perf_counter() - max(0.0, time.time() - request.started)
        config = request.config()
        workdir = Path(request.workdir)
        self._fresh_metadata_db()
        self.aws.use_workdir(workdir)
        provision(self._clients, config)
        out(f"emulated AWS at {self.aws.url} (workdir {workdir}); running {request.dag_id} "
            f"from {request.dags_folder}/ under Airflow's dag.test()")
        drop_modules_under(request.dags_folder)
        with _no_bytecode_cache(self._empty):
            result = run_dag(
                request.dag_id, dags_folder=request.dags_folder, variables=request.variables,
                aws=self.aws, poke_interval=request.poke_interval, deferrable=request.deferrable,
                progress=lambda event: out(str(event)), echo_logs=request.echo_logs,
                sensor_timeout=request.sensor_timeout, timeout=request.timeout,
                connections=request.connections, isolation="in-process",
            )
        if request.timings:
            write_timings(Path(request.timings), self.aws, result,
                          {"warm_run": time.perf_counter() - t0})
        code = report(out, self.aws, result, workdir=workdir, t0=t0,
                      result_prefixes=config.result)
        return code, result

    def reset_account(self) -> None:
        """Empty the emulated account (clusters, buckets, roles ...) for the next run."""
        t = time.perf_counter()
        # reset() empties the emulator's workdir (staging mirror, step logs): point it at a
        # scratch folder first, so the finished run's outputs and logs stay where the report
        # said they are.
        self.aws.use_workdir(self.home / "aws")
        self.aws.reset()
        # moto builds each service's backend on the account's first request to it: done now,
        # while idle, instead of in the next run's provisioning. (IAM's managed policies are
        # built later, on first use: harness.moto_tuning.)
        self._clients.client("iam").list_roles(MaxItems=1)
        self._clients.client("s3").list_buckets()
        self._clients.client("emr").list_clusters()
        self.timings["last_reset"] = time.perf_counter() - t

    def _fresh_metadata_db(self) -> None:
        """Swap in a copy of the migrated (empty) metadata DB under the live Airflow."""
        from airflow import settings

        home = Path(os.environ["AIRFLOW_HOME"])
        assert self._db_template is not None
        # No session is open between runs; pooled connections would keep the old file open.
        if settings.engine is not None:  # None only before Airflow's settings are configured
            settings.engine.dispose()
        async_engine = getattr(settings, "async_engine", None)
        if async_engine is not None:
            async_engine.sync_engine.dispose()
        partial = home / "airflow.db.partial"
        shutil.copyfile(self._db_template, partial)
        os.replace(partial, home / "airflow.db")

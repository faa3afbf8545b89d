"""One DAG run offline, cold: what `python -m harness run` does once its arguments are read.

    from harness.config import load_config
    from harness.offline_run import RunOptions, run_offline

    code = run_offline(load_config(), RunOptions(workdir=Path("/tmp/w")), out=print)

In order: a DAG worker starts getting Airflow ready (``prepare_dag_run``: import, Execution API,
DAG parse) while this process starts the backend (the embedded emulator by default) and
provisions it from the config (buckets, uploads, the EMR default roles:
``harness.provisioning``); then the DAG runs unmodified under ``dag.test()`` with per-task
progress, and ``harness.run_report`` prints the summary, the ``result`` prefixes read back from
S3 as tables and where the outputs and step logs are on disk. SIGTERM / SIGHUP / Ctrl-C unwind
everything that was started (worker, Spark Connect server, clusters, throw-away folders).

Returns the command's exit code: 0 success; 1 a failed run (the failing task and the tail of
the failed step's stderr were printed); 2 a bad option or an unavailable backend; 128 + signal
when interrupted. Heavy modules (Airflow, moto, pyspark) are imported inside the functions.
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.config import ConfigError, HarnessConfig

__all__ = ["BACKENDS", "RunOptions", "default_workdir", "run_offline"]

Out = Callable[[str], Any]

#: The ``backend`` names ``run_offline`` accepts (``harness.backends.create_backend``).
BACKENDS = ("embedded", "localstack", "localstack-docker")


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """How to run (the ``HarnessConfig`` says what): the command's flags beyond the config."""

    #: Emulator workdir (S3 mirror, step logs); None: ``default_workdir()``.
    workdir: Path | None = None
    #: Sensors' poke interval in seconds (the DAG's own is kept if lower).
    poke_interval: float = 0.2
    #: Run the EMR step sensors deferrable.
    deferrable: bool = False
    #: Let Airflow's own console log through.
    echo_logs: bool = False
    #: Run Spark steps on a warm Spark Connect server started now, instead of spark-submit.
    warm_spark: bool = False
    #: Write where the time went (phases, tasks, the Spark step) as JSON to this path.
    timings: Path | None = None
    #: Where AWS comes from: one of ``BACKENDS``.
    backend: str = "embedded"
    #: With the localstack backend: use this endpoint instead of starting one.
    localstack_url: str | None = None
    #: Create LocalStack's pinned virtual environment if it is missing.
    install_localstack: bool = False


def default_workdir(parent: Path = Path(".harness", "runs")) -> Path:
    """A new, empty ``<parent>/<local time stamp>`` (default parent: ``.harness/runs`` under
    the current directory), created here; ``<stamp>-2``, ``-3`` ... when runs started in the
    same second (two terminals, a parallel test session) would otherwise share one S3 mirror."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    parent.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        candidate = parent / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            candidate.mkdir()  # atomic: exactly one run gets each name
        except FileExistsError:
            continue
        return candidate
    raise AssertionError("unreachable")


def run_offline(config: HarnessConfig, options: RunOptions | None = None, *,
                out: Out = print) -> int:  # fmt: skip
    """Run ``config.dag_id`` once as described in the module doc; return the exit code.

    ``out`` takes the lines to print (the progress lines, the report), not events."""
    if not config.dag_id:
        raise ConfigError(f"no DAG to run: set dag_id in [tool.harness] of "
                          f"{config.source or './pyproject.toml'}")
    options = options or RunOptions()
    # SIGTERM/SIGHUP behave like Ctrl-C: every `with` below unwinds (the DAG worker and the
    # Spark Connect server are stopped, clusters terminated, throw-away folders removed).
    from harness.processes import interrupt_on_signals

    runtimes: list[Any] = []  # the emulator's runtime, to report its clusters' final state
    try:
        with interrupt_on_signals():
            return _run(config, options, out, runtimes)
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        out(f"interrupted ({signal.Signals(signum).name}): stopped the run and cleaned up")
        for runtime in runtimes:
            for cluster in runtime.clusters():
                out(f"cluster {cluster.id}: {cluster.state.value}")
        return 128 + signum


def _run(config: HarnessConfig, options: RunOptions, out: Out, runtimes: list[Any]) -> int:
    t0 = time.perf_counter()
    phases: dict[str, float] = {}

    def phase(name: str) -> None:
        phases[name] = time.perf_counter() - t0 - sum(phases.values())

    from harness.airflow.dag_runner import prepare_dag_run
    from harness.airflow.progress import TaskEvent, format_event
    from harness.backends import BackendUnavailable, create_backend
    from harness.provisioning import provision
    from harness.run_report import report, write_timings

    assert config.dag_id is not None  # run_offline checked it
    # Absolute: step commands run in their own working directory.
    workdir = (options.workdir or default_workdir()).resolve()
    # Airflow gets ready (import, Execution API, DAG parse) in a worker process while this one
    # starts the backend and provisions it: on two cores they overlap.
    with contextlib.ExitStack() as stack:
        prepared = stack.enter_context(prepare_dag_run(
            config.dag_id, dags_folder=config.dags_folder, variables=config.variables))
        phase("start_airflow_worker")
        executor = None
        if options.warm_spark:
            # The server's JVM starts now and warms up while Airflow and the emulator start.
            from harness.emr.connect import ConnectExecutor

            executor = stack.enter_context(
                ConnectExecutor(log_path=workdir / "spark-connect.log"))
            phase("start_spark_connect")
        from harness.endpoint import console_reports

        stack.enter_context(console_reports())  # the version mismatch as one plain line
        try:
            backend = create_backend(options.backend, workdir=workdir, executor=executor,
                                     localstack_url=options.localstack_url,
                                     install_localstack=options.install_localstack)
        except ValueError as exc:  # a bad option value (an off-loopback --localstack-url ...)
            out(f"{options.backend} backend: {exc}")
            return 2
        try:
            stack.enter_context(backend)
        except BackendUnavailable as exc:
            out(f"{options.backend} backend unavailable: {exc}")
            return 2
        phase("backend_start")
        emulator = getattr(backend, "emulator", None)
        if emulator is not None:  # interruption reports its clusters' final state
            runtimes.append(emulator.runtime)
        try:
            provision(backend, config)
        except ConfigError as exc:  # an upload whose local path vanished since it was checked
            out(f"harness run: {exc}")
            return 2
        phase("provision")
        out(f"{backend.describe()}; running {config.dag_id} from {config.dags_folder}/ under "
            f"Airflow's dag.test() (workdir {workdir})")

        def progress(event: TaskEvent) -> None:  # `out` takes lines, not events
            out(format_event(event))

        result = prepared.run(backend=backend, poke_interval=options.poke_interval,
                              deferrable=options.deferrable, progress=progress,
                              echo_logs=options.echo_logs, connections=config.connections,
                              sensor_timeout=config.sensor_timeout, timeout=config.timeout)
        phase("run_dag")
        if options.timings is not None:
            write_timings(options.timings, backend, result, phases)
        return report(out, backend, result, workdir=workdir, t0=t0,
                      result_prefixes=config.result)

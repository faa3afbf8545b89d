"""A warm-Spark step executor: PySpark steps run against one long-lived Spark Connect server.

A cold `spark-submit` pays for a JVM start, Spark's initialisation and JIT warm-up on every
step (about 10 s for the sales job). `ConnectExecutor` starts one local Spark Connect server
(Spark's own client/server protocol, shipped in the pyspark wheel) as soon as it is created,
warms it up in the background, and runs each PySpark step as a plain Python process with
`SPARK_REMOTE` pointing at it: the step's script is unchanged and reads/writes the same local
paths. Think of it as the cluster's Spark being already up when the step arrives.

Limits (the step falls back to a regular `spark-submit` when they apply): Spark Connect has
no RDD/SparkContext API, so JVM applications (`--class`, a `.jar` app, `--jars`,
`--packages`) run through the fallback executor; a step whose script needs the RDD API
should use `SubprocessExecutor` (the emulator's default). Static Spark settings from the
cluster's `spark-defaults` cannot change a running server; the step's log says which were
not applied.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from harness.emr.executors import StepExecutor, SubprocessExecutor
from harness.emr.steps import LOCAL_DEFAULTS, LOCAL_OVERRIDES, split_spark_submit
from harness.offline_env import OfflineFiles, offline_env, snapshot_environ
from harness.ports import free_port
from harness.processes import popen_reaped, stop_reaped
from harness.spark import LOCAL_CONF, spark_home, spark_submit_env

__all__ = ["SERVER_URL_ENV", "ConnectExecutor", "SparkConnectError", "SparkConnectServer",
           "connect_plan", "executor_from_env"]

#: A Spark Connect server of this machine (``sc://127.0.0.1:PORT``) for the PySpark steps of
#: every emulator the process creates without an ``executor`` (``executor_from_env``).
SERVER_URL_ENV = "HARNESS_SPARK_CONNECT_URL"
#: Seconds a step waits for that server's port: it is meant to be running already.
ATTACH_TIMEOUT = 10.0

#: Seconds the server's JVM gets to shut down after SIGTERM before SIGKILL.
STOP_GRACE = 10.0
_SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
#: spark-submit options that mean a JVM application: Spark Connect cannot run those.
_JVM_APP_OPTIONS = {"--class", "--jars", "--packages", "--driver-class-path"}
#: Settings that only matter at JVM start, or that the server fixes for itself: not reported.
_FIXED_BY_SERVER = {*LOCAL_OVERRIDES, *LOCAL_DEFAULTS, "spark.submit.deployMode", "spark.app.name"}


class SparkConnectError(RuntimeError):
    """The Spark Connect server did not come up (carries the tail of its log)."""


class SparkConnectServer:
    """One local Spark Connect server bound to 127.0.0.1. `start()` returns at once.

    Use as a context manager, or call `start()` / `stop()`. `wait_ready()` blocks (bounded)
    until the server accepts connections and the warm-up query ran.
    """

    def __init__(
        self,
        *,
        log_path: str | Path | None = None,
        conf: dict[str, str] | None = None,
        warm_up: bool = True,
        start_timeout: float = 180.0,
        nice: int = 10,
        port: int | None = None,
    ) -> None:
        self.port = port if port is not None else free_port()  # a given one: attach()
        # Started early to overlap other start-up work (Airflow's): a lower CPU priority
        # keeps that work on the critical path fast, the server uses the idle cycles.
        self.nice = nice
        self.url = f"sc://127.0.0.1:{self.port}"
        self.log_path = Path(log_path) if log_path else None
        self.conf = {**LOCAL_CONF, **LOCAL_DEFAULTS, **(conf or {})}
        self.conf.pop("spark.master", None)
        self.warm_up = warm_up
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready = threading.Event()
        self._error: str | None = None
        self._log_file: BinaryIO | None = None
        self._files: OfflineFiles | None = None
        self._env: dict[str, str] = {}
        self._attached = False
        self._started_wait = False

    @classmethod
    def attach(cls, url: str, *, start_timeout: float = 180.0,
               log_path: str | Path | None = None) -> SparkConnectServer:  # fmt: skip
        """A server another process of this machine started (with this class's settings) at
        ``url`` (``sc://127.0.0.1:PORT``): ``wait_ready()`` waits for its port (and quotes
        ``log_path``, the server's log, if it fails), ``stop()`` leaves it running.
        Pytest-xdist workers share their controller's server so."""
        host, _, port = url.removeprefix("sc://").partition(":")
        if not url.startswith("sc://") or host != "127.0.0.1" or not port.isdigit():
            raise ValueError(f"not a Spark Connect server on this machine: {url!r} "
                             "(expected sc://127.0.0.1:PORT)")
        server = cls(warm_up=False, start_timeout=start_timeout, log_path=log_path,
                     port=int(port))
        server._attached = True
        return server

    @property
    def attached(self) -> bool:
        """Started elsewhere (``attach``): this object never stops it."""
        return self._attached

    def reachable(self, timeout: float = 0.5) -> bool:
        """Whether the server's port accepts a connection now (bounded by ``timeout``)."""
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port),
                                                                    timeout=timeout):
            return True
        return False

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> SparkConnectServer:
        if self._attached:
            if not self._started_wait:
                self._started_wait = True
                threading.Thread(target=self._become_ready, name="spark-connect-attach",
                                 daemon=True).start()
            return self
        if self._proc is not None:
            return self
        conf = {
            **self.conf,
            **{k: v for k, v in LOCAL_OVERRIDES.items() if k != "spark.master"},
            "spark.connect.grpc.binding.address": "127.0.0.1",
            "spark.connect.grpc.binding.port": str(self.port),
        }
        argv = [
            str(Path(spark_home(), "bin", "spark-submit")),
            "--class",
            _SERVER_CLASS,
            "--master",
            LOCAL_OVERRIDES["spark.master"],
            "--name",
            "airflow-emr-connect",
        ]
        for key, value in conf.items():
            argv += ["--conf", f"{key}={value}"]
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = self.log_path.open("wb")
        # Offline like every process of the harness: dummy credentials, no ~/.aws, the guard
        # in its Python workers. The reaper ends the JVM's tree if this process dies.
        self._files = OfflineFiles()
        self._env = offline_env(spark_submit_env(snapshot_environ()), endpoints={},
                                files=self._files)  # fmt: skip
        try:
            self._proc = popen_reaped(
                _niced(argv, self.nice),
                grace=STOP_GRACE,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file or subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
        except OSError:
            self.stop()
            raise
        threading.Thread(target=self._become_ready, name="spark-connect-start", daemon=True).start()
        return self

    def wait_ready(self, timeout: float | None = None) -> str:
        """Block until ready; return the `sc://` URL. Raises SparkConnectError on failure."""
        if self._proc is None and not self._started_wait:
            self.start()
        limit = self.start_timeout if timeout is None else timeout
        if not self._ready.wait(limit):
            raise SparkConnectError(f"Spark Connect server at {self.url}: not ready after "
                                    f"{limit:.0f} s{self._log_tail()}")
        if self._error:
            raise SparkConnectError(
                f"Spark Connect server at {self.url}: {self._error}{self._log_tail()}"
            )
        return self.url

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self._error is None

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_reaped(proc, grace=STOP_GRACE)  # SIGTERM, SIGKILL after STOP_GRACE s
        files, self._files = self._files, None
        if files is not None:
            files.cleanup()
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> SparkConnectServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------------------
    def _become_ready(self) -> None:
        try:
            self._wait_for_port()
            if self.warm_up:
                self._run_warm_up()
        except Exception as exc:  # reported by wait_ready(), with the log tail
            self._error = str(exc)
        finally:
            self._ready.set()

    def _wait_for_port(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            proc = self._proc
            if proc is None and not self._attached:
                raise SparkConnectError("stopped before it was ready")
            if proc is not None and proc.poll() is not None:
                raise SparkConnectError(f"server process exited with code {proc.returncode}")
            if self.reachable(timeout=0.2):
                return
            time.sleep(0.05)  # bounded fast poll for the port to open
        raise SparkConnectError(f"port {self.port} not open after {self.start_timeout:.0f} s")

    def _run_warm_up(self) -> None:
        # One tiny CSV read + aggregation + write in a child client: loads and JIT-compiles
        # the code paths a typical job uses, so the first real step runs warm.
        code = (
            "import sys, tempfile, os, shutil\n"
            "from pyspark.sql import SparkSession, functions as F\n"
            "s = SparkSession.builder.remote(sys.argv[1]).getOrCreate()\n"
            "d = tempfile.mkdtemp(prefix='spark-connect-warm-up-')\n"
            "p = os.path.join(d, 'w.csv')\n"
            "open(p, 'w').write('k,v\\na,1.50\\nb,2\\n')\n"
            "df = s.read.option('header', 'true').schema('k string, v string').csv(p)\n"
            "df = df.withColumn('v', F.expr('try_cast(v AS DECIMAL(12,2))')).cache()\n"
            "df.count()\n"
            "out = df.groupBy('k').agg(F.sum('v').alias('t'), F.avg('v')).orderBy('t')\n"
            "out.coalesce(1).write.mode('overwrite').option('header', 'true')"
            ".csv(os.path.join(d, 'o'))\n"
            "s.stop()\n"
            "shutil.rmtree(d, ignore_errors=True)\n"
        )
        client = popen_reaped(
            _niced([sys.executable, "-c", code, self.url], self.nice),
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _, stderr = client.communicate(timeout=self.start_timeout)
        except subprocess.TimeoutExpired:
            stop_reaped(client)
            raise SparkConnectError(
                f"warm-up query did not finish in {self.start_timeout:.0f} s"
            ) from None
        if client.returncode != 0:
            raise SparkConnectError(f"warm-up query failed: {stderr.strip()[-800:]}")

    def _log_tail(self, lines: int = 15) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return "\n--- server log tail ---\n" + "\n".join(tail)


class ConnectExecutor:
    """Run PySpark spark-submit steps on a warm Spark Connect server; anything else falls back.

    The server starts when the executor is created (pass `server=` to share one). Call
    `close()` (or use it as a context manager) to stop a server it started.
    """

    def __init__(
        self,
        *,
        server: SparkConnectServer | None = None,
        fallback: StepExecutor | None = None,
        log_path: str | Path | None = None,
        on_fallback: Callable[[str], None] | None = None,
    ) -> None:
        self._owns_server = server is None
        self.server = (server or SparkConnectServer(log_path=log_path)).start()
        self.fallback = fallback or SubprocessExecutor()
        self.on_fallback = on_fallback

    def run(
        self,
        argv: list[str],
        env: dict[str, str],
        cwd: Path,
        stdout_path: Path,
        stderr_path: Path,
        cancel_event: threading.Event,
    ) -> int:
        plan = connect_plan(argv, env, server_conf=self.server.conf)
        if isinstance(plan, str):
            if argv and argv[0].endswith("spark-submit"):  # other commands never use Connect
                _note(stdout_path, f"spark-submit (not Spark Connect): {plan}")
            if self.on_fallback:
                self.on_fallback(plan)
            return self.fallback.run(argv, env, cwd, stdout_path, stderr_path, cancel_event)
        local_argv, local_env, ignored = plan
        try:
            url = self.server.wait_ready()
            if self.server.attached and not self.server.reachable():
                # Ready once, gone since: say so, rather than the client's retries and errors.
                raise SparkConnectError(f"Spark Connect server at {url} (started elsewhere) "
                                        "no longer accepts connections")
        except SparkConnectError as exc:
            with Path(stderr_path).open("a", encoding="utf-8") as err:  # the step's failure
                err.write(f"{exc}\n")
            return 1
        _note(stdout_path, f"running on the warm Spark Connect server {url}")
        if ignored:
            _note(
                stdout_path,
                "static settings not applied to the shared server: "
                + ", ".join(sorted(ignored)),
            )
        local_env["SPARK_REMOTE"] = url
        return self.fallback.run(local_argv, local_env, cwd, stdout_path, stderr_path, cancel_event)

    def describe(self) -> str:
        """Where PySpark steps run, for the run's header line."""
        started = (f"started elsewhere: {SERVER_URL_ENV}" if self.server.attached
                   else "started for this run")  # fmt: skip
        return f"PySpark steps on the Spark Connect server {self.server.url} ({started})"

    def close(self) -> None:
        if self._owns_server:
            self.server.stop()

    def __enter__(self) -> ConnectExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def executor_from_env(environ: Mapping[str, str] | None = None) -> ConnectExecutor | None:
    """A ``ConnectExecutor`` on the server named by ``HARNESS_SPARK_CONNECT_URL`` (never
    stopped by it), or None when the variable is unset or empty: the emulator's default of a
    cold ``spark-submit`` per step. Raises ValueError for a URL off this machine."""
    url = (os.environ if environ is None else environ).get(SERVER_URL_ENV, "").strip()
    if not url:
        return None
    try:
        server = SparkConnectServer.attach(url, start_timeout=ATTACH_TIMEOUT)
    except ValueError as exc:
        raise ValueError(f"{SERVER_URL_ENV}: {exc}") from None
    return ConnectExecutor(server=server)


#: A spark-submit run on Spark Connect: (python argv, env, conf keys the server does not apply).
ConnectPlan = tuple[list[str], dict[str, str], list[str]]


def connect_plan(
    argv: list[str], env: dict[str, str], *, server_conf: dict[str, str]
) -> ConnectPlan | str:
    """How to run a local spark-submit argv against Spark Connect (pure).

    Returns (python argv, env, conf keys the shared server does not apply), or a string saying
    why the step must fall back to spark-submit.
    """
    if not argv or not argv[0].endswith("spark-submit"):
        return "not a spark-submit step"
    if env.get("HARNESS_SPARK_CONNECT") == "0":  # set by plan_step (e.g. run-example)
        return "the step needs a SparkContext (RDD API), which Spark Connect has not"
    options, app, app_args = split_spark_submit(argv[1:])
    if not app.endswith(".py"):
        return f"application {Path(app).name} is not a Python script"
    jvm = sorted({opt for opt, _ in options} & _JVM_APP_OPTIONS)
    if jvm:
        return f"JVM options {', '.join(jvm)} need spark-submit"
    local_env = dict(env)
    ignored: list[str] = []
    py_files: list[str] = []
    for opt, value in options:
        if opt in ("--conf", "-c") and value:
            key, _, val = value.partition("=")
            if key not in _FIXED_BY_SERVER and server_conf.get(key) != val:
                ignored.append(key)
        elif opt == "--py-files" and value:
            py_files += value.split(",")
    if py_files:
        local_env["PYTHONPATH"] = os.pathsep.join(
            [*py_files, *filter(None, [local_env.get("PYTHONPATH")])]
        )
    python = local_env.get("PYSPARK_DRIVER_PYTHON") or local_env.get("PYSPARK_PYTHON")
    return [python or sys.executable, app, *app_args], local_env, ignored


def _niced(argv: list[str], nice: int) -> list[str]:
    nice_bin = shutil.which("nice") if nice else None
    return [nice_bin, "-n", str(nice), *argv] if nice_bin else argv


def _note(step_file: Path, line: str) -> None:
    """A line for the step's `controller` log (next to its stdout/stderr), as EMR's controller
    log holds what ran the step: the step's own output stays exactly the program's."""
    controller = Path(step_file).with_name("controller")
    with controller.open("a", encoding="utf-8") as fh:
        fh.write(f"{datetime.now(UTC).isoformat(timespec='milliseconds')} INFO {line}\n")

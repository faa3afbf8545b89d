"""The stack itself: PostgreSQL, the AWS backend, and Airflow's api-server, scheduler,
dag-processor and triggerer (LocalExecutor), started in order, checked ready, stopped for sure.

`Stack` is a context manager run by one supervisor process (`python -m harness.stack.supervisor`
for `stack up`, or the caller itself for `stack up --foreground`). Every child is spawned through
`harness.stack.processes.spawn` (own process group, parent-death signal, the stack's marker
variable) and recorded in `<state-dir>/state.json`, which `stack status` and `stack down` read.
If start-up fails, whatever was started is stopped before the error propagates.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.config import HarnessConfig, load_config
from harness.processes import start_ticks
from harness.stack import airflow_setup
from harness.stack.api import AirflowApi
from harness.stack.processes import (
    MARKER_VAR,
    ChildProcess,
    StartupError,
    kill_marked,
    log_tail,
    spawn,
    stop_group,
    wait_until,
)

__all__ = ["Stack", "StackConfig", "read_state", "STATE_FILE"]

STATE_FILE = "state.json"
MIGRATE_TIMEOUT_S = 600
#: From the Airflow processes' spawn to all of them healthy and the DAG parsed. On a loaded
#: two-core machine the four imports of Airflow alone take a minute.
READY_TIMEOUT_S = 420
AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


@dataclass
class StackConfig:
    """One stack's settings. What it runs comes from the repository's ``[tool.harness]`` table
    (``config_file``; None: ``./pyproject.toml``): the DAG it waits for, the buckets, uploads,
    roles, Variables and connections; ``dag_id`` and ``dags_folder`` here are the table's with
    the command line on top."""

    state_dir: Path
    dag_id: str
    port: int = 8080
    backend: str = "embedded"
    config_file: Path | None = None
    dags_folder: Path = Path("dags")
    #: Leave every upload out (the "input missing" case), or those of these local paths.
    no_uploads: bool = False
    skip_uploads: tuple[Path, ...] = ()
    timing: airflow_setup.LocalTiming = field(default_factory=airflow_setup.LocalTiming)
    database: str = "auto"  # auto | postgres | sqlite
    #: In every process's environment (HARNESS_STACK_ID) and in the state file.
    stack_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def to_json(self) -> dict[str, Any]:
        return {
            "state_dir": str(self.state_dir), "dag_id": self.dag_id, "port": self.port,
            "backend": self.backend,
            "config_file": None if self.config_file is None else str(self.config_file),
            "dags_folder": str(self.dags_folder),
            "no_uploads": self.no_uploads, "skip_uploads": [str(p) for p in self.skip_uploads],
            "timing": {"poke_interval": self.timing.poke_interval,
                       "deferrable": self.timing.deferrable,
                       "sensor_timeout": (dict(self.timing.sensor_timeout)
                                          if isinstance(self.timing.sensor_timeout, Mapping)
                                          else self.timing.sensor_timeout)},
            "database": self.database, "stack_id": self.stack_id,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> StackConfig:
        return cls(
            state_dir=Path(d["state_dir"]), dag_id=d["dag_id"], port=d["port"],
            backend=d["backend"],
            config_file=None if d["config_file"] is None else Path(d["config_file"]),
            dags_folder=Path(d["dags_folder"]),
            no_uploads=d["no_uploads"], skip_uploads=tuple(Path(p) for p in d["skip_uploads"]),
            timing=airflow_setup.LocalTiming(**d["timing"]), database=d["database"],
            stack_id=d["stack_id"],
        )


def read_state(state_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((state_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.dir = config.state_dir.resolve()
        self.stack_id = config.stack_id
        self.children: list[ChildProcess] = []
        self.state: dict[str, Any] = {}
        self.backend: Any = None
        self.login: airflow_setup.Login | None = None
        self.url = f"http://127.0.0.1:{config.port}"
        self.timings: dict[str, float] = {}
        self._t0 = time.monotonic()

    # -- state file ------------------------------------------------------------------------
    def _write_state(self, status: str, **extra: Any) -> None:
        self.state.update({
            "status": status,
            "stack_id": self.stack_id,
            "supervisor_pid": os.getpid(),
            "supervisor_start": start_ticks(os.getpid()),
            "url": self.url,
            "username": self.login.username if self.login else None,
            "password": self.login.password if self.login else None,
            "home": str(self.dir / "home"),
            "config": self.config.to_json(),
            "processes": [{"name": c.name, "pid": c.pid, "start": c.start, "log": str(c.log)}
                          for c in self.children],
            "timings": self.timings,
            **extra,
        })
        partial = self.dir / (STATE_FILE + ".partial")
        partial.touch(mode=0o600)  # it holds the UI password
        partial.write_text(json.dumps(self.state, indent=2))
        os.replace(partial, self.dir / STATE_FILE)

    def _mark(self, name: str) -> None:
        self.timings[name] = round(time.monotonic() - self._t0, 2)

    def _env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AIRFLOW", "AWS_")) or k == "AIRFLOW_UID"}
        env[MARKER_VAR] = self.stack_id
        env["PYTHONUNBUFFERED"] = "1"
        env.update(extra or {})
        return env

    def _spawn(self, name: str, argv: list[str], env: dict[str, str], **kw: Any) -> ChildProcess:
        child = spawn(name, argv, env=env, log=self.dir / "logs" / f"{name}.log", **kw)
        self.children.append(child)
        self._write_state("starting")
        return child

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Stack:
        try:
            self._start()
        except BaseException as e:
            self._write_state("failed", error=str(e))
            self.stop()
            self._write_state("failed", error=str(e))
            raise
        return self

    def _start(self) -> None:
        cfg = self.config
        home = self.dir / "home"
        home.mkdir(parents=True)
        self._write_state("starting")
        # The backend's process first: it imports moto while PostgreSQL initialises.
        emulator_ready = self.dir / "emulator" / "ready.json"
        emulator = self._start_backend(emulator_ready) if cfg.backend == "embedded" else None
        db_url = self._start_database()
        self._mark("database_ready")
        if emulator is not None:
            self.backend = self._wait_backend(emulator, emulator_ready)
        else:
            self.backend = self._start_inprocess_backend()
        self.state["backend"] = {
            "name": self.backend.name, "url": self.backend.endpoint_for("emr"),
            "admin_url": getattr(self.backend, "admin_url", None),
            "workdir": str(getattr(self.backend, "workdir", "")),
            "connection_extra": self.backend.connection_extra()}
        self._mark("backend_ready")
        self.login = airflow_setup.write_login(home)
        airflow_setup.write_local_settings(home, cfg.timing)
        table = self.harness_config()
        env = self._env(airflow_setup.airflow_env(
            home=home, dags_folder=cfg.dags_folder.resolve(), db_url=db_url, port=cfg.port,
            login=self.login, connection_extra=self.backend.connection_extra(),
            secret=secrets.token_urlsafe(32), variables=table.variables,
            connections=table.connections))
        self._migrate(env)
        self._mark("db_migrated")
        self._provision()
        self._mark("provisioned")
        airflow = [sys.executable, "-m", "airflow"]
        commands = {
            "api-server": [*airflow, "api-server", "--host", "127.0.0.1",
                           "--port", str(cfg.port), "--workers", "1"],
            # No log-serving sub-server (it binds every interface): the api-server reads task
            # logs from the shared log folder on this host.
            "scheduler": [*airflow, "scheduler", "--skip-serve-logs"],
            "dag-processor": [*airflow, "dag-processor"],
            "triggerer": [*airflow, "triggerer", "--skip-serve-logs"],
        }
        for name in AIRFLOW_COMPONENTS:
            self._spawn(name, commands[name], env, cwd=str(Path.cwd()))
        self._wait_airflow()
        self._mark("ui_ready")
        self._write_state("ready")

    # -- components ------------------------------------------------------------------------
    def _start_inprocess_backend(self) -> Any:
        """A backend object living in this (supervisor) process, e.g. LocalStack: its own
        processes are this process's children, so `stop()` and the descendants check cover
        them."""
        if self.config.backend != "localstack":
            raise StartupError(f"unknown backend {self.config.backend!r}")
        try:
            from harness.backends.localstack import LocalStackBackend
        except ImportError as e:
            raise StartupError(
                f"--backend localstack needs harness.backends.localstack ({e})") from None
        backend = LocalStackBackend(workdir=self.dir / "localstack", install=True)
        self._inprocess_backend = backend
        return backend.start()

    def _start_backend(self, ready_file: Path) -> ChildProcess:
        ready_file.parent.mkdir(parents=True, exist_ok=True)
        return self._spawn(
            "emulator",
            [sys.executable, "-m", "harness.stack.emulator", "--ready-file", str(ready_file),
             "--workdir", str(self.dir / "emulator" / "work")],
            self._env(), cwd=str(Path.cwd()))

    def _wait_backend(self, child: ChildProcess, ready_file: Path) -> Any:
        from harness.stack.emulator import EmulatorProcess

        def ready() -> bool:
            if child.popen.poll() is not None:
                raise StartupError(f"the emulator exited with {child.popen.returncode}:\n"
                                   f"{child.tail()}")
            return ready_file.exists()

        if not wait_until(ready, timeout=120, interval=0.1):
            raise StartupError(f"the emulator was not ready within 120 s:\n{child.tail()}")
        return EmulatorProcess(ready=json.loads(ready_file.read_text()))

    def _start_database(self) -> str:
        from harness.stack.postgres import PostgresServer, find_postgres_bin

        mode = self.config.database
        if mode == "sqlite" or (mode == "auto" and find_postgres_bin() is None):
            self.state["database"] = "sqlite"
            self.state["database_note"] = (
                "SQLite metadata DB, because no PostgreSQL server binaries (initdb, postgres) "
                "were found (or --database sqlite): one writer at a time, fine for one DAG run; "
                "install PostgreSQL for a production-like metadata DB")
            return f"sqlite:///{self.dir / 'home' / 'airflow.db'}"
        server = PostgresServer(folder=self.dir / "pg")
        # Recorded before it can fail: stop() must see it.
        child = server.start(self._env())
        self.children.append(child)
        self.state["database"] = "postgresql"
        self.state["postgres"] = {"port": server.port, "data": str(server.data)}
        self._write_state("starting")
        return server.url

    def _migrate(self, env: dict[str, str]) -> None:
        log = self.dir / "logs" / "db-migrate.log"
        with open(log, "wb") as out:
            try:
                proc = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"],
                                      env=env, stdout=out, stderr=subprocess.STDOUT,
                                      timeout=MIGRATE_TIMEOUT_S, check=False)
            except subprocess.TimeoutExpired:
                raise StartupError(f"`airflow db migrate` did not finish in "
                                   f"{MIGRATE_TIMEOUT_S} s:\n{log_tail(log)}") from None
        if proc.returncode != 0:
            raise StartupError(f"`airflow db migrate` failed (exit {proc.returncode}):\n"
                               f"{log_tail(log)}")

    def harness_config(self) -> HarnessConfig:
        """The ``[tool.harness]`` table this stack runs, without the uploads it leaves out;
        their buckets are kept (the DAG then finds its input missing, not its bucket)."""
        config = load_config(self.config.config_file)
        skipped = {p.resolve() for p in self.config.skip_uploads}
        return replace(
            config, buckets=tuple(config.all_buckets()),
            uploads=() if self.config.no_uploads else tuple(
                u for u in config.uploads if u.local.resolve() not in skipped))

    def _provision(self) -> None:
        from harness.provisioning import provision

        provision(self.backend, self.harness_config())

    def _wait_airflow(self) -> None:
        assert self.login is not None, "the login is written (_configure) before Airflow starts"
        api = AirflowApi(self.url, self.login.username, self.login.password, timeout=10)
        seen: dict[str, Any] = {}

        def ready() -> bool:
            for child in self.children:
                if child.popen.poll() is not None:
                    raise StartupError(f"{child.name} exited with {child.popen.returncode} "
                                       f"during start-up; its log ({child.log}):\n{child.tail()}")
            try:
                health = api.health()
                seen["health"] = health
                if not all(health.get(c, {}).get("status") == "healthy"
                           for c in ("metadatabase", "scheduler", "triggerer", "dag_processor")):
                    return False
                seen["dag"] = api.dag(self.config.dag_id)
            except Exception as e:  # not up yet: connection refused, 404 before the parse ...
                seen["last_error"] = str(e)
                return False
            return True

        if not wait_until(ready, timeout=READY_TIMEOUT_S, interval=0.5):
            tails = "\n".join(f"--- {c.name} ({c.log}):\n{c.tail(15)}" for c in self.children
                              if c.name in AIRFLOW_COMPONENTS)
            raise StartupError(
                f"Airflow was not ready within {READY_TIMEOUT_S} s (expected every component "
                f"healthy and DAG {self.config.dag_id} parsed); last health: "
                f"{seen.get('health')}, last error: {seen.get('last_error')}\n{tails}")

    def stop(self) -> list[int]:
        """Stop every child (Airflow first, the database last); returns pids still alive."""
        order = {"api-server": 0, "scheduler": 0, "dag-processor": 0, "triggerer": 0,
                 "emulator": 1, "postgres": 2}
        for rank in (0, 1, 2):
            group = [c for c in self.children if order.get(c.name, 0) == rank]
            for child in group:  # signal all of a rank at once, then wait for each
                sig = signal.SIGINT if child.name == "postgres" else signal.SIGTERM
                try:
                    os.killpg(child.pid, sig)
                except ProcessLookupError:
                    pass
            for child in group:
                stop_group(child.pid, timeout=30, reap=child.popen.poll)
        backend = getattr(self, "_inprocess_backend", None)
        if backend is not None:
            backend.stop()
        left = kill_marked(self.stack_id, [c.pid for c in self.children])
        self._write_state("stopped", left=left)
        return left

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run_until_signalled(self) -> None:
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.wait(2.0):
            for child in self.children:
                if child.popen.poll() is not None and not self.state.get("died"):
                    self.state["died"] = f"{child.name} exited with {child.popen.returncode}"
                    self._write_state("degraded")


def prepare_state_dir(state_dir: Path) -> None:
    """A fresh state dir (the previous stack's home and logs are replaced)."""
    if state_dir.exists():
        shutil.rmtree(state_dir)
    (state_dir / "logs").mkdir(parents=True)


def main(argv: list[str] | None = None) -> int:
    """The detached supervisor of `stack up`: start, serve until SIGTERM, stop."""
    p = argparse.ArgumentParser(prog="python -m harness.stack.supervisor")
    p.add_argument("--config", required=True, help="StackConfig as JSON")
    config = StackConfig.from_json(json.loads(p.parse_args(argv).config))
    stack = Stack(config)
    # SIGTERM during start-up must still clean up: turn it into an exception.
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupt)
    try:
        stack.start()
    except BaseException as e:
        print(f"stack start-up failed: {e}", file=sys.stderr, flush=True)
        return 1
    try:
        stack.run_until_signalled()
    finally:
        left = stack.stop()
    return 0 if not left else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

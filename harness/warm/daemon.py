"""The warm daemon: warm services in one process, serving run requests on a unix socket.

    python -m harness.warm.daemon --state-dir DIR --socket PATH [--idle-timeout S] [--spark ...]

Started by the guardian (``harness.warm.guardian``), never directly. The main thread owns the
services (``WarmPipeline``) and runs one request at a time; a thread accepts connections and
answers pings and stop requests at once, even during a run. It stops on ``stop``, SIGTERM
(also sent by the kernel if the guardian dies), or after ``--idle-timeout`` s without a request,
and removes its socket and (with the guardian) the state file.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import signal
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.warm import procs, protocol, state
from harness.warm.protocol import ProtocolError, RunRequest

__all__ = ["WarmDaemon", "main"]


@dataclass
class _Job:
    request: RunRequest
    conn: socket.socket
    done: threading.Event = field(default_factory=threading.Event)


class _Stop:
    """Queued to wake the main thread up and make it stop."""


class WarmDaemon:
    def __init__(self, *, state_dir: Path, socket_path: Path, idle_timeout: float,
                 spark: str, marker: str, pipeline_factory: Any = None) -> None:  # fmt: skip
        self.state_dir = state_dir
        self.socket_path = socket_path
        self.idle_timeout = idle_timeout
        self.spark = spark
        self.marker = marker
        self.pipeline: Any = None
        #: Builds the services (default: ``WarmPipeline``); tests pass a stand-in.
        self.pipeline_factory = pipeline_factory
        self._queue: queue.Queue[_Job | _Stop] = queue.Queue()
        self._lock = threading.Lock()  # guards _current / _waiting
        self._current: RunRequest | None = None
        self._current_since = 0.0
        self._phase = "idle"  # "running" a request, then "resetting" the account
        self._waiting = 0
        self._last_activity = time.monotonic()
        self._server: socket.socket | None = None
        self._state: state.WarmState | None = None
        self._stopping = threading.Event()
        #: Called in the main thread after each run (re-installs signal handlers that
        #: Airflow's task runner may have replaced).
        self.after_run: Any = None

    # -- lifecycle -------------------------------------------------------------------------
    def serve(self) -> int:
        from harness.warm.pipeline import WarmPipeline

        self._write_state("starting", {})
        self._listen()  # pings answer "starting" while the services start
        factory = self.pipeline_factory or WarmPipeline
        self.pipeline = factory(home=self.state_dir, spark=self.spark)
        try:
            self.pipeline.start(log=self._log)
            if self._stopping.is_set():
                return 0
            self._write_state("ready", self.pipeline.services)
            self._log(f"ready: {self.pipeline.services}")
            self._loop()
        finally:
            self._shutdown()
        return 0

    def _loop(self) -> None:
        while not self._stopping.is_set():
            timeout = None
            if self.idle_timeout > 0:
                timeout = max(0.0, self._last_activity + self.idle_timeout - time.monotonic())
            try:
                job = self._queue.get(timeout=timeout)
            except queue.Empty:
                with self._lock:
                    idle = self._waiting == 0 and (
                        time.monotonic() - self._last_activity >= self.idle_timeout)
                if idle:
                    self._log(f"idle for {self.idle_timeout:.0f} s: stopping")
                    return
                continue
            if isinstance(job, _Stop):
                return
            self._execute(job)
            if self.after_run is not None:
                self.after_run()

    def stop(self) -> None:
        """From any thread or a signal handler: finish the current run's bookkeeping, stop."""
        self._stopping.set()
        self._queue.put(_Stop())

    def _shutdown(self) -> None:
        self._log("stopping the services")
        server, self._server = self._server, None
        if server is not None:
            with contextlib.suppress(OSError):
                server.close()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        if self.socket_path.parent.name.startswith("harness-warm-"):  # client._socket_path
            with contextlib.suppress(OSError):
                self.socket_path.parent.rmdir()
        while True:  # requests still queued get an answer, not a dropped connection
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(job, _Job):
                with contextlib.suppress(OSError):
                    _send(job.conn, {"type": "error", "message": "the warm services stopped "
                                     "before this run started"})
                job.done.set()
        if self.pipeline is not None:
            self.pipeline.stop()
        state.remove_state(self.state_dir, owner=os.getppid())
        self._log("stopped")

    def _write_state(self, status: str, services: dict[str, Any]) -> None:
        guardian = os.getppid()
        self._state = state.WarmState(
            pid=guardian, pid_start=procs.start_ticks(guardian), daemon_pid=os.getpid(),
            socket=str(self.socket_path), marker=self.marker, status=status,
            started_at=self._state.started_at if self._state else time.time(),
            idle_timeout=self.idle_timeout, services=services, protocol=protocol.PROTOCOL,
        )
        state.write_state(self.state_dir, self._state)

    @staticmethod
    def _log(line: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} daemon {os.getpid()}: {line}", flush=True)

    # -- the socket ------------------------------------------------------------------------
    def _listen(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # the socket is the user's only
        try:
            server.bind(str(self.socket_path))
        finally:
            os.umask(old_umask)
        server.listen(16)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), name="warm-accept",
                         daemon=True).start()  # fmt: skip

    def _accept(self, server: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return  # closed by _shutdown
            threading.Thread(target=self._handle, args=(conn,), name="warm-conn",
                             daemon=True).start()  # fmt: skip

    def _handle(self, conn: socket.socket) -> None:
        job = None
        try:
            with conn.makefile("rb") as reader:
                line = reader.readline(protocol.MAX_LINE + 1)
            message = protocol.decode(line)
            op = message.get("op")
            if op == "ping":
                _send(conn, {"type": "pong", **self._status()})
            elif op == "stop":
                _send(conn, {"type": "stopping", "pid": os.getpid()})
                self._log("stop requested")
                self.stop()
            elif op == "run":
                job = self._admit(conn, message)
            else:
                raise ProtocolError(f"unknown op {op!r}")
        except (ProtocolError, OSError) as exc:
            with contextlib.suppress(OSError):
                _send(conn, {"type": "error", "message": str(exc)})
        if job is not None:
            job.done.wait()  # the main thread answers on conn; closed here afterwards
        with contextlib.suppress(OSError):
            conn.close()

    def _admit(self, conn: socket.socket, message: dict[str, Any]) -> _Job | None:
        request = RunRequest.from_dict(message.get("request"))
        if self._stopping.is_set():
            _send(conn, {"type": "error", "message": "the warm services are stopping"})
            return None
        with self._lock:
            busy = self._current is not None or self._waiting > 0
            if busy:
                info = self._busy_info()
                if not message.get("wait", True):
                    _send(conn, {"type": "busy", **info})
                    return None
                _send(conn, {"type": "queued", **info})
            self._waiting += 1
            self._last_activity = time.monotonic()
        job = _Job(request, conn)
        self._queue.put(job)
        return job

    def _busy_info(self) -> dict[str, Any]:
        current = self._current
        return {
            "busy_with": None if current is None else {
                "dag_id": current.dag_id, "client_pid": current.client_pid,
                "phase": self._phase,
                "for_s": round(time.monotonic() - self._current_since, 1)},
            "waiting": self._waiting,
        }

    def _status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "pid": os.getpid(), "protocol": protocol.PROTOCOL,
                "status": self._state.status if self._state else "starting",
                "busy": self._current is not None, **self._busy_info(),
            }

    # -- one run (main thread) -------------------------------------------------------------
    def _execute(self, job: _Job) -> None:
        with self._lock:
            self._waiting -= 1
            self._current, self._current_since = job.request, time.monotonic()
            self._phase = "running"
        lost: list[bool] = []

        def out(line: str) -> None:
            if lost:
                return
            try:
                _send(job.conn, {"type": "out", "line": str(line)})
            except OSError:  # the client went away: the run goes on (its cleanup matters)
                lost.append(True)
                self._log("client disconnected; finishing the run")

        self._log(f"run {job.request.dag_id} for pid {job.request.client_pid}")
        try:
            code, result = self.pipeline.run(job.request, out)
            reply = {"type": "done", "code": code, "result": result.to_dict()}
        except Exception as exc:  # the daemon survives a failed run and says why it failed
            self._log(traceback.format_exc())
            reply = {"type": "error", "message": f"warm run failed: {exc!r}",
                     "traceback": traceback.format_exc()}
        with contextlib.suppress(OSError):
            if not lost:
                _send(job.conn, reply)
        job.done.set()
        self._log(f"run {job.request.dag_id} done")
        with self._lock:
            self._phase = "resetting"
        try:
            if job.request.keep_state:
                self._log("keeping the emulated account's state (--keep-state)")
            else:
                # The client has its answer: nobody waits. Still "busy" meanwhile, so that
                # whoever inspects the emulator waits for the reset to end.
                self.pipeline.reset_account()
        except Exception:
            self._log("resetting the emulated account failed: stopping\n"
                      + traceback.format_exc())
            self.stop()
        finally:
            with self._lock:
                self._current, self._phase = None, "idle"
                self._last_activity = time.monotonic()


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    conn.sendall(protocol.encode(message))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.warm.daemon")
    p.add_argument("--state-dir", required=True)
    p.add_argument("--socket", required=True)
    p.add_argument("--idle-timeout", type=float, default=1800.0)
    p.add_argument("--spark", choices=("connect", "submit"), default="connect")
    args = p.parse_args(argv)
    daemon = WarmDaemon(
        state_dir=Path(args.state_dir), socket_path=Path(args.socket),
        idle_timeout=args.idle_timeout, spark=args.spark,
        marker=os.environ.get(procs.MARKER_ENV, ""),
    )

    def on_signal(signum: int, _frame: object) -> None:
        daemon._log(f"{signal.Signals(signum).name}: stopping")
        if daemon.pipeline is None or daemon._state is None or daemon._state.status != "ready":
            # Still starting: unwind the start-up (its `finally` stops what started).
            raise KeyboardInterrupt
        daemon.stop()

    def install_handlers() -> None:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, on_signal)

    install_handlers()
    daemon.after_run = install_handlers
    # The guardian's death means nobody will clean up after us: stop now (SIGTERM above).
    procs.set_parent_death_signal(signal.SIGTERM)
    try:
        return daemon.serve()
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())

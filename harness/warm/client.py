"""The client side of the warm loop: `up`, `down`, and `run` delegating to warm services.

Imports nothing heavy (no Airflow, boto3, moto, pyspark): a warm `python -m harness run` costs
this process an interpreter start and a socket.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness.warm import procs, protocol, state
from harness.warm.state import Liveness, WarmState

__all__ = ["delegate_run", "down", "ping", "request", "run_request", "up"]

Out = Callable[[str], Any]
NO_WARM_ENV = "HARNESS_NO_WARM"
LOG_FILE = "warm.log"
DEFAULT_IDLE_TIMEOUT = 30 * 60.0
PING_TIMEOUT = 10.0


# ---------------------------------------------------------------------------- the socket


@contextlib.contextmanager
def _connection(st: WarmState, timeout: float | None) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(st.socket)
        yield sock
    finally:
        sock.close()


def request(st: WarmState, message: dict[str, Any], *, timeout: float | None = None
            ) -> Iterator[dict[str, Any]]:  # fmt: skip
    """Send one request; yield the answers until the daemon closes the connection."""
    with _connection(st, timeout) as sock:
        sock.sendall(protocol.encode(message))
        with sock.makefile("rb") as reader:
            while True:
                line = reader.readline(protocol.MAX_LINE + 1)
                if not line:
                    return
                yield protocol.decode(line)


def ping(st: WarmState, *, timeout: float = PING_TIMEOUT) -> dict[str, Any] | None:
    """The daemon's status, or None if it does not answer."""
    try:
        for answer in request(st, {"op": "ping"}, timeout=timeout):
            if answer.get("type") == "pong":
                return answer
    except (OSError, protocol.ProtocolError):
        return None
    return None


# ------------------------------------------------------------------------------- helpers


def _log_tail(directory: Path, lines: int = 25) -> str:
    try:
        text = (directory / LOG_FILE).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _clean_stale(directory: Path, st: WarmState | None, why: str, out: Out) -> None:
    out(f"{why}: removing it")
    if st is not None:
        left = procs.marked_processes(st.marker) if st.marker else []
        if left:
            out(f"ending processes it left behind: {left}")
            procs.kill_all(left)
    state.remove_state(directory)


def _wait_ready(directory: Path, st: WarmState, timeout: float, out: Out) -> WarmState | None:
    """Wait (bounded) for warm services that are still starting."""
    out(f"warm services (pid {st.pid}) are still starting: waiting for them")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        live, current, _ = state.check(directory)
        if live is not Liveness.ALIVE or current is None:
            return None
        if current.status == "ready":
            return current
        time.sleep(0.2)  # bounded fast poll of a file another process writes
    return None


def _no_warm(args: argparse.Namespace) -> bool:
    env = os.environ.get(NO_WARM_ENV, "").strip().lower()
    return bool(getattr(args, "no_warm", False)) or env in ("1", "true", "yes", "on")


# ----------------------------------------------------------------------------------- run


def delegate_run(args: argparse.Namespace, out: Out = print, config: Any = None) -> int | None:
    """Run `python -m harness run` on the warm services if they are up; return its exit code,
    or None to run cold (not up, stale state, --no-warm, or an option they cannot honour).
    ``config``: the run's ``HarnessConfig`` (default: ``run_config(args)``)."""
    if _no_warm(args):
        return None
    directory = state.state_dir(getattr(args, "warm_dir", None))
    live, st, why = state.check(directory)
    if live is Liveness.ABSENT:
        return None
    if live is Liveness.STALE:
        _clean_stale(directory, st, why, out)
        out("running cold")
        return None
    assert st is not None
    from harness.cli import run as pipeline_run

    defaults = vars(_run_parser_defaults(pipeline_run))
    unsupported = protocol.unsupported_options(args, defaults)
    if unsupported:
        out(f"warm services are up, but {', '.join(unsupported)} is not supported by the warm "
            "loop: running cold")
        return None
    if st.status != "ready":
        ready = _wait_ready(directory, st, 900.0, out)
        if ready is None:
            out("warm services did not become ready: running cold")
            return None
        st = ready
    if st.protocol != protocol.PROTOCOL:
        out(f"warm services (pid {st.pid}) speak protocol {st.protocol}, this harness "
            f"{protocol.PROTOCOL}: running cold (restart them: python -m harness down; up)")
        return None
    if ping(st) is None:
        out(f"warm services (pid {st.pid}) do not answer on {st.socket}: running cold "
            "(python -m harness down stops them)")
        return None
    req = protocol.RunRequest.from_args(args, config or pipeline_run.run_config(args))
    out(f"using warm services started by `harness up` (pid {st.pid})")
    return run_request(st, req, out)[0]


def _run_parser_defaults(pipeline_run: Any) -> argparse.Namespace:
    parser = argparse.ArgumentParser(add_help=False)
    pipeline_run.add_arguments(parser)
    return parser.parse_args([])


def run_request(st: WarmState, req: protocol.RunRequest, out: Out = print, *, wait: bool = True
                ) -> tuple[int, dict[str, Any] | None]:  # fmt: skip
    """Run ``req`` on the warm services; stream its output to ``out``; return (exit code,
    the ``DagRunResult`` as a dict, or None if the run did not get that far)."""
    try:
        for msg in request(st, {"op": "run", "request": req.to_dict(), "wait": wait}):
            kind = msg.get("type")
            if kind == "out":
                out(msg.get("line", ""))
            elif kind in ("queued", "busy"):
                busy = msg.get("busy_with") or {}
                what = (f"with {busy.get('dag_id')} for pid {busy.get('client_pid')} "
                        f"({busy.get('phase', 'running')}, {busy.get('for_s')} s)"
                        ) if busy else "with queued runs"
                if kind == "busy":
                    out(f"warm services (pid {st.pid}) are busy {what}")
                    return 75, None  # EX_TEMPFAIL
                out(f"warm services are busy {what}: waiting for them")
            elif kind == "done":
                return int(msg.get("code", 1)), msg.get("result")
            elif kind == "error":
                out(f"warm run failed: {msg.get('message')}")
                if msg.get("traceback"):
                    out(msg["traceback"].rstrip())
                return 1, None
    except (OSError, protocol.ProtocolError) as exc:
        out(f"lost the warm services (pid {st.pid}) during the run: {exc}")
        return 1, None
    out(f"the warm services (pid {st.pid}) closed the connection before the run finished; "
        f"see {Path(st.socket).parent / LOG_FILE}")
    return 1, None


# ------------------------------------------------------------------------------------ up


@contextlib.contextmanager
def _lock(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _socket_path(directory: Path) -> Path:
    path = directory / "daemon.sock"
    if len(str(path)) < 100:  # sun_path holds 108 bytes
        return path
    return Path(tempfile.mkdtemp(prefix="harness-warm-"), "daemon.sock")


def up(*, directory: Path, idle_timeout: float = DEFAULT_IDLE_TIMEOUT, spark: str = "connect",
       start_timeout: float = 900.0, out: Out = print) -> int:  # fmt: skip
    """Start the warm services (guardian + daemon) and wait until they are ready."""
    with _lock(directory):
        live, st, why = state.check(directory)
        if live is Liveness.ALIVE and st is not None:
            out(f"warm services already up (pid {st.pid}, {st.status}, since "
                f"{time.strftime('%H:%M:%S', time.localtime(st.started_at))}, "
                f"socket {st.socket}); `python -m harness down` stops them")
            return 0
        if live is Liveness.STALE:
            _clean_stale(directory, st, why, out)
        marker = uuid.uuid4().hex
        sock = _socket_path(directory)
        env = dict(os.environ)
        env[procs.MARKER_ENV] = marker
        repo_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo_root, env.get("PYTHONPATH")]))
        daemon_argv = [sys.executable, "-m", "harness.warm.daemon", "--state-dir",
                       str(directory), "--socket", str(sock), "--idle-timeout",
                       str(idle_timeout), "--spark", spark]  # fmt: skip
        t0 = time.monotonic()
        with open(directory / LOG_FILE, "ab") as log:
            guardian = subprocess.Popen(
                [sys.executable, "-m", "harness.warm.guardian", str(directory), "--",
                 *daemon_argv],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: `down` can end it as a whole
            )
        out(f"starting warm services (pid {guardian.pid}): Airflow, the emulated AWS"
            + (", a Spark Connect server" if spark == "connect" else "")
            + f"; log {directory / LOG_FILE}")
        while True:
            code = guardian.poll()
            if code is not None:
                out(f"warm services failed to start (exit {code}):\n{_log_tail(directory)}")
                return 1
            try:
                current = state.read_state(directory)
            except state.StateFileError:
                current = None
            if current is not None and current.pid == guardian.pid and current.status == "ready":
                break
            if time.monotonic() - t0 > start_timeout:
                out(f"warm services not ready after {start_timeout:.0f} s: stopping them\n"
                    f"{_log_tail(directory)}")
                _stop_group(guardian.pid, None)
                return 1
            time.sleep(0.2)  # bounded fast poll of the state file the daemon writes
        guardian.returncode = 0  # not ours to wait for: it outlives this command by design
    idle = f"{idle_timeout / 60:g} min idle" if idle_timeout > 0 else "no idle timeout"
    out(f"warm services up in {time.monotonic() - t0:.1f} s (pid {current.pid}): "
        f"{_describe(current)}")
    out(f"`python -m harness run` now uses them; they stay until `python -m harness down`, "
        f"{idle} or a reboot")
    return 0


def _describe(st: WarmState) -> str:
    s = st.services
    parts = [f"Airflow (home {s.get('airflow_home')})", f"emulated AWS at {s.get('aws_url')}"]
    if s.get("spark_url"):
        parts.append(f"Spark Connect at {s['spark_url']}")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------- down


def _stop_group(pid: int, ticks: int | None, *, grace: float = 10.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and procs.alive(pid, ticks):
            time.sleep(0.05)  # bounded fast poll: the guardian is not our child
        if not procs.alive(pid, ticks):
            return


def down(*, directory: Path, timeout: float = 120.0, out: Out = print) -> int:
    """Stop the warm services; verify that no process of theirs is left."""
    live, st, why = state.check(directory)
    if live is Liveness.ABSENT:
        out(f"warm services are not up (no state file in {directory})")
        return 0
    if live is Liveness.STALE:
        _clean_stale(directory, st, why, out)
        return 0
    assert st is not None
    status = ping(st)
    busy = (status or {}).get("busy_with") or {}
    if busy.get("phase") == "running":
        out(f"a run is in progress on the warm services: it finishes first (up to {timeout:.0f} s)")
    out(f"stopping warm services (pid {st.pid})")
    try:
        answers = list(request(st, {"op": "stop"}, timeout=PING_TIMEOUT))
        asked = any(a.get("type") == "stopping" for a in answers)
    except (OSError, protocol.ProtocolError):
        asked = False
    if not asked:
        out("no answer on the socket: signalling the process group")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(st.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and procs.alive(st.pid, st.pid_start):
        time.sleep(0.1)  # bounded fast poll: the guardian is not our child
    if procs.alive(st.pid, st.pid_start):
        out(f"still running after {timeout:.0f} s: killing the process group {st.pid}")
        _stop_group(st.pid, st.pid_start)
    left = procs.marked_processes(st.marker) if st.marker else []
    survivors = procs.kill_all(left) if left else []
    if left:
        out(f"ended processes left behind: {left}")
    state.remove_state(directory, owner=st.pid)
    if survivors or procs.alive(st.pid, st.pid_start):
        out(f"could not stop: {survivors or [st.pid]}")
        return 1
    out("warm services stopped; no process of theirs is left")
    return 0

"""`python -m harness stack up|status|down`: thin commands over `harness.stack.supervisor`.

`up` starts a detached supervisor process (it owns every process of the stack), waits until the
UI is ready, prints the URL and the login, and returns; `up --foreground` runs the stack in this
process until Ctrl-C (what `nox -s airflow_ui` does). `status --json` prints
{"url", "username", "password"} (and more); `down` stops the supervisor and checks that no
process of the stack is left.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, TypeGuard

from harness.config import ConfigError, load_config
from harness.processes import is_same_process
from harness.stack import airflow_setup
from harness.stack.processes import (
    MARKER_VAR,
    alive,
    kill_marked,
    log_tail,
    marked_processes,
    spawn,
    stop_group,
    wait_until,
)
from harness.stack.supervisor import (
    READY_TIMEOUT_S,
    Stack,
    StackConfig,
    prepare_state_dir,
    read_state,
)

DEFAULT_STATE_DIR = Path(".harness") / "stack"
#: Whole start-up (migrate, provision, Airflow ready), generously bounded.
UP_TIMEOUT_S = READY_TIMEOUT_S + 600
DOWN_TIMEOUT_S = 120


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                   help="where the stack keeps its home, logs and state (default .harness/stack)")
    # No action: status (what is running, where, the login).
    p.set_defaults(stack_command="status", json=False)
    sub = p.add_subparsers(dest="stack_command", metavar="ACTION")
    up = sub.add_parser("up", help="start the stack; print the UI URL and login")
    up.add_argument("--port", type=int, default=8080, help="UI/API port on 127.0.0.1 (8080)")
    up.add_argument("--backend", choices=("embedded", "localstack"), default="embedded",
                    help="where AWS comes from (default: the embedded emulator)")
    up.add_argument("--database", choices=("auto", "postgres", "sqlite"), default="auto",
                    help="metadata DB: PostgreSQL when its binaries are installed (auto)")
    up.add_argument("--poke-interval", type=float, default=1.0,
                    help="sensors' poke interval in seconds under the stack (default 1)")
    up.add_argument("--config", type=Path, default=None, metavar="FILE",
                    help="TOML file with a [tool.harness] table (the DAG, its uploads, "
                         "Variables, connections); default ./pyproject.toml")
    up.add_argument("--dag-id", default=None,
                    help="the DAG `up` waits for; default the table's dag_id")
    up.add_argument("--input-timeout", type=float, default=None, metavar="SECONDS",
                    help="how long every input sensor (any sensor but a job sensor) waits; "
                         "default the table's sensor_timeout, else "
                         f"{airflow_setup.INPUT_TIMEOUT_S:g}")
    up.add_argument("--deferrable", action="store_true",
                    help="run the EMR step sensor(s) deferrable (on the triggerer)")
    up.add_argument("--no-data", action="store_true",
                    help="upload none of the table's files (the 'input missing' scenario); "
                         "its buckets are still created")
    up.add_argument("--skip-upload", action="append", default=[], type=Path, metavar="LOCAL",
                    help="leave out the table's upload of LOCAL (repeatable)")
    up.add_argument("--foreground", action="store_true",
                    help="run in this process until Ctrl-C instead of detaching")
    sub.add_parser("down", help="stop every process of the stack (and check none is left)")
    status = sub.add_parser("status", help="is the stack up; URL and login")
    status.add_argument("--json", action="store_true", help="print url/username/password JSON")


def main(args: argparse.Namespace) -> int:
    handler = {"up": _up, "down": _down, "status": _status}[args.stack_command or "status"]
    return handler(args)


def _config(args: argparse.Namespace) -> StackConfig:
    """The stack's settings: the ``[tool.harness]`` table with the flags on top; ``ConfigError``
    naming the key (or flag) and the file."""
    config_file = args.config.resolve() if args.config is not None else None
    table = load_config(config_file)
    dag_id = args.dag_id or table.dag_id
    if not dag_id:
        raise ConfigError(f"no DAG to wait for: give --dag-id, or set dag_id in {table.where()}")
    uploads = {u.local.resolve() for u in table.uploads}
    for local in args.skip_upload:
        if local.resolve() not in uploads:
            raise ConfigError(
                f"--skip-upload {local}: not one of the uploads in {table.where()} ("
                f"{', '.join(str(u.local) for u in table.uploads) or 'none'})")
    timeout = args.input_timeout if args.input_timeout is not None else (
        table.sensor_timeout if table.sensor_timeout is not None
        else airflow_setup.INPUT_TIMEOUT_S)
    return StackConfig(
        state_dir=args.state_dir.resolve(), dag_id=dag_id, port=args.port,
        backend=args.backend, database=args.database,
        config_file=table.source,  # the supervisor reads the same file, whatever its cwd
        dags_folder=table.dags_folder.resolve(),
        no_uploads=args.no_data,
        skip_uploads=tuple(p.resolve() for p in args.skip_upload),
        timing=airflow_setup.LocalTiming(
            poke_interval=args.poke_interval, deferrable=args.deferrable,
            sensor_timeout=timeout),
    )


def _running(state: dict[str, Any] | None) -> TypeGuard[dict[str, Any]]:
    if not state:
        return False
    return state.get("status") in ("starting", "ready", "degraded") and (
        _supervisor(state) is not None)


def _print_ready(state: dict[str, Any], started: float) -> None:
    print(f"Airflow UI ready in {time.monotonic() - started:.0f} s: {state['url']}")
    print(f"  login: {state['username']} / {state['password']}")
    print(f"  database: {state.get('database')}; AWS: embedded emulator; home: {state['home']}")
    if state.get("database_note"):
        print(f"  NOTE: {state['database_note']}")
    print("  stop it with: python -m harness stack down")


def _is_ours(state: dict[str, Any], pid: int, start: int | None) -> bool:
    """``pid`` is still the process the state file recorded (the same start time): a pid read
    back after a crash may have been reused by an unrelated process, which must never be
    signalled. A state without start times (older harness): only if it carries the marker."""
    if start is None:
        return pid in marked_processes(state.get("stack_id", ""))
    return is_same_process(pid, start)


def _supervisor(state: dict[str, Any]) -> int | None:
    """The supervisor's pid, if that process is still the stack's."""
    pid = int(state["supervisor_pid"])
    return pid if _is_ours(state, pid, state.get("supervisor_start")) else None


def _live_processes(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The recorded processes that are still the stack's."""
    return [p for p in state.get("processes", [])
            if _is_ours(state, int(p["pid"]), p.get("start"))]


def _roots(state: dict[str, Any]) -> list[int]:
    supervisor = _supervisor(state)
    others = [int(p["pid"]) for p in _live_processes(state)]
    return others if supervisor is None else [supervisor, *others]


def _up(args: argparse.Namespace) -> int:
    state_dir = args.state_dir.resolve()
    state = read_state(state_dir)
    if _running(state):
        print(f"a stack is already running at {state['url']} (supervisor pid "
              f"{state['supervisor_pid']}); run `python -m harness stack down` first",
              file=sys.stderr)
        return 1
    if state and state.get("stack_id") and marked_processes(state["stack_id"], _roots(state)):
        kill_marked(state["stack_id"], _roots(state))  # leftovers of a crashed stack
    try:
        config = _config(args)
    except ConfigError as e:
        print(f"harness stack up: {e}", file=sys.stderr)
        return 2
    prepare_state_dir(state_dir)
    config_id = config.stack_id
    started = time.monotonic()
    if args.foreground:
        stack = Stack(config)
        try:
            stack.start()
        except Exception as e:
            print(f"stack start-up failed: {e}", file=sys.stderr)
            return 1
        _print_ready(stack.state, started)
        print("  (foreground: Ctrl-C stops it)", flush=True)
        try:
            stack.run_until_signalled()
        finally:
            left = stack.stop()
        print("stack stopped" + (f"; still alive: {left}" if left else ""))
        return 0 if not left else 1
    supervisor = spawn(
        "supervisor",
        [sys.executable, "-m", "harness.stack.supervisor",
         "--config", json.dumps(config.to_json())],
        # No AWS credentials in the stack: every process gets dummy keys from the stack itself.
        env={**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
             "PYTHONUNBUFFERED": "1", MARKER_VAR: config_id},
        log=state_dir / "logs" / "supervisor.log", pdeathsig=False)
    seen: dict[str, Any] = {}

    def settled() -> bool:
        seen["state"] = read_state(state_dir)
        status = (seen["state"] or {}).get("status")
        return status in ("ready", "failed", "stopped") or supervisor.popen.poll() is not None

    wait_until(settled, timeout=UP_TIMEOUT_S, interval=0.2)
    state = seen.get("state") or {}
    if state.get("status") == "ready":
        _print_ready(state, started)
        return 0
    # Failed or too slow: the supervisor cleans up after itself; make sure of it.
    stop_group(supervisor.pid, timeout=DOWN_TIMEOUT_S, reap=supervisor.popen.poll)
    kill_marked(config_id, [supervisor.pid])
    error = state.get("error") or f"not ready within {UP_TIMEOUT_S} s"
    print(f"stack start-up failed: {error}\n--- supervisor log:\n"
          f"{log_tail(supervisor.log, 20)}", file=sys.stderr)
    return 1


def _down(args: argparse.Namespace) -> int:
    state_dir = args.state_dir.resolve()
    state = read_state(state_dir)
    if not state:
        print(f"no stack state in {state_dir}: nothing to stop")
        return 0
    # Only processes that are still the ones recorded (a stale state's pids may be reused).
    supervisor = _supervisor(state)
    live = _live_processes(state)
    roots = _roots(state)  # read before the supervisor exits: its children are found from it
    before = marked_processes(state["stack_id"], roots)
    if supervisor is not None:
        pid = supervisor
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if not wait_until(lambda: not alive(pid), timeout=DOWN_TIMEOUT_S, interval=0.2):
            os.kill(pid, signal.SIGKILL)
    for proc in live:  # whatever the supervisor could not stop
        stop_group(int(proc["pid"]), timeout=10)
    left = kill_marked(state["stack_id"], before)
    if left:
        print(f"stack down: processes still alive: {left}", file=sys.stderr)
        return 1
    names = ", ".join(p["name"] for p in state.get("processes", []))
    print(f"stack stopped ({names}; {len(before)} processes); no process left")
    return 0


def _status(args: argparse.Namespace) -> int:
    state = read_state(args.state_dir.resolve())
    up = _running(state) and state.get("status") == "ready"
    if args.json:
        if not state:
            print(json.dumps({"status": "absent"}))
            return 1
        print(json.dumps({
            "url": state["url"], "username": state["username"], "password": state["password"],
            "status": state["status"] if _running(state) else "stopped",
            "database": state.get("database"), "home": state["home"],
            "timings": state.get("timings", {}),
        }))
        return 0 if up else 1
    if not state or not _running(state):
        print("stack: not running")
        return 1
    print(f"stack: {state['status']} at {state['url']} (login {state['username']} / "
          f"{state['password']})")
    live = [p["pid"] for p in _live_processes(state)]
    for proc in state.get("processes", []):
        print(f"  {proc['name']:<14} pid {proc['pid']:<8} "
              f"{'alive' if proc['pid'] in live else 'DEAD'}  {proc['log']}")
    return 0 if up else 1

"""The warm services' state file (``.harness/warm/state.json``) and whether it is live.

Written by the daemon (status "starting", then "ready"), read by ``run``/``up``/``down``,
removed by whichever of the daemon and its guardian ends last. A state file whose guardian pid
is gone (or is now another process: the start time is recorded) is *stale*.
"""

from __future__ import annotations

import enum
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from harness.warm import procs

__all__ = [
    "STATE_DIR_ENV",
    "Liveness",
    "StateFileError",
    "WarmState",
    "check",
    "read_state",
    "remove_state",
    "state_dir",
    "write_state",
]

STATE_DIR_ENV = "HARNESS_WARM_DIR"
STATE_FILE = "state.json"


class StateFileError(ValueError):
    """The state file exists but cannot be used (not JSON, missing or wrong fields)."""


class Liveness(enum.Enum):
    ABSENT = "absent"  # no state file: the warm services are not up
    STALE = "stale"  # a state file whose processes are gone (or an unreadable one)
    ALIVE = "alive"  # the guardian recorded in it is running


@dataclass
class WarmState:
    pid: int  # the guardian: leader of the tree's process group
    socket: str  # the daemon's unix socket
    marker: str  # procs.MARKER_ENV value in every process of the tree
    pid_start: int | None = None  # the guardian's start ticks (pid reuse guard)
    daemon_pid: int | None = None
    status: str = "starting"  # "starting" -> "ready"
    started_at: float = 0.0  # time.time()
    idle_timeout: float = 0.0  # seconds; 0: none
    services: dict[str, Any] = field(default_factory=dict)
    protocol: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> WarmState:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise StateFileError(f"not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise StateFileError("not a JSON object")
        known = {f.name for f in fields(cls)}
        missing = {"pid", "socket", "marker"} - data.keys()
        if missing:
            raise StateFileError(f"missing field(s): {', '.join(sorted(missing))}")
        if not isinstance(data["pid"], int) or data["pid"] <= 0:
            raise StateFileError(f"pid must be a positive integer, got {data['pid']!r}")
        return cls(**{k: v for k, v in data.items() if k in known})


def state_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """``path``, else ``$HARNESS_WARM_DIR``, else ``./.harness/warm`` (absolute)."""
    chosen = path or os.environ.get(STATE_DIR_ENV) or Path(".harness", "warm")
    return Path(chosen).resolve()


def read_state(directory: Path) -> WarmState | None:
    """The state, or None when there is no state file. Raises StateFileError if unusable."""
    try:
        text = (directory / STATE_FILE).read_text()
    except FileNotFoundError:
        return None
    return WarmState.from_json(text)


def write_state(directory: Path, state: WarmState) -> None:
    """Atomically (readers never see half a file)."""
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f"{STATE_FILE}.{os.getpid()}.partial"
    partial.write_text(state.to_json())
    os.replace(partial, directory / STATE_FILE)


def remove_state(directory: Path, *, owner: int | None = None) -> bool:
    """Remove the state file; with ``owner``, only if it still names that guardian pid."""
    path = directory / STATE_FILE
    if owner is not None:
        try:
            current = read_state(directory)
        except StateFileError:
            current = None
        if current is None or current.pid != owner:
            return False
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def check(directory: Path) -> tuple[Liveness, WarmState | None, str]:
    """(liveness, state, why). ``why`` explains STALE in a sentence."""
    try:
        state = read_state(directory)
    except StateFileError as exc:
        return Liveness.STALE, None, f"unreadable state file {directory / STATE_FILE}: {exc}"
    if state is None:
        return Liveness.ABSENT, None, "no state file"
    if not procs.alive(state.pid, state.pid_start):
        return Liveness.STALE, state, (
            f"the warm services' process (pid {state.pid}) is gone; their state file "
            f"{directory / STATE_FILE} is stale"
        )
    return Liveness.ALIVE, state, ""

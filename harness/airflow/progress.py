"""Per-task progress and log capture for runs under ``dag.test()``.

``TaskEvent`` is what a ``progress`` callback receives; ``str(event)`` is the line the CLI prints,
so ``progress=print`` just works. ``Recorder`` collects, for one run, the events, the error each
failed task raised and every log line emitted while the task ran (Airflow's own task log).

The Airflow-facing half (``install``) registers one listener (``on_task_instance_running`` /
``_success`` / ``_failed``, Airflow's listener API) and one log tap (a structlog processor plus a
stdlib filter) per process; both forward to the recorder of the run in progress. Airflow is only
imported inside ``install``.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # types only: this module imports Airflow lazily
    from airflow.models.taskinstance import TaskInstance
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
    from airflow.utils.state import TaskInstanceState

    _TI = RuntimeTaskInstance | TaskInstance

__all__ = ["ProgressCallback", "TaskEvent", "Recorder", "format_event", "install"]

#: State -> marker in progress lines (plain ASCII: logs and CI consoles render it).
MARKS = {
    "running": ">",
    "success": "ok",
    "failed": "FAIL",
    "up_for_retry": "retry",
    "deferred": "defer",
    "upstream_failed": "skip",
    "skipped": "skip",
    "waiting": "...",
}
#: A waiting task's line is repeated at most this often (seconds) while what it waits for, and
#: its state, stay the same; a change is shown at once. Pokes come every 0.2 s locally.
WAIT_REPORT_EVERY = 5.0
#: Loggers whose lines are noise in a task's log (the emulator's HTTP access log).
QUIET_LOGGERS = ("werkzeug",)


@dataclass(frozen=True)
class TaskEvent:
    """One state change of one task, as it happens."""

    task_id: str
    state: str
    duration: float | None = None  # seconds, for terminal states
    try_number: int | None = None
    error: str | None = None  # the exception a failed task raised, one line
    detail: str | None = None  # "waiting": what the task waits for (duration: waited so far)

    def __str__(self) -> str:
        return format_event(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def format_event(event: TaskEvent, width: int = 24) -> str:
    mark = MARKS.get(event.state, event.state)
    if event.state == "waiting":
        line = f"  {mark:>5}  {event.task_id:<{width}} waiting for {event.detail or '?'}"
        if event.duration is not None:
            line += f" [{event.duration:.0f} s]"
        return line
    line = f"  {mark:>5}  {event.task_id:<{width}} {event.state:<15}"
    if event.duration is not None:
        line += f" {event.duration:6.2f}s"
    if event.try_number and event.try_number > 1:
        line += f"  (try {event.try_number})"
    if event.error:
        line += f"\n         {event.error}"
    return line.rstrip()


#: What ``run_dag(progress=...)`` is called with: one ``TaskEvent`` per state change.
ProgressCallback = Callable[[TaskEvent], Any]


@dataclass
class Recorder:
    """Everything observed during one run; ``emit`` forwards events to the progress callback."""

    progress: Callable[[TaskEvent], Any] | None = None
    echo_logs: bool = False
    events: list[TaskEvent] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    logs: dict[str, list[str]] = field(default_factory=dict)  # task id ("" = run) -> lines
    current: str | None = None
    waits: dict[str, str] = field(default_factory=dict)  # task id -> what it last waited for
    clock: Callable[[], float] = time.monotonic
    _started: dict[str, float] = field(default_factory=dict)
    _last_wait: dict[str, tuple[str, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def emit(self, event: TaskEvent) -> None:
        self.events.append(event)
        if self.progress is not None:
            self.progress(event)

    def running(self, task_id: str, try_number: int | None) -> None:
        resumed = task_id in self._started and self.current is None and self._is_open(task_id)
        self._started.setdefault(task_id, self.clock())
        self.current = task_id
        if not resumed:
            self.emit(TaskEvent(task_id, "running", try_number=try_number))

    def _is_open(self, task_id: str) -> bool:
        # A deferred task resumes after its trigger: running again without a terminal event.
        return not any(e.task_id == task_id and e.state not in ("running", "waiting")
                       for e in self.events)

    def waiting(self, task_id: str, detail: str) -> None:
        """A poke came back false: emit a "waiting" event when ``detail`` changed, or now and
        then (``WAIT_REPORT_EVERY``), not on every poke."""
        now = self.clock()
        self.waits[task_id] = detail
        last = self._last_wait.get(task_id)
        if last is not None and last[0] == detail and now - last[1] < WAIT_REPORT_EVERY:
            return
        self._last_wait[task_id] = (detail, now)
        started = self._started.get(task_id)
        self.emit(TaskEvent(task_id, "waiting", now - started if started is not None else None,
                            detail=detail))

    def finished(
        self, task_id: str, state: str, try_number: int | None, error: str | None = None
    ) -> None:
        started = self._started.pop(task_id, None)
        self._last_wait.pop(task_id, None)
        duration = self.clock() - started if started is not None else None
        if error:
            self.errors[task_id] = error
        self.current = None
        self.emit(TaskEvent(task_id, state, duration, try_number, error))

    def log(self, line: str) -> None:
        with self._lock:
            self.logs.setdefault(self.current or "", []).append(line)


# ----------------------------------------------------------------------- Airflow-facing half

_ACTIVE: Recorder | None = None
_INSTALLED = False


def _one_line(error: BaseException | str | None) -> str | None:
    if error is None:
        return None
    if isinstance(error, BaseException):
        text = f"{type(error).__name__}: {error}"
    else:
        text = str(error)
    return " ".join(text.split())


class _Listener:
    """Airflow listener: forwards task-instance hooks to the active recorder."""

    def __init__(self) -> None:
        from airflow.listeners import hookimpl

        # pluggy finds hook implementations by the marker attribute on the function.
        for name in ("on_task_instance_running", "on_task_instance_success",
                     "on_task_instance_failed"):
            hookimpl(getattr(type(self), name))

    def on_task_instance_running(
        self, previous_state: TaskInstanceState | None, task_instance: _TI
    ) -> None:
        if _ACTIVE is not None:
            _ACTIVE.running(task_instance.task_id, getattr(task_instance, "try_number", None))

    def on_task_instance_success(
        self, previous_state: TaskInstanceState | None, task_instance: _TI
    ) -> None:
        if _ACTIVE is not None:
            _ACTIVE.finished(task_instance.task_id, "success",
                             getattr(task_instance, "try_number", None))

    def on_task_instance_failed(
        self,
        previous_state: TaskInstanceState | None,
        task_instance: _TI,
        error: BaseException | str | None,
    ) -> None:
        if _ACTIVE is None:
            return
        # The task runner sets the runtime TI's final state (failed / up_for_retry) before
        # calling the listeners.
        state = getattr(task_instance, "state", None)
        state = str(getattr(state, "value", state) or "failed")
        if state not in ("failed", "up_for_retry"):
            state = "failed"
        _ACTIVE.finished(task_instance.task_id, state,
                         getattr(task_instance, "try_number", None), _one_line(error))


def _stamp() -> str:
    return datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]


def _structlog_tap(logger: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    rec = _ACTIVE
    if rec is None:
        return event_dict
    name = event_dict.get("logger_name") or event_dict.get("logger") or ""
    if not any(str(name).startswith(q) for q in QUIET_LOGGERS):
        line = f"{_stamp()} {method.upper():<7} {event_dict.get('event', '')}"
        exc = event_dict.get("exc_info")
        if exc:
            if exc is True:
                import sys

                exc = sys.exc_info()
            if isinstance(exc, BaseException):
                exc = (type(exc), exc, exc.__traceback__)
            if isinstance(exc, tuple) and exc[0] is not None:
                line += "\n" + "".join(traceback.format_exception(*exc)).rstrip()
        rec.log(line)
    if not rec.echo_logs:
        import structlog

        raise structlog.DropEvent
    return event_dict


class _StdlibTap(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        rec = _ACTIVE
        if rec is None:
            return True
        if not record.name.startswith(QUIET_LOGGERS):
            line = f"{_stamp()} {record.levelname:<7} {record.getMessage()}"
            if record.exc_info and record.exc_info[0] is not None:
                line += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            rec.log(line)
        return rec.echo_logs


_STDLIB_TAP = _StdlibTap()


def install() -> None:
    """Register the listener and the log taps (idempotent; call after Airflow is imported)."""
    global _INSTALLED
    if not _INSTALLED:
        import structlog
        from airflow.sdk.listener import get_listener_manager

        get_listener_manager().add_listener(_Listener())
        # The processors list is shared by every logger structlog has built (cached ones too),
        # so inserting in place reaches loggers created before this call.
        procs = structlog.get_config()["processors"]
        if _structlog_tap not in procs:
            procs.insert(0, _structlog_tap)
        _INSTALLED = True
    # Airflow may reconfigure stdlib logging (dictConfig): re-attach to whatever handlers exist.
    for handler in logging.getLogger().handlers:
        if _STDLIB_TAP not in handler.filters:
            handler.addFilter(_STDLIB_TAP)


def activate(recorder: Recorder | None) -> None:
    global _ACTIVE
    _ACTIVE = recorder

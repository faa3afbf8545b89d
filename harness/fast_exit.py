"""End a finished command's process without the interpreter's own teardown.

    from harness import fast_exit

    fast_exit.install()          # first thing: its exit handler then runs after all others
    code = main()
    fast_exit.done(code)
    raise SystemExit(code)

When a command has returned, everything it started is already stopped (its ``with`` blocks),
but CPython then still tears down every module and frees every object: with moto, botocore
and pyspark (the parent) or Airflow (the DAG worker) loaded that took 2 s here on a loaded
machine, 12 s on a very loaded one, after the last line was printed. ``done(code)`` marks a
normal finish; the exit handler registered by ``install()`` then runs last (``atexit`` runs
handlers in reverse order of registration), after non-daemon threads were joined and every
other exit handler ran, flushes stdout and stderr and ends the process with ``os._exit(code)``.
Without ``done`` (the command raised), the interpreter finishes as usual.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys

__all__ = ["done", "install"]

_code: int | None = None
_installed = False


def install() -> None:
    """Register the exit handler (once); call it before anything else registers one."""
    global _installed
    if not _installed:
        atexit.register(_finish)
        _installed = True


def done(code: int) -> None:
    """The command finished normally with ``code``: skip the teardown when the process ends."""
    global _code
    _code = code


def _finish() -> None:
    if _code is None:
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # closed, or a reader gone: nothing to flush to
            stream.flush()
    os._exit(_code)

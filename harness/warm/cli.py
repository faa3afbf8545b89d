"""`python -m harness up|down`: thin commands over ``harness.warm.client``."""

from __future__ import annotations

import argparse

from harness.warm import client, state

__all__ = ["add_down_arguments", "add_run_arguments", "add_up_arguments", "down", "up"]


def _duration(text: str) -> float:
    """Seconds from "90", "90s", "30m", "2h"; 0 means none."""
    units = {"s": 1, "m": 60, "h": 3600}
    raw = text.strip().lower()
    scale = units.get(raw[-1:], None)
    number = raw[:-1] if scale else raw
    try:
        value = float(number) * (scale or 1)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a duration like 90, 90s, 30m or 2h, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a duration cannot be negative: {text!r}")
    return value


def _state_dir_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--warm-dir", default=None, metavar="DIR",
                   help=f"state folder of the warm services (default ${state.STATE_DIR_ENV} "
                        "or .harness/warm)")  # fmt: skip


def add_up_arguments(p: argparse.ArgumentParser) -> None:
    _state_dir_option(p)
    p.add_argument("--idle-timeout", type=_duration, default=client.DEFAULT_IDLE_TIMEOUT,
                   metavar="DURATION",
                   help="stop after this long without a run (e.g. 30m, 2h; 0: never); "
                        "default 30m")  # fmt: skip
    p.add_argument("--spark", choices=("connect", "submit"), default="connect",
                   help="run Spark steps on a warm Spark Connect server (default) or with a "
                        "cold spark-submit per step")  # fmt: skip
    p.add_argument("--start-timeout", type=_duration, default=900.0, metavar="DURATION",
                   help="give up (and stop what started) if not ready by then; default 15m")


def add_down_arguments(p: argparse.ArgumentParser) -> None:
    _state_dir_option(p)
    p.add_argument("--timeout", type=_duration, default=120.0, metavar="DURATION",
                   help="how long a clean stop may take (a run in progress finishes first) "
                        "before the processes are killed; default 120s")  # fmt: skip


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The warm loop's options of `python -m harness run`."""
    p.add_argument("--no-warm", action="store_true",
                   help=f"run cold even if `harness up` is running (also ${client.NO_WARM_ENV}=1)")
    p.add_argument("--keep-state", action="store_true",
                   help="warm runs only: keep the emulated account's state (buckets, clusters, "
                        "roles) from earlier runs instead of starting empty")  # fmt: skip
    _state_dir_option(p)


def up(args: argparse.Namespace) -> int:
    return client.up(directory=state.state_dir(args.warm_dir), idle_timeout=args.idle_timeout,
                     spark=args.spark, start_timeout=args.start_timeout)  # fmt: skip


def down(args: argparse.Namespace) -> int:
    return client.down(directory=state.state_dir(args.warm_dir), timeout=args.timeout)

"""`python -m harness run`: its options, read into a ``HarnessConfig`` and ``RunOptions``.

Reads ``[tool.harness]`` of ``./pyproject.toml`` (or ``--config FILE``; flags override it,
``harness.config``); if warm services started by `python -m harness up` are up, they run it
(``harness.warm.client``), else ``harness.offline_run.run_offline`` does (the backend, the
provisioning, the DAG under ``dag.test()``, the report). Exit 0 on success; 1 with the failing
task and the tail of the failed step's stderr; 2 for bad options or an unavailable backend.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.config import (
    ConfigError,
    HarnessConfig,
    load_config,
    parse_connections,
    parse_uploads,
    parse_vars,
)
from harness.offline_run import BACKENDS, RunOptions, run_offline

__all__ = ["add_arguments", "main", "run_config", "run_options"]

Out = Callable[[str], Any]


def add_arguments(p: argparse.ArgumentParser) -> None:
    cfg = "[tool.harness]"
    p.add_argument("--config", default=None, metavar="FILE",
                   help=f"TOML file holding a {cfg} table (see docs/running-dags.md); default "
                        "./pyproject.toml if it has one")
    p.add_argument("--dag-id", default=None,
                   help=f"the DAG to run; default {cfg} dag_id")
    p.add_argument("--dags-folder", default=None, metavar="DIR",
                   help=f"folder of DAG files; default {cfg} dags_folder, else dags")
    p.add_argument("--upload", action="append", default=[], metavar="LOCAL=s3://BUCKET/KEY",
                   help="put a local file at s3://BUCKET/KEY, or a folder recursively under that "
                        "prefix, before the run (repeatable; the bucket is created; replaces "
                        f"the {cfg} upload with the same destination)")
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                   help=f"Airflow Variable for the run (repeatable; added to {cfg} variables)")
    p.add_argument("--conn", action="append", default=[], metavar="CONN_ID=URI-or-JSON",
                   help="Airflow connection for the run, as a URI or a JSON object (repeatable; "
                        f"added to {cfg} connections; aws_default already points at the "
                        "emulated AWS)")
    p.add_argument("--workdir", default=None,
                   help="emulator workdir (S3 mirror, step logs); default .harness/runs/<stamp>")
    p.add_argument("--poke-interval", type=float, default=0.2, metavar="SECONDS",
                   help="sensors' poke interval (the DAG's own is kept if lower); default 0.2; "
                        "EMR sensors also wait for the emulator's next EMR state change (at "
                        "most 2 s) between pokes")
    p.add_argument("--deferrable", action="store_true", help="run EMR step sensors deferrable")
    p.add_argument("--sensor-timeout", type=_seconds, default=None, metavar="SECONDS",
                   help="how long input sensors (any sensor but a job sensor) wait for their "
                        f"data; default {cfg} sensor_timeout, else 30 (job sensors such as the "
                        "EMR step sensor keep the DAG's timeout; bound them with --timeout)")
    p.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                   help="bound the whole DAG run: a task still running then fails without "
                        "retry, the teardown still terminates the cluster, exit 1; default "
                        f"{cfg} timeout, else none")
    p.add_argument("--echo-logs", action="store_true", help="show Airflow's own console log")
    p.add_argument("--warm-spark", action="store_true",
                   help="run Spark steps on a warm local Spark Connect server (started at "
                        "once, while Airflow starts) instead of a cold spark-submit")
    p.add_argument("--timings", default=None, metavar="PATH",
                   help="write where the time went (phases, tasks, the Spark step) as JSON")
    p.add_argument("--backend", choices=BACKENDS,
                   default="embedded",
                   help="where AWS comes from: the embedded emulator (default), a real LocalStack "
                        "started on this host (S3, IAM, STS, Logs; EMR from the harness's "
                        "runtime beside it unless LocalStack serves EMR), or LocalStack in Docker")
    p.add_argument("--localstack-url", default=None, metavar="URL",
                   help="with --backend localstack: use the LocalStack-compatible endpoint at URL "
                        "(checked through /_localstack/health) instead of starting one")
    p.add_argument("--install-localstack", action="store_true",
                   help="create LocalStack's pinned virtual environment if it is missing")
    from harness.warm.cli import add_run_arguments

    add_run_arguments(p)  # --no-warm, --keep-state, --warm-dir (docs/warm-loop.md)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def run_config(args: argparse.Namespace) -> HarnessConfig:
    """The run's setup: ``[tool.harness]`` (``--config`` or ./pyproject.toml), flags on top.

    Raises ``ConfigError`` naming the key or flag that is wrong, or when no DAG id is known."""
    config = load_config(args.config).with_overrides(
        dags_folder=args.dags_folder, dag_id=args.dag_id, uploads=parse_uploads(args.upload),
        variables=parse_vars(args.var), connections=parse_connections(args.conn),
        sensor_timeout=args.sensor_timeout, timeout=args.timeout,
    )
    if not config.dag_id:
        where = config.source or "./pyproject.toml"
        raise ConfigError(f"no DAG to run: give --dag-id, or set dag_id in [tool.harness] of "
                          f"{where}")
    return config


def run_options(args: argparse.Namespace) -> RunOptions:
    """The flags ``run_offline`` takes beyond the config."""
    return RunOptions(
        workdir=Path(args.workdir) if args.workdir else None,
        poke_interval=args.poke_interval, deferrable=args.deferrable,
        echo_logs=args.echo_logs, warm_spark=getattr(args, "warm_spark", False),
        timings=Path(args.timings) if args.timings else None, backend=args.backend,
        localstack_url=args.localstack_url, install_localstack=args.install_localstack,
    )


def main(args: argparse.Namespace, out: Out = print) -> int:
    try:
        config = run_config(args)
    except ConfigError as exc:
        out(f"harness run: {exc}")
        return 2
    # Warm services started by `python -m harness up` run it, if they are up (docs/warm-loop.md).
    from harness.warm.client import delegate_run

    code = delegate_run(args, out, config)
    if code is not None:
        return code
    return run_offline(config, run_options(args), out=out)


if __name__ == "__main__":  # pragma: no cover
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))

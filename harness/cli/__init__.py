"""`python -m harness ...`: thin argument parsing; each command delegates to its module."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from importlib import import_module
from types import ModuleType

# name -> (help, module, handler). A command's module provides `add_<name>_arguments(parser)`
# (or `add_arguments(parser)`) and the handler `(args) -> exit code`. Modules are imported
# only when the command is built or run, and keep their heavy imports (Airflow, pyspark)
# inside functions, so `python -m harness serve` never pays for them.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "serve": (
        "run the offline AWS endpoint (S3, IAM, EMR that runs steps) on 127.0.0.1",
        "harness.cli.serve",
        "run",
    ),
    "run": (
        "run a DAG offline (Airflow dag.test() against the emulated AWS), set up from "
        "[tool.harness] of pyproject.toml",
        "harness.cli.run",
        "main",
    ),
    "smoke-aws": (
        "run the [tool.harness] DAG once on a real AWS account (prints the plan; refuses "
        "without --yes-this-costs-money)",
        "harness.aws_smoke",
        "main",
    ),
    "cleanup": (
        "find (and with --yes end) tagged clusters and buckets left by crashed real-AWS runs",
        "harness.cleanup",
        "main",
    ),
    "stack": (
        "the Airflow UI stack without Docker (PostgreSQL, scheduler, UI ...): up/status/down",
        "harness.stack.cli",
        "main",
    ),
    "up": (
        "start warm services (Airflow, the emulated AWS, Spark Connect) that `run` then uses",
        "harness.warm.cli",
        "up",
    ),
    "spark-cache": (
        "build (once) the class-data archive that makes each local Spark JVM start ~2-3 s "
        "sooner; --status, --rebuild, --remove",
        "harness.cli.spark_cache",
        "main",
    ),
    "down": (
        "stop the warm services started by `up` (no process of theirs is left)",
        "harness.warm.cli",
        "down",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness",
        description="airflow-emr harness: run and test Airflow + EMR pipelines offline.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_, module_name, handler) in COMMANDS.items():
        module = import_module(module_name)
        p = sub.add_parser(name, help=help_, description=help_)
        _command_function(module, name, f"add_{name}_arguments", "add_arguments")(p)
        p.set_defaults(handler=_command_function(module, name, handler))
    return parser


def _command_function(module: ModuleType, command: str, *names: str) -> Callable[..., object]:
    """The first of `names` that `module` defines, or an error naming the command and module,
    so a broken entry in COMMANDS fails where it is, not as "'NoneType' is not callable"."""
    for attr in names:
        found = getattr(module, attr, None)
        if callable(found):
            return found
    raise LookupError(f"command {command!r}: module {module.__name__} defines none of "
                      f"{', '.join(names)} (see COMMANDS in harness/cli/__init__.py)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)

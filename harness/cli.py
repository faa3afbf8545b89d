"""`python -m harness ...`: thin argument parsing; each command delegates to its module."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

# name -> (help, add_arguments, handler). Handlers import their module lazily, so
# `python -m harness serve` never pays for Airflow or pyspark imports.
Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
COMMANDS: dict[str, Command] = {}


def command(name: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None]):
    def register(handler: Callable[[argparse.Namespace], int]):
        COMMANDS[name] = (help, add_arguments, handler)
        return handler

    return register


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness",
        description="airflow-emr harness: run and test Airflow + EMR pipelines offline.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_, add_arguments, handler) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        add_arguments(p)
        p.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)


# --- commands -------------------------------------------------------------------------------


def _serve_arguments(p: argparse.ArgumentParser) -> None:
    from harness.serve import add_arguments

    add_arguments(p)


@command(
    "serve",
    help="run the offline AWS endpoint (S3, IAM, EMR that runs steps) on 127.0.0.1",
    add_arguments=_serve_arguments,
)
def _serve(args: argparse.Namespace) -> int:
    from harness.serve import run

    return run(args)


def _run_arguments(p: argparse.ArgumentParser) -> None:
    from harness.pipeline_run import add_arguments

    add_arguments(p)


@command(
    "run",
    help="run dags/pipeline_emr.py offline (Airflow dag.test() against the emulated EMR)",
    add_arguments=_run_arguments,
)
def _run(args: argparse.Namespace) -> int:
    from harness.pipeline_run import main

    return main(args)

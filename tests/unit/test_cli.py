"""`python -m harness`: the command table builds, and building it stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.cli import COMMANDS, build_parser


def test_every_command_parses_and_reaches_its_handler():
    parser = build_parser()
    for name, (_, module_name, handler) in COMMANDS.items():
        args = parser.parse_args([name])
        assert args.handler.__module__ == module_name
        assert args.handler.__name__ == handler


def test_building_the_cli_imports_neither_airflow_nor_spark_nor_moto():
    code = ("import sys, harness.cli as c; c.build_parser(); "
            "print(sorted(m for m in ('airflow', 'pyspark', 'moto') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "[]"


def test_a_command_module_without_its_arguments_function_is_named_in_the_error(monkeypatch):
    import harness.cli as cli

    # harness.cli itself defines neither add_broken_arguments nor add_arguments
    monkeypatch.setitem(cli.COMMANDS, "broken", ("help", "harness.cli", "main"))
    with pytest.raises(LookupError) as err:
        cli.build_parser()
    assert str(err.value) == (
        "command 'broken': module harness.cli defines none of add_broken_arguments, "
        "add_arguments (see COMMANDS in harness/cli/__init__.py)")


def test_a_command_whose_handler_is_missing_is_named_in_the_error(monkeypatch):
    import harness.cli as cli

    monkeypatch.setitem(cli.COMMANDS, "serve", ("help", "harness.cli.serve", "no_such"))
    with pytest.raises(LookupError, match="command 'serve': module harness.cli.serve "
                                          "defines none of no_such"):
        cli.build_parser()


def test_run_hands_its_out_the_progress_lines_not_the_events(tmp_path, monkeypatch):
    # `out` takes lines (a warm client's socket, a list in tests); progress callbacks get
    # TaskEvents. Everything around the run is replaced: only the hand-over is under test.
    import argparse
    import contextlib

    from harness.airflow.progress import TaskEvent, format_event
    from harness.cli import run as cli_run
    from harness.offline_run import run_offline

    event = TaskEvent("criar_cluster", "success", duration=1.5)

    class Prepared:
        def run(self, *, progress, **kwargs):
            progress(event)
            return "result"

    class Backend(contextlib.AbstractContextManager):
        def __exit__(self, *exc):
            return None

        def describe(self):
            return "fake backend"

    monkeypatch.setattr("harness.airflow.dag_runner.prepare_dag_run",
                        lambda *a, **k: contextlib.nullcontext(Prepared()))
    monkeypatch.setattr("harness.backends.create_backend", lambda *a, **k: Backend())
    monkeypatch.setattr("harness.provisioning.provision", lambda *a, **k: None)
    monkeypatch.setattr("harness.endpoint.console_reports", contextlib.nullcontext)
    monkeypatch.setattr("harness.run_report.report", lambda *a, **k: 0)
    parser = argparse.ArgumentParser()
    cli_run.add_arguments(parser)
    monkeypatch.chdir(tmp_path)
    args = parser.parse_args(["--dag-id", "d", "--workdir", str(tmp_path / "w")])
    lines: list[object] = []
    assert run_offline(cli_run.run_config(args), cli_run.run_options(args),
                       out=lines.append) == 0
    assert lines[-1] == format_event(event)
    assert all(isinstance(line, str) for line in lines)


def test_run_flags_become_run_options_for_the_library_call(tmp_path):
    # `python -m harness run` only reads arguments; harness.offline_run.run_offline runs.
    import argparse
    from pathlib import Path

    from harness.cli import run as cli_run
    from harness.offline_run import RunOptions

    parser = argparse.ArgumentParser()
    cli_run.add_arguments(parser)
    assert cli_run.run_options(parser.parse_args([])) == RunOptions()
    args = parser.parse_args(["--workdir", "w", "--timings", "t.json", "--deferrable",
                              "--poke-interval", "1.5", "--backend", "localstack",
                              "--localstack-url", "http://127.0.0.1:4566", "--warm-spark"])
    assert cli_run.run_options(args) == RunOptions(
        workdir=Path("w"), timings=Path("t.json"), deferrable=True, poke_interval=1.5,
        backend="localstack", localstack_url="http://127.0.0.1:4566", warm_spark=True)


def test_run_offline_without_a_dag_id_names_the_setting():
    from harness.config import ConfigError, HarnessConfig
    from harness.offline_run import run_offline

    with pytest.raises(ConfigError, match="no DAG to run: set dag_id in \\[tool.harness\\]"):
        run_offline(HarnessConfig(), out=print)

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

"""`python -m harness`: the command table builds, and building it stays light."""

from __future__ import annotations

import subprocess
import sys

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

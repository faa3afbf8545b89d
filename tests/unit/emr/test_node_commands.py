"""The node commands' table, shims, BASH_ENV functions and step environment (no Spark)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.emr.node_cli import local_node_tools, main
from harness.emr.node_commands import (
    ABSOLUTE_PATHS,
    BASH_ENV_FILE,
    NODE_BIN,
    SHIM_NAMES,
    NodeTools,
    command_name,
    node_env,
)

TOOLS = NodeTools(spark_bin="/spark/bin", examples_root="/ex", examples=(), python="/venv/py",
                  aws_cli="/venv/aws")  # fmt: skip


def test_every_shim_exists_and_is_executable():
    for name in SHIM_NAMES:
        shim = NODE_BIN / name
        assert shim.is_file() and os.access(shim, os.X_OK), shim
        assert "harness.emr.node_cli" in shim.read_text()


def test_bash_env_defines_a_function_for_every_absolute_path():
    text = BASH_ENV_FILE.read_text()
    defined = dict(re.findall(r"^function (\S+) \{ _harness_node (\S+) ", text, re.M))
    assert defined == ABSOLUTE_PATHS


def test_command_name():
    assert command_name("/usr/lib/spark/bin/spark-submit") == "spark-submit"
    assert command_name("/usr/share/aws/emr/s3-dist-cp/bin/s3-dist-cp") == "s3-dist-cp"
    assert command_name("/opt/mine/tool") == "/opt/mine/tool"


def test_node_env_puts_the_shims_first_and_keeps_a_users_bash_env(tmp_path):
    env = node_env({"PATH": "/usr/bin:/bin", "BASH_ENV": "/home/me/.bashenv"}, TOOLS,
                   configurations=[{"Classification": "spark-defaults"}],
                   workdir=tmp_path)  # fmt: skip
    assert env["PATH"].split(os.pathsep)[:4] == [str(NODE_BIN), "/venv", "/usr/bin", "/bin"]
    assert env["BASH_ENV"] == str(BASH_ENV_FILE)
    assert env["HARNESS_USER_BASH_ENV"] == "/home/me/.bashenv"
    assert env["HARNESS_EMR_CONFIGURATIONS"] == '[{"Classification": "spark-defaults"}]'
    assert env["HARNESS_NODE_WORKDIR"] == str(tmp_path)


def test_node_env_passes_configurations_held_in_any_mapping(tmp_path):
    from types import MappingProxyType

    conf = MappingProxyType({"Classification": "spark-defaults",
                             "Properties": MappingProxyType({"a": "1"})})  # fmt: skip
    env = node_env({}, TOOLS, configurations=[conf], workdir=tmp_path)
    assert env["HARNESS_EMR_CONFIGURATIONS"] == (
        '[{"Classification": "spark-defaults", "Properties": {"a": "1"}}]')  # fmt: skip


def test_absolute_paths_inside_bash_scripts_reach_the_shims(tmp_path):
    # A fake shims folder records what it was called with: bash resolves EMR's absolute paths
    # (a script's `/usr/lib/spark/bin/spark-submit`) through the BASH_ENV functions.
    shims = tmp_path / "bin"
    shims.mkdir()
    for name in ("spark-submit", "hadoop"):
        (shims / name).write_text(f'#!/bin/sh\necho "{name} $*"\n')
        (shims / name).chmod(0o755)
    user_env = tmp_path / "user_env.sh"
    user_env.write_text("user_loaded=yes\n")
    tools = NodeTools(spark_bin="", examples_root="", examples=(), python=sys.executable,
                      aws_cli="/bin/echo", node_bin=str(shims))  # fmt: skip
    env = node_env({"PATH": os.environ["PATH"], "BASH_ENV": str(user_env)}, tools,
                   workdir=tmp_path)  # fmt: skip
    script = tmp_path / "run.sh"
    script.write_text(
        "set -eu\n/usr/lib/spark/bin/spark-submit --master yarn job.py\n"
        'out=$(/usr/bin/hadoop fs -ls s3://b/)\necho "got: $out"\n'
        "/usr/bin/aws s3 ls\n/usr/bin/python3 -c 'import sys; print(sys.executable)'\n"
        "echo \"user env: $user_loaded\"\nbash -c '/usr/bin/hadoop fs -test -e s3://b/k'\n"
    )
    done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "spark-submit --master yarn job.py",
        "got: hadoop fs -ls s3://b/",
        "s3 ls",
        sys.executable,
        "user env: yes",
        "hadoop fs -test -e s3://b/k",  # nested bash: BASH_ENV is inherited
    ]


def test_local_node_tools_list_the_python_examples_of_the_wheel():
    pytest.importorskip("pyspark", reason="the `spark` extra ships the examples")
    tools = local_node_tools()
    assert Path(tools.spark_bin, "spark-submit").exists()
    assert "pi.py" in tools.examples and "ml/als_example.py" in tools.examples
    assert Path(tools.examples_root, "pi.py").is_file()


@pytest.mark.parametrize("argv,message", [
    (["hive", "-e", "select 1"], "UnsupportedStepError: `hive` is not emulated"),
    (["/usr/bin/hadoop", "jar", "x.jar"], "UnsupportedStepError: `hadoop jar` is not emulated"),
    (["frobnicate"], "`frobnicate` is not a node command of this emulator"),
])  # fmt: skip
def test_node_cli_refuses_what_is_not_emulated(argv, message, capsys):
    assert main(argv) == 1
    assert message in capsys.readouterr().err

"""What the stack runs comes from [tool.harness]: another repository's table (its DAG id,
uploads, Variables, connections, sensor bound) reaches the stack's settings, its Airflow
environment and its provisioning; a bad one is refused naming the key or flag and the file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from harness.config import ConfigError
from harness.stack import airflow_setup
from harness.stack.cli import _config, add_arguments
from harness.stack.supervisor import Stack, StackConfig
from tests.unit.fake_s3 import FakeS3

TABLE = '''[tool.harness]
dag_id = "orders_daily"
dags_folder = "flows"
buckets = ["orders-empty"]
[tool.harness.uploads]
"in.csv" = "s3://orders-local/raw/in.csv"
"job.py" = "s3://orders-local/code/job.py"
[tool.harness.variables]
orders_bucket = "orders-local"
[tool.harness.connections]
web = "http://127.0.0.1:1"
'''


def _repo(tmp_path: Path, table: str = TABLE) -> Path:
    (tmp_path / "in.csv").write_text("a\n1\n")
    (tmp_path / "job.py").write_text("print(1)\n")
    path = tmp_path / "pyproject.toml"
    path.write_text(table)
    return path


def _args(tmp_path: Path, *argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args(["--state-dir", str(tmp_path / "state"), "up", *argv])


def test_another_repositorys_table_reaches_the_stacks_settings(tmp_path, monkeypatch):
    path = _repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    config = _config(_args(tmp_path))
    assert config.dag_id == "orders_daily" and config.config_file == path.resolve()
    assert config.dags_folder == tmp_path / "flows"
    # No task id anywhere: one bound for every input sensor of the DAG.
    assert config.timing.sensor_timeout == airflow_setup.INPUT_TIMEOUT_S
    assert StackConfig.from_json(json.loads(json.dumps(config.to_json()))) == config


def test_flags_and_the_tables_sensor_timeout(tmp_path):
    path = _repo(tmp_path, TABLE.replace('dags_folder = "flows"', "sensor_timeout = 7"))
    config = _config(_args(tmp_path, "--config", str(path)))
    assert config.timing.sensor_timeout == 7.0
    config = _config(_args(tmp_path, "--config", str(path), "--input-timeout", "3",
                           "--dag-id", "other", "--skip-upload", str(tmp_path / "in.csv")))
    assert (config.timing.sensor_timeout, config.dag_id) == (3.0, "other")
    assert config.skip_uploads == ((tmp_path / "in.csv").resolve(),)


def test_a_table_without_a_dag_or_an_unknown_skip_is_refused(tmp_path):
    path = _repo(tmp_path, TABLE.replace('dag_id = "orders_daily"\n', ""))
    with pytest.raises(ConfigError) as e:
        _config(_args(tmp_path, "--config", str(path)))
    assert str(e.value) == ("no DAG to wait for: give --dag-id, or set dag_id in "
                            f"[tool.harness] of {path}")
    with pytest.raises(ConfigError, match=r"--skip-upload nope.csv: not one of the uploads in "
                                          rf"\[tool.harness\] of {path} \("):
        _config(_args(tmp_path, "--config", str(path), "--dag-id", "d",
                      "--skip-upload", "nope.csv"))


def test_stack_up_with_a_bad_table_says_so_and_starts_nothing(tmp_path, capsys):
    from harness.stack.cli import main

    path = _repo(tmp_path, '[tool.harness]\ndag_id = 3\n')
    assert main(_args(tmp_path, "--config", str(path))) == 2
    assert capsys.readouterr().err == (f"harness stack up: {path}: tool.harness.dag_id: "
                                       "expected a DAG id, got 3\n")
    assert not (tmp_path / "state").exists()


def test_the_tables_variables_and_connections_reach_airflows_environment(tmp_path):
    path = _repo(tmp_path)
    stack = Stack(StackConfig(state_dir=tmp_path / "s", dag_id="orders_daily",
                              config_file=path))
    table = stack.harness_config()
    env = airflow_setup.airflow_env(
        home=tmp_path, dags_folder=tmp_path, db_url="sqlite://", port=1,
        login=airflow_setup.Login("a", "b"), connection_extra={}, secret="s",
        variables=table.variables, connections=table.connections)
    assert env["AIRFLOW_VAR_ORDERS_BUCKET"] == "orders-local"
    assert env["AIRFLOW_CONN_WEB"] == "http://127.0.0.1:1"


class _Backend:
    def __init__(self) -> None:
        self.s3 = FakeS3()

    def client(self, service):
        assert service == "s3"  # emr_default_roles is not asked for
        return self.s3


@pytest.mark.parametrize(("skip", "keys"), [
    ({}, ["s3://orders-local/raw/in.csv", "s3://orders-local/code/job.py"]),
    ({"skip_uploads": ("in.csv",)}, ["s3://orders-local/code/job.py"]),
    ({"no_uploads": True}, []),
])  # fmt: skip
def test_provisioning_is_the_tables_minus_what_is_left_out(tmp_path, monkeypatch, skip, keys):
    path = _repo(tmp_path)
    monkeypatch.chdir(tmp_path)  # skip_uploads as given on the command line, relative
    skip = {k: tuple(Path(p) for p in v) if k == "skip_uploads" else v for k, v in skip.items()}
    stack = Stack(StackConfig(state_dir=tmp_path / "s", dag_id="orders_daily",
                              config_file=path, **skip))
    stack.backend = _Backend()
    stack._provision()
    # The buckets are there even with no upload: the DAG finds its input missing, not its bucket.
    assert stack.backend.s3.buckets == ["orders-empty", "orders-local"]
    assert stack.backend.s3.keys == keys

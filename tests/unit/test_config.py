"""[tool.harness] and the `run` flags that override it: parsing, merging, the errors' words."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from harness.config import (
    ConfigError,
    S3Uri,
    Upload,
    load_config,
    parse_connections,
    parse_uploads,
    parse_vars,
)
from harness.provisioning import provision
from tests.unit.fake_s3 import FakeS3

ROOT = Path(__file__).resolve().parents[2]


def _pyproject(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\n\n' + body)
    return path


def test_the_projects_own_table_is_the_lesson(tmp_path):
    config = load_config(ROOT / "pyproject.toml")
    assert config.dag_id == "pipeline_emr" and config.emr_default_roles
    assert config.dags_folder == ROOT / "dags"
    assert {str(u.dest) for u in config.uploads} == {
        "s3://airflow-emr-local/input/dados_vendas.csv",
        "s3://airflow-emr-local/scripts/processar_vendas.py"}
    assert all(u.local.is_file() for u in config.uploads)
    assert config.all_buckets() == ["airflow-emr-local"]


def test_a_table_with_every_key_parses_relative_to_its_file(tmp_path):
    (tmp_path / "jobs").mkdir()
    path = _pyproject(tmp_path, '''[tool.harness]
dags_folder = "flows"
dag_id = "d"
buckets = ["empty"]
emr_default_roles = false
result = "s3://b/out/"
sensor_timeout = 5
timeout = 60
[tool.harness.uploads]
"jobs" = "s3://b/jobs/"
[tool.harness.variables]
n = 3
[tool.harness.connections]
web = "http://127.0.0.1:1"
api = {conn_type = "http", host = "127.0.0.1"}
''')
    config = load_config(cwd=tmp_path)
    assert config.source == path.resolve() and config.dags_folder == tmp_path / "flows"
    assert config.uploads == (Upload(tmp_path / "jobs", S3Uri("b", "jobs/")),)
    assert config.variables == {"n": "3"} and config.result == (S3Uri("b", "out/"),)
    assert config.connections["api"] == '{"conn_type": "http", "host": "127.0.0.1"}'
    assert (config.sensor_timeout, config.timeout) == (5.0, 60.0)
    assert config.all_buckets() == ["empty", "b"]


def test_no_pyproject_or_no_table_means_defaults_unless_named(tmp_path):
    assert load_config(cwd=tmp_path).dag_id is None
    _pyproject(tmp_path, "")
    assert load_config(cwd=tmp_path).uploads == ()
    with pytest.raises(ConfigError, match=r"no \[tool.harness\] table"):
        load_config(tmp_path / "pyproject.toml")
    with pytest.raises(ConfigError, match="--config .*nope.toml: no such file"):
        load_config(tmp_path / "nope.toml")


@pytest.mark.parametrize(("body", "error"), [
    ('dag_idd = "x"', "unknown key.s. dag_idd"),
    ("buckets = 'b'", "tool.harness.buckets: expected a list of bucket names"),
    ('emr_default_roles = "yes"', "tool.harness.emr_default_roles: expected true or false"),
    ("timeout = -1", "tool.harness.timeout: expected seconds"),
    ('result = "out/"', r"tool.harness.result: expected s3://bucket/key, got 'out/'"),
    ('uploads = {"a.csv" = "b/a.csv"}', r"tool.harness.uploads.'a.csv': expected s3://"),
    ('connections = {c = "nothing"}', "tool.harness.connections.c: expected a connection URI"),
    ('variables = {v = [1]}', r"tool.harness.variables.v: expected a string"),
])  # fmt: skip
def test_an_invalid_key_is_named(tmp_path, body, error):
    _pyproject(tmp_path, "[tool.harness]\n" + body + "\n")
    with pytest.raises(ConfigError, match=error):
        load_config(cwd=tmp_path)


def test_invalid_toml_is_reported_with_the_file(tmp_path):
    _pyproject(tmp_path, "[tool.harness\n")
    with pytest.raises(ConfigError, match="pyproject.toml: not valid TOML"):
        load_config(cwd=tmp_path)


def test_flags_parse_and_bad_ones_name_the_flag(tmp_path):
    (tmp_path / "a.csv").write_text("x\n")
    assert parse_vars(["a=1", "b=x=y"]) == {"a": "1", "b": "x=y"}
    assert parse_uploads(["a.csv=s3://b/in/a.csv"], cwd=tmp_path) == [
        Upload(tmp_path / "a.csv", S3Uri("b", "in/a.csv"))]
    assert parse_connections(['c={"conn_type": "http"}', "d=http://h"]) == {
        "c": '{"conn_type": "http"}', "d": "http://h"}
    with pytest.raises(ConfigError, match="--var expects NAME=VALUE, got 'oops'"):
        parse_vars(["oops"])
    with pytest.raises(ConfigError, match="--upload expects LOCAL=s3://bucket/key"):
        parse_uploads(["a.csv"], cwd=tmp_path)
    with pytest.raises(ConfigError, match="--upload a.csv=b/k: expected s3://bucket/key"):
        parse_uploads(["a.csv=b/k"], cwd=tmp_path)
    with pytest.raises(ConfigError, match="--upload gone.csv=s3://b/k: gone.csv does not exist"):
        parse_uploads(["gone.csv=s3://b/k"], cwd=tmp_path)
    with pytest.raises(ConfigError, match="--conn c: not valid JSON"):
        parse_connections(["c={oops"])


def test_flags_override_the_table(tmp_path):
    (tmp_path / "a.csv").write_text("x\n")
    (tmp_path / "b.csv").write_text("y\n")
    _pyproject(tmp_path, '''[tool.harness]
dag_id = "d"
timeout = 60
[tool.harness.uploads]
"a.csv" = "s3://b/in.csv"
[tool.harness.variables]
keep = "1"
over = "old"
''')
    config = load_config(cwd=tmp_path).with_overrides(
        dag_id="other", uploads=parse_uploads(["b.csv=s3://b/in.csv"], cwd=tmp_path),
        variables={"over": "new"}, timeout=None)
    assert config.dag_id == "other" and config.timeout == 60.0
    assert config.uploads == (Upload(tmp_path / "b.csv", S3Uri("b", "in.csv")),)
    assert config.variables == {"keep": "1", "over": "new"}


def test_the_run_command_needs_a_dag_and_says_where(tmp_path, monkeypatch):
    from harness.cli.run import add_arguments, main

    monkeypatch.chdir(tmp_path)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    lines: list[str] = []
    assert main(parser.parse_args([]), lines.append) == 2
    assert lines == ["harness run: no DAG to run: give --dag-id, or set dag_id in "
                     "[tool.harness] of ./pyproject.toml"]
    lines.clear()
    assert main(parser.parse_args(["--dag-id", "d", "--var", "x"]), lines.append) == 2
    assert lines == ["harness run: --var expects NAME=VALUE, got 'x'"]


class _Aws:
    def __init__(self) -> None:
        self.s3 = FakeS3()

    def client(self, service):
        assert service == "s3"  # emr_default_roles is false here
        return self.s3


def test_provision_uploads_files_and_folders_recursively(tmp_path):
    jobs = tmp_path / "jobs"
    (jobs / "lib").mkdir(parents=True)
    (jobs / "main.py").write_text("main")
    (jobs / "lib" / "util.py").write_text("util")
    (tmp_path / "in.csv").write_text("csv")
    _pyproject(tmp_path, '''[tool.harness]
buckets = ["b", "empty"]
[tool.harness.uploads]
"jobs" = "s3://b/code"
"in.csv" = "s3://c/input/"
''')
    aws = _Aws()
    aws.s3.buckets.append("b")  # already there: kept
    uploaded = provision(aws, load_config(cwd=tmp_path))
    assert aws.s3.buckets == ["b", "empty", "c"]
    assert aws.s3.objects == {("b", "code/lib/util.py"): "util", ("b", "code/main.py"): "main",
                              ("c", "input/in.csv"): "csv"}
    assert uploaded == ["s3://b/code/lib/util.py", "s3://b/code/main.py", "s3://c/input/in.csv"]


def test_run_help_shows_the_generic_options_with_their_defaults(capsys):
    from harness.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--config FILE", "--dag-id DAG_ID", "--dags-folder DIR",
                   "--upload LOCAL=s3://BUCKET/KEY", "--var NAME=VALUE",
                   "--conn CONN_ID=URI-or-JSON", "--sensor-timeout SECONDS",
                   "--timeout SECONDS"):
        assert option in text, option
    assert "default [tool.harness] dag_id" in text
    assert "default [tool.harness] sensor_timeout, else 30" in text


def test_connections_reach_the_runs_environment():
    from harness.airflow.environment import _run_env, _spec

    spec, _, _ = _spec("d", ".", "http://127.0.0.1:1",
                       connections={"my_api": '{"conn_type": "http", "host": "h"}'})
    env = _run_env(spec)
    assert env["AIRFLOW_CONN_MY_API"] == '{"conn_type": "http", "host": "h"}'
    assert "AIRFLOW_CONN_AWS_DEFAULT" in env  # the harness's own stays


def test_the_aws_table_parses_and_a_bad_placeholder_names_the_key_and_the_file(tmp_path):
    path = _pyproject(tmp_path, '''[tool.harness.aws.variables]
bucket = "{bucket}"
tags = '{"a": "{run_id}"}'
n = 2
''')
    config = load_config(cwd=tmp_path)
    assert config.aws_variables == {"bucket": "{bucket}", "tags": '{"a": "{run_id}"}', "n": "2"}
    _pyproject(tmp_path, '[tool.harness.aws.variables]\nb = "{buckte}"\n')
    with pytest.raises(ConfigError) as e:
        load_config(cwd=tmp_path)
    assert str(e.value) == (
        f"{path}: tool.harness.aws.variables.b: unknown placeholder {{buckte}}; known: "
        "{bucket}, {run_id}, {region}, {tags}, {instance_type}, {core_count}")
    _pyproject(tmp_path, '[tool.harness.aws]\nvars = {}\n')
    with pytest.raises(ConfigError, match=r"pyproject.toml: tool.harness.aws: expected a table "
                                          "with one key, variables"):
        load_config(cwd=tmp_path)


def test_an_invalid_key_names_the_file(tmp_path):
    path = _pyproject(tmp_path, "[tool.harness]\ndag_id = 3\n")
    with pytest.raises(ConfigError) as e:
        load_config(cwd=tmp_path)
    assert str(e.value) == f"{path}: tool.harness.dag_id: expected a DAG id, got 3"


def test_placeholders_are_filled_and_other_braces_kept():
    from harness.config import fill_placeholders

    values = {"bucket": "b-1", "run_id": "r1"}
    assert fill_placeholders('{"k": "{run_id}"} s3://{bucket}/x {other}', values) == \
        '{"k": "r1"} s3://b-1/x {other}'

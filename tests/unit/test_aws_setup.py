"""[tool.harness] on a real-AWS run's own bucket: files, Variables, and the refusals' words."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.aws_setup import AwsRunSetup
from harness.config import ConfigError, load_config

RUN_VALUES = {"bucket": "smoke-r1", "run_id": "r1", "region": "eu-west-1",
              "tags": '{"run": "r1"}', "instance_type": "m5.xlarge", "core_count": "1"}


def _repo(tmp_path: Path, table: str) -> Path:
    (tmp_path / "jobs").mkdir(exist_ok=True)
    (tmp_path / "jobs" / "job.py").write_text("print(1)\n")
    (tmp_path / "in.csv").write_text("a\n1\n")
    path = tmp_path / "pyproject.toml"
    path.write_text(table)
    return path


OTHER_REPO = '''[tool.harness]
dag_id = "orders_daily"
emr_default_roles = true
result = "s3://orders-local/out/"
[tool.harness.uploads]
"in.csv" = "s3://orders-local/raw/in.csv"
"jobs" = "s3://orders-local/code/"
[tool.harness.variables]
orders_bucket = "orders-local"
orders_prefix = "raw/"
[tool.harness.aws.variables]
orders_bucket = "{bucket}"
cluster_tags = "{tags}"
cluster = "{instance_type} x {core_count} in {region}"
'''


def test_another_repositorys_table_lands_on_the_runs_bucket(tmp_path):
    _repo(tmp_path, OTHER_REPO)
    setup = AwsRunSetup.from_config(load_config(cwd=tmp_path))
    assert setup.dag_id == "orders_daily" and setup.offline_bucket == "orders-local"
    assert setup.files == [(tmp_path / "in.csv", "raw/in.csv"),
                           (tmp_path / "jobs" / "job.py", "code/job.py")]
    assert setup.roles == ("EMR_DefaultRole", "EMR_EC2_DefaultRole")
    assert setup.result_prefixes == ["out/"]
    assert setup.variables(RUN_VALUES) == {
        "orders_bucket": "smoke-r1", "orders_prefix": "raw/", "cluster_tags": '{"run": "r1"}',
        "cluster": "m5.xlarge x 1 in eu-west-1"}


def test_a_variable_still_naming_the_offline_bucket_is_refused(tmp_path):
    path = _repo(tmp_path, OTHER_REPO.replace('orders_bucket = "{bucket}"\n', "")
                 .replace('orders_prefix = "raw/"', 'orders_uri = "s3://orders-local/raw/"'))
    setup = AwsRunSetup.from_config(load_config(cwd=tmp_path))
    with pytest.raises(ConfigError) as e:
        setup.variables(RUN_VALUES)
    assert str(e.value) == (
        "tool.harness.variables.orders_bucket = 'orders-local' names the offline bucket "
        "orders-local, which a real-AWS run does not own; map it to the run's bucket in "
        f'[tool.harness.aws.variables] of {path} (e.g. orders_bucket = "{{bucket}}")')


def test_a_bucket_name_inside_another_word_is_not_the_bucket(tmp_path):
    _repo(tmp_path, '''[tool.harness]
dag_id = "d"
[tool.harness.uploads]
"in.csv" = "s3://b/in.csv"
[tool.harness.variables]
label = "abc b-2 sub.b"
''')
    setup = AwsRunSetup.from_config(load_config(cwd=tmp_path))
    assert setup.variables(RUN_VALUES) == {"label": "abc b-2 sub.b"}
    assert setup.roles == ()  # emr_default_roles not asked for: nothing checked


@pytest.mark.parametrize(("table", "error"), [
    ('[tool.harness]\n[tool.harness.uploads]\n"in.csv" = "s3://b/in.csv"\n',
     "no DAG to run: give --dag-id, or set dag_id in [tool.harness] of {path}"),
    ('[tool.harness]\ndag_id = "d"\n',
     "tool.harness.uploads: a real-AWS run uploads the DAG's files into its own bucket, and "
     "[tool.harness] of {path} lists none"),
    ('[tool.harness]\ndag_id = "d"\nresult = "s3://out/x/"\n'
     '[tool.harness.uploads]\n"in.csv" = "s3://b/in.csv"\n',
     "tool.harness.buckets/uploads/result: a real-AWS run has one bucket of its own, and "
     "[tool.harness] of {path} names 2 (b, out): use one bucket"),
])  # fmt: skip
def test_a_table_that_cannot_run_on_aws_is_refused_naming_the_key_and_the_file(
        tmp_path, table, error):
    path = _repo(tmp_path, table)
    with pytest.raises(ConfigError) as e:
        AwsRunSetup.from_config(load_config(cwd=tmp_path))
    assert str(e.value) == error.format(path=path)


def test_the_lessons_table_runs_on_aws_with_its_cluster_variables():
    root = Path(__file__).resolve().parents[2]
    setup = AwsRunSetup.from_config(load_config(root / "pyproject.toml"))
    variables = setup.variables(RUN_VALUES)
    assert variables["emr_bucket_name"] == "smoke-r1"
    assert (variables["emr_instance_type"], variables["emr_instance_count"]) == ("m5.xlarge", "1")
    assert variables["emr_tags"] == '{"run": "r1"}'
    assert variables["emr_input_key"] == "input/dados_vendas.csv"  # the offline key, kept

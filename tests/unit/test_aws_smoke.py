"""`python -m harness smoke-aws`'s run, offline and without Airflow running: what another
repository's [tool.harness] table makes it upload, set and read (run_dag is recorded, not run;
the real run against the emulator is tests/integration/aws)."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness import aws_smoke
from harness.backends.aws_cost import ClusterPlan
from harness.config import load_config

from .test_aws_setup import OTHER_REPO, RUN_VALUES, _repo


class _Backend:
    """What run_smoke uses of an AwsBackend, recorded."""

    bucket_name = "smoke-r1"
    region = "eu-west-1"
    plan = ClusterPlan(run_timeout_s=900)

    def __init__(self) -> None:
        self.provisioned: list[tuple[list[tuple[Path, str]], tuple[str, ...]]] = []

    def provision(self, files, *, roles):
        self.provisioned.append((list(files), tuple(roles)))
        return []

    def run_values(self):
        return RUN_VALUES

    def connection_extra(self):
        return {"region_name": self.region}

    def env(self):
        return {"AWS_DEFAULT_REGION": self.region}

    def client(self, service):
        assert service == "s3"
        return "s3-client"


@pytest.fixture
def recorded(monkeypatch):
    """run_dag and read_csv_prefix replaced by recorders."""
    import harness.airflow.dag_runner as dag_runner
    import harness.run_report as run_report

    calls: dict = {}

    def run_dag(dag_id, **kwargs):
        calls["run_dag"] = (dag_id, kwargs)
        return SimpleNamespace(ok=True)

    def read_csv_prefix(s3, bucket, prefix):
        calls["read"] = (s3, bucket, prefix)
        return ["h"], [["1"]]

    monkeypatch.setattr(dag_runner, "run_dag", run_dag)
    monkeypatch.setattr(run_report, "read_csv_prefix", read_csv_prefix)
    return calls


def test_another_repositorys_table_reaches_the_smoke_runs_settings(tmp_path, recorded):
    _repo(tmp_path, OTHER_REPO + '[tool.harness.connections]\nweb = "http://h"\n')
    backend = _Backend()
    result, header, rows = aws_smoke.run_smoke(backend, load_config(cwd=tmp_path),
                                               poke_interval=5, out=lambda _: None)
    assert backend.provisioned == [([(tmp_path / "in.csv", "raw/in.csv"),
                                     (tmp_path / "jobs" / "job.py", "code/job.py")],
                                    ("EMR_DefaultRole", "EMR_EC2_DefaultRole"))]
    dag_id, kwargs = recorded["run_dag"]
    assert dag_id == "orders_daily" and kwargs["dags_folder"] == tmp_path / "dags"
    assert kwargs["variables"]["orders_bucket"] == "smoke-r1"
    assert kwargs["connections"] == {"web": "http://h"}
    # The generic rules: every input sensor one bound, the whole run the plan's run timeout.
    assert kwargs["sensor_timeout"] == 60.0 and kwargs["timeout"] == 900.0
    assert recorded["read"] == ("s3-client", "smoke-r1", "out/")
    assert (header, rows) == (["h"], [["1"]])


def test_without_a_result_nothing_is_read(tmp_path, recorded):
    _repo(tmp_path, OTHER_REPO.replace('result = "s3://orders-local/out/"\n', ""))
    _, header, rows = aws_smoke.run_smoke(_Backend(), load_config(cwd=tmp_path),
                                          poke_interval=30, out=lambda _: None)
    assert (header, rows) == ([], []) and "read" not in recorded
    assert recorded["run_dag"][1]["sensor_timeout"] == 90.0  # three pokes


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    aws_smoke.add_arguments(p)
    return p.parse_args(list(argv))


def test_flags_override_the_table(tmp_path):
    path = _repo(tmp_path, OTHER_REPO)
    (tmp_path / "other.csv").write_text("a\n2\n")
    config = aws_smoke.smoke_config(_args(
        "--config", str(path), "--dag-id", "orders_hourly",
        "--upload", f"{tmp_path / 'other.csv'}=s3://orders-local/raw/in.csv"))
    assert config.dag_id == "orders_hourly"
    assert [(u.local.name, str(u.dest)) for u in config.uploads] == [
        ("other.csv", "s3://orders-local/raw/in.csv"), ("jobs", "s3://orders-local/code/")]


def test_a_bad_table_is_refused_before_any_aws_call(tmp_path, monkeypatch):
    path = _repo(tmp_path, '[tool.harness]\ndag_id = "d"\n')
    monkeypatch.setattr(aws_smoke, "_backend", lambda args: pytest.fail("backend built"))
    lines: list[str] = []
    assert aws_smoke.main(_args("--config", str(path)), lines.append) == aws_smoke.REFUSED
    assert lines == [f"harness smoke-aws: tool.harness.uploads: a real-AWS run uploads the "
                     f"DAG's files into its own bucket, and [tool.harness] of {path} lists none"]


def test_a_variable_naming_the_offline_bucket_is_refused_before_any_aws_call(tmp_path,
                                                                            monkeypatch):
    path = _repo(tmp_path, OTHER_REPO.replace('orders_bucket = "{bucket}"\n', ""))
    monkeypatch.setattr(aws_smoke, "_backend", lambda args: pytest.fail("backend built"))
    lines: list[str] = []
    assert aws_smoke.main(_args("--config", str(path)), lines.append) == aws_smoke.REFUSED
    assert lines == [
        "harness smoke-aws: tool.harness.variables.orders_bucket = 'orders-local' names the "
        "offline bucket orders-local, which a real-AWS run does not own; map it to the run's "
        f'bucket in [tool.harness.aws.variables] of {path} (e.g. orders_bucket = "{{bucket}}")']

"""pytest plugin registered through the `pytest11` entry point: installing the project gives
every test suite these fixtures and options. Heavy imports (pyspark, Airflow, moto) happen
inside fixtures, so loading the plugin costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("airflow-emr")
    group.addoption(
        "--run-aws",
        action="store_true",
        default=False,
        help="run tests marked `aws` against a real AWS account (costs money; cleans up)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-aws"):
        return
    skip_aws = pytest.mark.skip(reason="real-AWS smoke test: opt in with --run-aws")
    for item in items:
        if "aws" in item.keywords:
            item.add_marker(skip_aws)


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One local[2] SparkSession for the whole test session (one JVM start)."""
    from harness.spark import local_spark_session

    session = local_spark_session()
    yield session
    session.stop()


@pytest.fixture(scope="session")
def dags_folder(pytestconfig: pytest.Config):
    """The folder `dagbag` parses: `<rootdir>/dags`. Override this fixture to point elsewhere."""
    return pytestconfig.rootpath / "dags"


@pytest.fixture(scope="session")
def dagbag(dags_folder):
    """The DagBag of `dags_folder`, parsed once per session (no DB, no scheduler)."""
    from harness.dag_testing import load_dagbag

    return load_dagbag(dags_folder)


@pytest.fixture(scope="session")
def spark_connect_server():
    """One warm local Spark Connect server for the test session (see harness.emr.connect)."""
    from harness.emr.connect import SparkConnectServer

    with SparkConnectServer() as server:
        yield server


@pytest.fixture
def step_executor():
    """How `emulated_aws` runs step commands; None means local `spark-submit` subprocesses.

    Override it in a conftest to run PySpark steps on the session's warm Spark Connect server
    (a cold JVM per step becomes a few seconds per step)::

        @pytest.fixture
        def step_executor(spark_connect_server):
            from harness.emr.connect import ConnectExecutor
            return ConnectExecutor(server=spark_connect_server)
    """
    return None


@pytest.fixture
def emulated_aws(tmp_path, step_executor):
    """An `EmulatedAWS` on a free loopback port for one test, with AWS_ENDPOINT_URL, dummy
    credentials and the region set in the environment (and real profiles hidden). Every
    cluster is terminated and every step process killed when the test ends."""
    from harness.endpoint import ENV_UNSET, EmulatedAWS

    # The env patch is undone before the endpoint stops, so the guard restores the original.
    aws = EmulatedAWS(workdir=tmp_path / "emulated-aws", executor=step_executor)
    with aws, pytest.MonkeyPatch.context() as mp:
        for key in ENV_UNSET:
            mp.delenv(key, raising=False)
        for key, value in aws.env().items():
            mp.setenv(key, value)
        yield aws


@pytest.fixture
def dag_runner(emulated_aws, dags_folder):
    """`run(dag_id, **kwargs) -> DagRunResult`: `harness.dag_runner.run_dag` bound to this
    test's `emulated_aws` and the `dags_folder` fixture (both overridable per call).

        def test_my_dag(dag_runner, emulated_aws):
            emulated_aws.client("s3").create_bucket(Bucket="b")
            result = dag_runner("my_dag", variables={"bucket": "b"})
            assert result.ok, result.failure_report()

    The first run in a test session configures Airflow in-process (a throw-away home with
    SQLite), so later runs skip the import and DB setup.
    """
    from harness.dag_runner import run_dag

    def run(dag_id: str, **kwargs):
        kwargs.setdefault("aws", emulated_aws)
        kwargs.setdefault("dags_folder", dags_folder)
        return run_dag(dag_id, **kwargs)

    return run


@pytest.fixture(scope="session")
def warm_services(tmp_path_factory):
    """Warm services (`python -m harness up`: Airflow, the emulated AWS, Spark Connect) for the
    whole session, stopped at its end; a `harness.warm.session.WarmSession`::

        def test_three_workers(warm_services):
            run = warm_services.run(variables={"emr_instance_count": "3"})
            assert run.result.ok, run.result.failure_report()

    Opt-in: only tests that ask for it start them (docs/warm-loop.md).
    """
    from harness.warm.session import WarmSession

    with WarmSession.start(tmp_path_factory.mktemp("warm")) as session:
        yield session

"""pytest plugin registered through the `pytest11` entry point: installing the project gives
every test suite these fixtures and options. Heavy imports (pyspark, Airflow, moto) happen
inside fixtures, so loading the plugin costs nothing.

Every fixture is defined under a ``harness_`` name (``harness_spark``, ``harness_emulated_aws``
...) and the short name (``spark``, ``emulated_aws`` ...) is an alias of it. The plugin's own
fixtures depend only on ``harness_`` names, so a fixture of the same short name in a user's
conftest (a ``spark`` with their own settings, an unrelated ``backend``) wins for their tests, as
pytest's conftest-over-plugin rule says, and changes nothing else. To change what the harness's
fixtures use, override the ``harness_`` name: ``harness_step_executor``, ``harness_dags_folder``
(docs/pytest-plugin.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # types only: the fixtures import these lazily
    from pyspark.sql import SparkSession

    # Through harness.airflow: only it may import Airflow (import-linter, TYPE_CHECKING too).
    from harness.airflow.dag_testing import DagBag
    from harness.airflow.results import DagRunResult
    from harness.backends.base import Backend
    from harness.config import HarnessConfig
    from harness.emr.connect import SparkConnectServer
    from harness.emr.executors import StepExecutor
    from harness.endpoint import EmulatedAWS
    from harness.warm.session import WarmSession

    DagRunner = Callable[..., DagRunResult]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("airflow-emr")
    group.addoption(
        "--run-aws",
        action="store_true",
        default=False,
        help="run tests marked `aws` against a real AWS account (costs money; cleans up)",
    )
    group.addoption(
        "--backend",
        default="embedded",
        help="comma-separated backends the `backend` fixture runs each test against: embedded, "
             "localstack, localstack-docker, aws, or `all` (default: embedded); a backend that "
             "cannot run here skips with its reason",
    )
    group.addoption(
        "--localstack-url",
        default=None,
        help="use the LocalStack-compatible endpoint at this URL instead of starting LocalStack",
    )
    group.addoption(
        "--install-localstack",
        action="store_true",
        default=False,
        help="create LocalStack's pinned virtual environment when it is missing",
    )
    group.addoption(
        "--fail-if-all-skipped",
        action="store_true",
        default=False,
        help="fail the session when tests were collected but every one of them skipped",
    )


def backend_names(config: pytest.Config) -> list[str]:
    """The backends `--backend` asks for, validated and in order."""
    from harness.backends import BACKENDS

    raw = [n.strip() for n in str(config.getoption("--backend")).split(",") if n.strip()]
    names = list(BACKENDS) if raw == ["all"] else raw
    unknown = [n for n in names if n not in BACKENDS]
    if unknown or not names:
        raise pytest.UsageError(f"--backend: unknown {unknown or names}; choose from "
                                f"{', '.join(BACKENDS)} or all")
    return list(dict.fromkeys(names))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # `harness_backend` is in the closure only when the test uses the harness's backend fixture
    # (directly or through the `backend` alias): a user's own `backend` fixture is left alone.
    if "harness_backend" in metafunc.fixturenames:
        names = backend_names(metafunc.config)
        metafunc.parametrize("harness_backend", names, indirect=True, ids=names)


class _SkipCounter:
    """Counts outcomes for --fail-if-all-skipped."""

    def __init__(self) -> None:
        self.passed = self.failed = self.skipped = 0

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and report.when in ("setup", "call"):
            self.skipped += 1
        elif report.failed:
            self.failed += 1
        elif report.passed and report.when == "call":
            self.passed += 1


@pytest.hookimpl(tryfirst=True)  # before conftests' own, which may start Spark JVMs
def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--backend", default=None) is not None:
        backend_names(config)  # a typo is a usage error at once, not a collection error
    if config.getoption("--fail-if-all-skipped", default=False):
        config.pluginmanager.register(_SkipCounter(), "harness-skip-counter")
    _interrupt_on_sigterm(config)
    _quick_spark_jvms(config)


def _quick_spark_jvms(config: pytest.Config) -> None:
    """Spark JVMs started under pytest (the `spark` fixture's, steps, Spark Connect servers,
    also in the harness's child processes) get harness.spark.QUICK_JVM_OPTIONS, unless
    HARNESS_SPARK_JAVA_OPTIONS is set already (empty: the JVM's defaults)."""
    from harness.spark import JAVA_OPTIONS_ENV, QUICK_JVM_OPTIONS

    if JAVA_OPTIONS_ENV not in os.environ:
        os.environ[JAVA_OPTIONS_ENV] = QUICK_JVM_OPTIONS

        def put_back() -> None:
            os.environ.pop(JAVA_OPTIONS_ENV, None)

        config.add_cleanup(put_back)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    counter = session.config.pluginmanager.get_plugin("harness-skip-counter")
    if counter is None or exitstatus != 0:
        return
    if counter.skipped and not counter.passed and not counter.failed:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"--fail-if-all-skipped: all {counter.skipped} test(s) skipped "
                                "(see the skip reasons above)", red=True)


_SIGTERM_KEY = pytest.StashKey[object]()


def _interrupt_on_sigterm(config: pytest.Config) -> None:
    """SIGTERM ends the session as Ctrl-C does: pytest stops, and fixture finalizers run (the
    emulator terminates its clusters and kills step processes, temp folders are removed)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(signum: int, frame: object) -> None:
        signal.signal(signum, signal.SIG_IGN)  # a second SIGTERM must not cut the teardown
        raise KeyboardInterrupt(f"pytest session interrupted by {signal.Signals(signum).name}")

    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        config.stash[_SIGTERM_KEY] = signal.signal(signal.SIGTERM, interrupt)


def pytest_unconfigure(config: pytest.Config) -> None:
    import signal

    previous = config.stash.get(_SIGTERM_KEY, None)
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)  # type: ignore[arg-type]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-aws"):
        return
    skip_aws = pytest.mark.skip(reason="real-AWS smoke test: opt in with --run-aws")
    for item in items:
        # The marker, not `item.keywords`: keywords also hold folder names (tests/.../aws/).
        if item.get_closest_marker("aws") is not None:
            item.add_marker(skip_aws)


@pytest.fixture(scope="session")
def harness_spark() -> Iterator[SparkSession]:
    """One local[2] SparkSession for the whole test session (one JVM start)."""
    from harness.spark import local_spark_session, stop_local_spark

    session = local_spark_session()
    yield session
    stop_local_spark(session)  # while pytest's capture streams are still open


@pytest.fixture(scope="session")
def harness_config(pytestconfig: pytest.Config) -> HarnessConfig:
    """The `[tool.harness]` table of `<rootdir>/pyproject.toml` as a `harness.config.HarnessConfig`
    (defaults without one): `harness.provisioning.provision(emulated_aws, harness_config)` sets
    up what `python -m harness run` would."""
    from harness.config import load_config

    return load_config(cwd=pytestconfig.rootpath)


@pytest.fixture(scope="session")
def harness_dags_folder(harness_config: HarnessConfig) -> Path:
    """The folder `harness_dagbag` and `harness_dag_runner` use: `[tool.harness]` dags_folder,
    else `<rootdir>/dags`. Override this fixture (the `harness_` name) to point them elsewhere."""
    return harness_config.dags_folder


@pytest.fixture(scope="session")
def harness_dagbag(harness_dags_folder: Path) -> DagBag:
    """The DagBag of `harness_dags_folder`, parsed once per session (no DB, no scheduler)."""
    from harness.airflow.dag_testing import load_dagbag

    return load_dagbag(harness_dags_folder)


@pytest.fixture(scope="session")
def harness_spark_connect_server() -> Iterator[SparkConnectServer]:
    """One warm local Spark Connect server for the test session (see harness.emr.connect)."""
    from harness.emr.connect import SparkConnectServer

    with SparkConnectServer() as server:
        yield server


@pytest.fixture
def harness_step_executor() -> StepExecutor | None:
    """How `harness_emulated_aws` runs step commands; None means local `spark-submit`
    subprocesses.

    Override it in a conftest to run PySpark steps on the session's warm Spark Connect server
    (a cold JVM per step becomes a few seconds per step)::

        @pytest.fixture
        def harness_step_executor(harness_spark_connect_server):
            from harness.emr.connect import ConnectExecutor
            return ConnectExecutor(server=harness_spark_connect_server)
    """
    return None


@pytest.fixture
def harness_emulated_aws(tmp_path: Path, harness_step_executor: StepExecutor | None
                         ) -> Iterator[EmulatedAWS]:  # fmt: skip
    """An `EmulatedAWS` on a free loopback port for one test, with AWS_ENDPOINT_URL, dummy
    credentials and the region set in the environment (and real profiles hidden). Every
    cluster is terminated and every step process killed when the test ends."""
    import os

    from harness.endpoint import ENV_UNSET, EmulatedAWS
    from harness.offline_env import unsafe_offline_keys

    # The env patch is undone before the endpoint stops, so the guard restores the original.
    aws = EmulatedAWS(workdir=tmp_path / "emulated-aws", executor=harness_step_executor)
    with aws, pytest.MonkeyPatch.context() as mp:
        for key in [*ENV_UNSET, *unsafe_offline_keys(os.environ)]:
            mp.delenv(key, raising=False)
        for key, value in aws.env().items():
            mp.setenv(key, value)
        yield aws


@pytest.fixture
def harness_backend(request: pytest.FixtureRequest, tmp_path: Path,
                    harness_step_executor: StepExecutor | None) -> Iterator[Backend]:
    """A started backend for one test, parametrized over `--backend` (each test runs once per
    backend; ids `[embedded]`, `[localstack]` ...). Its `env()` is set in the environment (real
    profiles hidden). A backend that cannot run here skips the test with the exact reason;
    `backend.faults` is None where faults cannot be injected."""
    from harness.backends import BackendUnavailable, create_backend
    from harness.endpoint import ENV_UNSET

    name = getattr(request, "param", None) or backend_names(request.config)[0]
    if name == "aws" and not request.config.getoption("--run-aws"):
        pytest.skip("aws backend: real AWS costs money; opt in with --run-aws")
    options = {"localstack_url": request.config.getoption("--localstack-url"),
               "install_localstack": request.config.getoption("--install-localstack")}
    if name != "aws":
        options.update(workdir=tmp_path / f"backend-{name}", executor=harness_step_executor)
    try:
        instance = create_backend(name, **options)
        instance.start()
    except BackendUnavailable as exc:
        pytest.skip(f"{name} backend unavailable: {exc}")
    try:
        # The env patch is undone before the backend stops, so its guard restores the original.
        with pytest.MonkeyPatch.context() as mp:
            for key in ENV_UNSET:
                mp.delenv(key, raising=False)
            for key, value in instance.env().items():
                mp.setenv(key, value)
            yield instance
    finally:
        instance.stop()


@pytest.fixture
def harness_dag_runner(harness_emulated_aws: EmulatedAWS, harness_dags_folder: Path
                       ) -> DagRunner:  # fmt: skip
    """`run(dag_id, **kwargs) -> DagRunResult`: `harness.airflow.dag_runner.run_dag` bound to this
    test's `harness_emulated_aws` and `harness_dags_folder` (both overridable per call).

        def test_my_dag(dag_runner, emulated_aws):
            emulated_aws.client("s3").create_bucket(Bucket="b")
            result = dag_runner("my_dag", variables={"bucket": "b"})
            assert result.ok, result.failure_report()

    The first run in a test session configures Airflow in-process (a throw-away home with
    SQLite), so later runs skip the import and DB setup.
    """
    from harness.airflow.dag_runner import run_dag

    def run(dag_id: str, **kwargs: Any) -> DagRunResult:
        kwargs.setdefault("aws", harness_emulated_aws)
        kwargs.setdefault("dags_folder", harness_dags_folder)
        return run_dag(dag_id, **kwargs)

    return run


@pytest.fixture(scope="session")
def harness_warm_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarmSession]:
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


# ------------------------------------------------------------------ the short names (aliases)
# Each returns its `harness_` fixture. A user's conftest fixture of the same name replaces the
# alias only (pytest prefers conftest fixtures to plugin ones); the harness never uses them.


@pytest.fixture(scope="session")
def spark(harness_spark: SparkSession) -> SparkSession:
    """Alias of `harness_spark`: one local[2] SparkSession for the session."""
    return harness_spark


@pytest.fixture(scope="session")
def dags_folder(harness_dags_folder: Path) -> Path:
    """Alias of `harness_dags_folder` (override that one to move the harness's fixtures)."""
    return harness_dags_folder


@pytest.fixture(scope="session")
def dagbag(harness_dagbag: DagBag) -> DagBag:
    """Alias of `harness_dagbag`: the DagBag of `harness_dags_folder`, parsed once."""
    return harness_dagbag


@pytest.fixture(scope="session")
def spark_connect_server(harness_spark_connect_server: SparkConnectServer
                         ) -> SparkConnectServer:  # fmt: skip
    """Alias of `harness_spark_connect_server`."""
    return harness_spark_connect_server


@pytest.fixture
def step_executor(harness_step_executor: StepExecutor | None) -> StepExecutor | None:
    """Alias of `harness_step_executor` (override that one to change `emulated_aws`)."""
    return harness_step_executor


@pytest.fixture
def emulated_aws(harness_emulated_aws: EmulatedAWS) -> EmulatedAWS:
    """Alias of `harness_emulated_aws`: an EmulatedAWS for one test, env set."""
    return harness_emulated_aws


@pytest.fixture
def backend(harness_backend: Backend) -> Backend:
    """Alias of `harness_backend`: a started backend per `--backend` name."""
    return harness_backend


@pytest.fixture
def dag_runner(harness_dag_runner: DagRunner) -> DagRunner:
    """Alias of `harness_dag_runner`: `run_dag` bound to this test's emulator."""
    return harness_dag_runner


@pytest.fixture(scope="session")
def warm_services(harness_warm_services: WarmSession) -> WarmSession:
    """Alias of `harness_warm_services`."""
    return harness_warm_services

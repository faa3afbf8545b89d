"""Integration scenarios run their PySpark steps on one warm Spark Connect server per session
(`spark_connect_server`): a few seconds a step instead of a cold JVM each time.

Tests marked `cold_spark` keep the default: every step is a cold `spark-submit` subprocess, the
closest to what EMR runs. They are named so (`*_on_cold_spark_submit*`): the pipeline's happy
path end to end, and the emulator's failing-script test; steps that are not PySpark scripts
(run-example, spark-submit inside a shell script) are always cold subprocesses.

The `spark` fixture (reading results back, chispa comparisons) is a Spark Connect session on
that same server: no second JVM for the suite to start.

Under pytest-xdist the controller starts that server as soon as it is configured and every
worker attaches to it: one JVM (and one JIT warm-up) for the whole run instead of one per
worker. The controller stops it when the run ends; its reaper, if the controller dies.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: workerinput key: the URL of the controller's Spark Connect server.
SERVER_URL = "harness_spark_connect_url"
SERVER_LOG = "harness_spark_connect_log"
_SERVER = pytest.StashKey[object]()


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or not config.getoption("numprocesses", None):
        return  # an xdist worker, or no workers at all: the fixture starts its own server
    from harness.emr.connect import SparkConnectServer

    # One log per run: two runs from one checkout must not write into each other's.
    log = Path(str(config.rootpath), ".harness", "logs", f"spark-connect-tests-{os.getpid()}.log")
    server = SparkConnectServer(log_path=log).start()  # warms up while the workers start
    config.stash[_SERVER] = server
    config.add_cleanup(server.stop)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:  # pytest-xdist's, in the controller: per worker
    server = node.config.stash.get(_SERVER, None)
    if server is not None:
        node.workerinput[SERVER_URL] = server.url
        node.workerinput[SERVER_LOG] = str(server.log_path)


@pytest.fixture(scope="session")
def harness_spark_connect_server(request: pytest.FixtureRequest):
    """The controller's server in an xdist worker, else one of this session's own."""
    from harness.emr.connect import SparkConnectServer

    workerinput = getattr(request.config, "workerinput", {})
    if SERVER_URL in workerinput:
        yield SparkConnectServer.attach(workerinput[SERVER_URL],
                                        log_path=workerinput.get(SERVER_LOG))
        return
    with SparkConnectServer() as server:
        yield server


@pytest.fixture
def harness_step_executor(request: pytest.FixtureRequest):
    if request.node.get_closest_marker("cold_spark"):
        return None
    from harness.emr.connect import ConnectExecutor

    return ConnectExecutor(server=request.getfixturevalue("spark_connect_server"))


@pytest.fixture(scope="session")
def harness_spark(spark_connect_server):
    """A Spark Connect session on the session's warm server, in place of the plugin's local
    SparkSession (a JVM of its own: tens of seconds on a loaded machine)."""
    from pyspark.sql import SparkSession

    session = SparkSession.builder.remote(spark_connect_server.wait_ready()).getOrCreate()
    yield session
    # The client's session only; the server stops with its fixture. A server that is gone
    # already (crashed, or killed with the run) would keep stop() retrying for minutes.
    if spark_connect_server.reachable():
        session.stop()


@pytest.fixture(scope="session")
def harness_dagbag(harness_dags_folder):
    """The plugin's DagBag, parsed after the harness's in-process engine configured Airflow.

    A DagBag imports Airflow; imported bare (before any `run_dag`), it makes every later
    `run_dag` of the session fall back to the subprocess engine, a cold Airflow per run (this
    suite's first DagBag user runs second in it). Configured first, they all stay in-process.
    """
    from harness.airflow import in_process
    from harness.airflow.dag_testing import load_dagbag

    in_process._ensure_airflow(str(harness_dags_folder), {})  # what the first run_dag does
    return load_dagbag(harness_dags_folder)

"""Integration scenarios run their PySpark steps on one warm Spark Connect server per session
(`spark_connect_server`): a few seconds a step instead of a cold JVM each time.

Tests marked `cold_spark` keep the default: every step is a cold `spark-submit` subprocess, the
closest to what EMR runs. They are named so (`*_on_cold_spark_submit*`): the pipeline's happy
path end to end, and the emulator's failing-script test; steps that are not PySpark scripts
(run-example, spark-submit inside a shell script) are always cold subprocesses.

The `spark` fixture (reading results back, chispa comparisons) is a Spark Connect session on
that same server: no second JVM for the suite to start.
"""

from __future__ import annotations

import pytest


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
    session.stop()  # the client's session only; the server stops with its fixture


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

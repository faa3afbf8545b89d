"""Integration scenarios run their PySpark steps on one warm Spark Connect server per session
(`spark_connect_server`): a few seconds a step instead of a cold JVM each time.

Tests marked `cold_spark` keep the default: every step is a cold `spark-submit` subprocess, the
closest to what EMR runs. At least one pipeline scenario (the happy path) and the emulator's
Spark step tests stay cold, so that path is always proven.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def harness_step_executor(request: pytest.FixtureRequest):
    if request.node.get_closest_marker("cold_spark"):
        return None
    from harness.emr.connect import ConnectExecutor

    return ConnectExecutor(server=request.getfixturevalue("spark_connect_server"))

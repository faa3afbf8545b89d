"""Fixtures for the DAG tests: an isolated AIRFLOW_HOME, the pipeline DAG and its module."""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[3]
DAG_FILE = REPO / "dags" / "pipeline_emr.py"

# Airflow reads AIRFLOW_HOME once, at import: set it before anything imports airflow, so the
# tests never write into the developer's own ~/airflow. Left alone if the caller set it.
if "airflow" not in sys.modules and "AIRFLOW_HOME" not in os.environ:
    _home = tempfile.mkdtemp(prefix="airflow-home-unit-")
    atexit.register(shutil.rmtree, _home, ignore_errors=True)
    os.environ["AIRFLOW_HOME"] = _home
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


@pytest.fixture(scope="session")
def dag(dagbag):
    """The production DAG `pipeline_emr`, as the scheduler's parser sees it."""
    assert not dagbag.import_errors, dagbag.import_errors
    return dagbag.dags["pipeline_emr"]


def load_dag_module(name: str = "pipeline_emr_under_test") -> ModuleType:
    """Execute dags/pipeline_emr.py as a fresh module (to reach its pure functions)."""
    spec = importlib.util.spec_from_file_location(name, DAG_FILE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve string annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def pipeline() -> ModuleType:
    """The DAG file's module: EmrSettings, job_flow_overrides, spark_steps, constants."""
    return load_dag_module()

"""airflow-emr harness: test Airflow + EMR pipelines offline.

The public API, imported lazily so `import harness` costs nothing until a name is used:

- `EmulatedAWS`: an AWS endpoint on 127.0.0.1 whose EMR really runs steps (harness.endpoint).
- `create_default_roles`: the EMR default roles, as `aws emr create-default-roles` makes them.
- `run_dag`, `DagRunResult`: run a DAG through Airflow's `dag.test()` against the emulator.
- `load_dagbag`, `render_task`, `validate_emr_request`: DAG tests without a scheduler.
- `local_spark_session`: the local[2] SparkSession the `spark` fixture uses.

pytest fixtures (`spark`, `emulated_aws`, `dag_runner`, `dagbag`, ...) come from
`harness.pytest_plugin`, registered on install.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.airflow.dag_runner import DagRunResult, run_dag
    from harness.airflow.dag_testing import load_dagbag, render_task, validate_emr_request
    from harness.emr.roles import create_default_roles
    from harness.endpoint import EmulatedAWS
    from harness.spark import local_spark_session

_LAZY = {
    "EmulatedAWS": "harness.endpoint",
    "create_default_roles": "harness.emr.roles",
    "run_dag": "harness.airflow.dag_runner",
    "DagRunResult": "harness.airflow.dag_runner",
    "load_dagbag": "harness.airflow.dag_testing",
    "render_task": "harness.airflow.dag_testing",
    "validate_emr_request": "harness.airflow.dag_testing",
    "local_spark_session": "harness.spark",
}
__all__ = [
    "DagRunResult",
    "EmulatedAWS",
    "create_default_roles",
    "load_dagbag",
    "local_spark_session",
    "render_task",
    "run_dag",
    "validate_emr_request",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")

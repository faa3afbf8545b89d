"""airflow-emr harness."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["DagRunResult", "EmulatedAWS", "create_default_roles", "run_dag"]

if TYPE_CHECKING:
    from harness.dag_runner import DagRunResult, run_dag
    from harness.emr.roles import create_default_roles
    from harness.endpoint import EmulatedAWS


def __getattr__(name: str) -> Any:
    # Lazy, so `import harness` stays free of boto3/moto until these are used.
    if name == "EmulatedAWS":
        from harness.endpoint import EmulatedAWS

        return EmulatedAWS
    if name == "create_default_roles":
        from harness.emr.roles import create_default_roles

        return create_default_roles
    if name in ("run_dag", "DagRunResult"):
        from harness import dag_runner

        return getattr(dag_runner, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")

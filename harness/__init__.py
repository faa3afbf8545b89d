"""airflow-emr harness."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["EmulatedAWS", "create_default_roles"]

if TYPE_CHECKING:
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
    raise AttributeError(f"module 'harness' has no attribute {name!r}")

"""Richer views of moto's EMR objects: StateChangeReason codes, FailureDetails, timelines.

moto keeps responses apart from models; this module only changes what moto's objects
*show* (their `status`), never what the runtime does. The runtime writes `_emu_*`
attributes on the objects; the properties here read them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["enrich"]

_ENRICHED: dict[type, type] = {}


def enrich(obj: Any) -> None:
    """Give a moto `Cluster` or `Step` the emulator's `status` (in place, idempotent)."""
    base = type(obj)
    if getattr(base, "_emu_enriched", False):
        return
    sub = _ENRICHED.get(base)
    if sub is None:
        from moto.emr.models import Cluster, Step

        if issubclass(base, Cluster):
            # Same class names as moto's: its serializer finds `StepConfig` on a `Step` as
            # `config` (the class name is stripped from the key), so a renamed subclass would
            # silently drop such fields from responses.
            sub = type(base.__name__, (base,), {"status": _cluster_status})
        elif issubclass(base, Step):
            sub = type(base.__name__, (base,), {"status": _step_status})
        else:
            raise TypeError(f"cannot enrich {base!r}")
        setattr(sub, "_emu_enriched", True)  # noqa: B010 - a class made at run time
        _ENRICHED[base] = sub
    obj.__class__ = sub


@property  # type: ignore[misc]
def _cluster_status(self: Any) -> dict[str, Any]:
    timeline = {"CreationDateTime": self.creation_datetime}
    if self.ready_datetime:
        timeline["ReadyDateTime"] = self.ready_datetime
    if self.end_datetime:
        timeline["EndDateTime"] = self.end_datetime
    return {
        "State": self.state,
        "StateChangeReason": dict(getattr(self, "_emu_reason", None) or {}),
        "Timeline": timeline,
    }


@property  # type: ignore[misc]
def _step_status(self: Any) -> dict[str, Any]:
    timeline = {"CreationDateTime": self.creation_date_time}
    if self.start_date_time:
        timeline["StartDateTime"] = self.start_date_time
    if self.end_date_time:
        timeline["EndDateTime"] = self.end_date_time
    status: dict[str, Any] = {"State": self.state, "StateChangeReason": {}, "Timeline": timeline}
    failure = getattr(self, "_emu_failure", None)
    if failure:
        status["FailureDetails"] = dict(failure)
    return status

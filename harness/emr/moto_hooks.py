"""Hooks into moto's EMR backend: the runtime is *told* about every call that changes a
cluster (RunJobFlow, AddJobFlowSteps, TerminateJobFlows, CancelSteps), no polling.

Thin edges: each hook reads the request and delegates to the runtime (see `EmrRuntime.on_*`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.emr.runtime import EmrRuntime

__all__ = ["app_id_of", "install_hooks"]

_APP_ID = re.compile(r"(?:^|\s)app/(\S+)")


def app_id_of(user_agent: str) -> str | None:
    """The `app/<id>` component botocore puts in its User-Agent, if any."""
    match = _APP_ID.search(user_agent or "")
    return match.group(1) if match else None


def install_hooks(runtime: EmrRuntime) -> list[Callable[[], None]]:
    """Patch moto's EMR classes to call `runtime`; return the undo callables (run them in
    reverse order)."""
    from moto.emr import models, responses

    backend_cls = models.ElasticMapReduceBackend
    response_cls = responses.ElasticMapReduceResponse

    orig_run = response_cls.run_job_flow
    orig_add = backend_cls.add_job_flow_steps

    def run_job_flow(resp: Any) -> Any:
        result = orig_run(resp)
        cluster = resp.backend.clusters[result.result["JobFlowId"]]
        runtime.on_cluster_created(cluster, user_agent=resp.headers.get("User-Agent", ""))
        return result

    def add_job_flow_steps(backend: Any, job_flow_id: str, steps: list) -> list:
        return runtime.on_add_steps(backend, job_flow_id, steps, orig_add)

    def terminate_job_flows(backend: Any, job_flow_ids: list[str]) -> list:
        return runtime.on_terminate(backend, job_flow_ids)

    def cancel_steps(resp: Any) -> Any:
        from moto.core.responses import ActionResult

        info = runtime.cancel_steps(
            resp.backend, resp._get_param("ClusterId"), resp._get_param("StepIds", [])
        )
        return ActionResult({"CancelStepsInfoList": info})

    patches = [
        (response_cls, "run_job_flow", run_job_flow),
        (backend_cls, "add_job_flow_steps", add_job_flow_steps),
        (backend_cls, "terminate_job_flows", terminate_job_flows),
        (response_cls, "cancel_steps", cancel_steps),
    ]
    undo: list[Callable[[], None]] = []
    for owner, name, fn in patches:
        missing = object()
        old = owner.__dict__.get(name, missing)
        setattr(owner, name, fn)
        if old is missing:
            undo.append(lambda o=owner, n=name: delattr(o, n))
        else:
            undo.append(lambda o=owner, n=name, f=old: setattr(o, n, f))
    return undo

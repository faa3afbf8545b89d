"""Hooks into moto's EMR backend: the runtime is *told* about every call that changes a
cluster (RunJobFlow, AddJobFlowSteps, TerminateJobFlows, CancelSteps, ModifyCluster,
Put/RemoveAutoTerminationPolicy), no polling; and the few EMR operations and checks moto
lacks (Get/Put/RemoveAutoTerminationPolicy, ListSecurityConfigurations, ExecutionRoleArn on
steps, StepConcurrencyLevel / IdleTimeout bounds, unknown SecurityConfiguration names).

Thin edges: each hook reads the request and delegates to the runtime (see `EmrRuntime.on_*`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from harness.emr.validation import (
    check_auto_termination_policy,
    check_concurrency_level,
    check_security_configuration,
)

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
    orig_add_resp = response_cls.add_job_flow_steps

    def run_job_flow(resp: Any) -> Any:
        # What EMR refuses before it creates anything (moto accepts it all).
        level = resp._get_param("StepConcurrencyLevel")
        if level is not None:
            check_concurrency_level(level)
        check_security_configuration(
            resp._get_param("SecurityConfiguration"), resp.backend.security_configurations
        )
        policy = resp._get_param("AutoTerminationPolicy")
        if policy is not None:
            policy = check_auto_termination_policy(policy)
        result = orig_run(resp)
        cluster = resp.backend.clusters[_answer(result)["JobFlowId"]]
        cluster._emu_auto_termination = policy
        runtime.on_cluster_created(cluster, user_agent=resp.headers.get("User-Agent", ""))
        return result

    def add_job_flow_steps_resp(resp: Any) -> Any:
        result = orig_add_resp(resp)
        role = resp._get_param("ExecutionRoleArn")
        if role:  # EMR keeps it per step (DescribeStep's Step.ExecutionRoleArn)
            cluster = resp.backend.clusters[resp._get_param("JobFlowId")]
            ids = set(_answer(result)["StepIds"])
            for step in cluster.steps:
                if step.id in ids:
                    step.execution_role_arn = role
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

    def modify_cluster(resp: Any) -> Any:
        from moto.core.responses import ActionResult

        level = runtime.on_modify_cluster(
            resp.backend, resp._get_param("ClusterId"), resp._get_param("StepConcurrencyLevel")
        )
        return ActionResult({"StepConcurrencyLevel": level})

    def put_auto_termination_policy(resp: Any) -> Any:
        from moto.core.responses import EmptyResult

        policy = resp._get_param("AutoTerminationPolicy") or {}
        runtime.on_auto_termination_policy(resp.backend, resp._get_param("ClusterId"), policy)
        return EmptyResult()

    def remove_auto_termination_policy(resp: Any) -> Any:
        from moto.core.responses import EmptyResult

        runtime.on_auto_termination_policy(resp.backend, resp._get_param("ClusterId"), None)
        return EmptyResult()

    def get_auto_termination_policy(resp: Any) -> Any:
        from moto.core.responses import ActionResult

        cluster = resp.backend.describe_cluster(resp._get_param("ClusterId"))
        policy = getattr(cluster, "_emu_auto_termination", None)
        return ActionResult({"AutoTerminationPolicy": policy} if policy else {})

    def list_security_configurations(resp: Any) -> Any:
        from moto.core.responses import ActionResult

        configs = sorted(
            resp.backend.security_configurations.values(), key=lambda c: c.creation_date_time
        )
        return ActionResult(
            {
                "SecurityConfigurations": [
                    {"Name": c.name, "CreationDateTime": c.creation_date_time} for c in configs
                ]
            }
        )

    patches = [
        (response_cls, "run_job_flow", run_job_flow),
        (response_cls, "add_job_flow_steps", add_job_flow_steps_resp),
        (backend_cls, "add_job_flow_steps", add_job_flow_steps),
        (backend_cls, "terminate_job_flows", terminate_job_flows),
        (response_cls, "cancel_steps", cancel_steps),
        (response_cls, "modify_cluster", modify_cluster),
        (response_cls, "put_auto_termination_policy", put_auto_termination_policy),
        (response_cls, "get_auto_termination_policy", get_auto_termination_policy),
        (response_cls, "remove_auto_termination_policy", remove_auto_termination_policy),
        (response_cls, "list_security_configurations", list_security_configurations),
    ]
    undo: list[Callable[[], None]] = []
    for owner, name, fn in patches:
        missing = object()
        old = owner.__dict__.get(name, missing)
        setattr(owner, name, fn)
        undo.append(_restorer(owner, name, None if old is missing else old))
    return undo


def _restorer(owner: type, name: str, old: Any) -> Callable[[], None]:
    """Undo one patch: put the old attribute back, or remove ours if there was none."""

    def undo() -> None:
        if old is None:
            delattr(owner, name)
        else:
            setattr(owner, name, old)

    return undo


def _answer(result: Any) -> dict[str, Any]:
    """The fields of a moto ActionResult (typed `object` there; a dict for these calls)."""
    answer = result.result
    if not isinstance(answer, dict):
        raise TypeError(f"unexpected moto answer {answer!r}")
    return answer

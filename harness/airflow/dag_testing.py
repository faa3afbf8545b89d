"""Test helpers for Airflow 3 DAGs: load a DagBag, check integrity, render a task's templates with
a fake context, and validate the EMR requests a rendered task will send against botocore's model.

No scheduler, no metadata DB, no network: Variables and XComs come from dicts you pass in.

    from harness.airflow.dag_testing import (load_dagbag, render_task, emr_request,
                                             validate_emr_request)

    dag = load_dagbag("dags").dags["my_dag"]
    task = render_task(dag, "create_cluster", variables={"emr_bucket_name": "my-bucket"})
    validate_emr_request(*emr_request(task))   # raises EmrRequestError listing every problem

Airflow is imported lazily, so importing this module is cheap.
"""

from __future__ import annotations

import copy
import graphlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import DAG, BaseOperator, Context

__all__ = [
    "EmrRequestError",
    "MissingXComError",
    "MissingVariableError",
    "load_dagbag",
    "dag_problems",
    "render_task",
    "rendered_fields",
    "emr_request",
    "validate_emr_request",
]

_NOTSET = object()
RETURN_VALUE = "return_value"


class MissingXComError(LookupError):
    """A template pulled an XCom the test did not provide (names the task id and key)."""


class MissingVariableError(LookupError):
    """A template read a Variable with no default that the test did not provide."""


class EmrRequestError(ValueError):
    """An EMR request body that botocore would reject before it ever reached AWS."""

    def __init__(self, operation: str, report: str) -> None:
        self.operation = operation
        self.report = report
        super().__init__(
            f"{operation} request does not match botocore's EMR service model:\n{report}\n"
            "hint: check key spelling and types against "
            f"https://docs.aws.amazon.com/emr/latest/APIReference/API_{operation}.html"
        )


# --------------------------------------------------------------------------- loading & integrity


def load_dagbag(dags_folder: str | Path = "dags") -> DagBag:
    """Parse every DAG file under ``dags_folder`` (relative to the current directory by default).

    Parse failures land in ``dagbag.import_errors`` (file -> traceback), as in the scheduler.
    ``safe_mode=False`` so files are parsed even when they do not mention "airflow" and "dag".
    """
    from airflow.dag_processing.dagbag import DagBag

    folder = Path(dags_folder).resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"DAG folder {folder} does not exist")
    return DagBag(dag_folder=str(folder), safe_mode=False)


def dag_problems(
    dag: DAG,
    *,
    require_tags: bool = True,
    require_doc: bool = True,
    require_owner: bool = True,
    require_explicit_retries: bool = True,
) -> list[str]:
    """Integrity problems of one DAG, as readable strings (empty list: none found).

    Checks: no cycle; tags; a doc (``doc_md`` or description); every task owned by someone
    other than Airflow's default "airflow"; every task with a retries value set by the author
    (``default_args`` or the task), not inherited from Airflow's configuration.
    """
    problems: list[str] = []
    graph = {t.task_id: set(t.upstream_task_ids) for t in dag.tasks}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as e:
        problems.append(f"{dag.dag_id}: cycle between tasks {e.args[1]}")
    if require_tags and not dag.tags:
        problems.append(f"{dag.dag_id}: no tags")
    if require_doc and not (dag.doc_md or dag.description):
        problems.append(f"{dag.dag_id}: no doc_md or description")
    for task in dag.tasks:
        if require_owner and (not task.owner or task.owner == "airflow"):
            problems.append(f"{dag.dag_id}.{task.task_id}: owner is {task.owner!r} (the default)")
        # The operator's init kwargs include what default_args supplied.
        init_kwargs = getattr(task, "_BaseOperator__init_kwargs", {})
        if require_explicit_retries and "retries" not in init_kwargs:
            problems.append(f"{dag.dag_id}.{task.task_id}: retries not set by the DAG's author")
    return problems


# --------------------------------------------------------------------------- fake context


class _FakeVariables:
    """Stands in for Airflow's ``var.value`` / ``var.json`` accessors, backed by a dict.

    Values are stored as Airflow stores them, strings: non-string values are JSON-encoded
    (3 -> "3", True -> "true"), so a test cannot pass an int where production gets a string.
    """

    def __init__(self, variables: Mapping[str, Any], *, deserialize_json: bool) -> None:
        self._values = {k: v if isinstance(v, str) else json.dumps(v) for k, v in variables.items()}
        self._json = deserialize_json

    def _read(self, key: str) -> Any:
        value = self._values[key]
        return json.loads(value) if self._json else value

    def get(self, key: str, default: Any = _NOTSET) -> Any:
        if key in self._values:
            return self._read(key)
        if default is _NOTSET:
            raise MissingVariableError(
                f"Variable {key!r} is not set and the template gave no default; "
                f"pass variables={{{key!r}: ...}} (set: {sorted(self._values)})"
            )
        return default

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        return self.get(key)


class _FakeTaskInstance:
    """Just enough of a TaskInstance for templates and XComArgs: ``xcom_pull`` from a dict."""

    def __init__(self, task: BaseOperator, run_id: str, xcoms: Mapping[Any, Any], strict: bool):
        self.task = task
        self.task_id = task.task_id
        self.dag_id = task.dag_id
        self.run_id = run_id
        self.try_number = 1
        self.map_index = -1
        self._xcoms = dict(xcoms)
        self._strict = strict
        self.pushed: dict[str, Any] = {}

    def _one(self, task_id: str, key: str, default: Any) -> Any:
        dag = self.task.dag
        if dag is not None and task_id not in dag.task_dict:
            raise MissingXComError(
                f"xcom_pull(task_ids={task_id!r}) names a task that is not in DAG "
                f"{dag.dag_id!r} (tasks: {sorted(dag.task_dict)})"
            )
        lookups: list[Any] = [(task_id, key)]
        if key == RETURN_VALUE:
            lookups.append(task_id)  # the {task_id: value} shorthand
        for lookup in lookups:
            if lookup in self._xcoms:
                return self._xcoms[lookup]
        if not self._strict:
            return None if default is _NOTSET else default
        provided = [k if isinstance(k, str) else f"{k[0]}:{k[1]}" for k in self._xcoms]
        raise MissingXComError(
            f"task {self.task_id!r} pulls XCom key={key!r} from task_id={task_id!r}, but the test "
            f"provided none; pass xcoms={{{task_id!r}: <value>}}"
            + (f" or xcoms={{({task_id!r}, {key!r}): <value>}}" if key != RETURN_VALUE else "")
            + f" (provided: {provided or 'nothing'})"
        )

    def xcom_pull(
        self,
        task_ids: str | list[str] | None = None,
        dag_id: str | None = None,
        key: str = RETURN_VALUE,
        include_prior_dates: bool = False,
        *,
        map_indexes: Any = None,
        default: Any = _NOTSET,
        run_id: str | None = None,
    ) -> Any:
        if task_ids is None:
            raise MissingXComError(
                f"task {self.task_id!r} calls xcom_pull without task_ids; the fake context only "
                "serves XComs of named tasks"
            )
        if isinstance(task_ids, str):
            return self._one(task_ids, key, default)
        return [self._one(t, key, default) for t in task_ids]

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value

    def get_relevant_upstream_map_indexes(self, *args: Any, **kwargs: Any) -> None:
        return None  # unmapped tasks only


def _build_context(
    dag: DAG,
    task: BaseOperator,
    *,
    xcoms: Mapping[Any, Any],
    variables: Mapping[str, Any],
    params: Mapping[str, Any],
    logical_date: datetime,
    strict_xcoms: bool,
) -> dict[str, Any]:
    from airflow.sdk.definitions.param import ParamsDict

    run_id = f"manual__{logical_date.isoformat()}"
    ti = _FakeTaskInstance(task, run_id, xcoms, strict_xcoms)
    merged = ParamsDict(copy.deepcopy(dag.params))
    merged.update(params)
    ds = logical_date.strftime("%Y-%m-%d")
    interval_end = logical_date + timedelta(days=1)
    dag_run = SimpleNamespace(
        dag_id=dag.dag_id,
        run_id=run_id,
        logical_date=logical_date,
        conf={},
        run_type="manual",
        data_interval_start=logical_date,
        data_interval_end=interval_end,
    )
    return {
        "dag": dag,
        "task": task,
        "ti": ti,
        "task_instance": ti,
        "run_id": run_id,
        "dag_run": dag_run,
        "params": merged.dump() if hasattr(merged, "dump") else dict(merged),
        "var": {
            "value": _FakeVariables(variables, deserialize_json=False),
            "json": _FakeVariables(variables, deserialize_json=True),
        },
        "logical_date": logical_date,
        "data_interval_start": logical_date,
        "data_interval_end": interval_end,
        "ds": ds,
        "ds_nodash": ds.replace("-", ""),
        "ts": logical_date.isoformat(),
        "ts_nodash": logical_date.strftime("%Y%m%dT%H%M%S"),
        "macros": _macros(),
        "conf": None,
        "test_mode": True,
    }


def _macros() -> Any:
    try:
        from airflow.sdk.execution_time import macros
    except ImportError:  # pragma: no cover - older task SDKs
        return SimpleNamespace()
    return macros


# --------------------------------------------------------------------------- rendering


def render_task(
    dag: DAG,
    task_id: str,
    *,
    xcoms: Mapping[Any, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    logical_date: datetime | None = None,
    strict_xcoms: bool = True,
) -> BaseOperator:
    """Render every templated field of ``dag``'s task ``task_id``; return a rendered *copy*.

    - ``xcoms``: ``{task_id: value}`` for ``return_value`` XComs, ``{(task_id, key): value}``
      for others. A pulled XCom that is missing raises ``MissingXComError`` naming the task and
      key (``strict_xcoms=False`` returns None instead, as Airflow does).
    - ``variables``: what ``var.value`` / ``var.json`` see. A Variable read without a default
      that is absent raises ``MissingVariableError``; with a default, the default is used.
    - ``params``: overrides on top of the DAG's params. ``logical_date``: default 2025-01-01 UTC.

    The DAG's own Jinja environment is used (macros, filters, StrictUndefined, native
    rendering per task), so what renders here renders the same way in Airflow.

    A mapped task (``.partial().expand()``) raises TypeError: its fields are per map index.
    """
    from airflow.sdk import BaseOperator

    original = dag.get_task(task_id)
    if not isinstance(original, BaseOperator):
        raise TypeError(
            f"render_task: task {task_id!r} of DAG {dag.dag_id!r} is a mapped task "
            f"({type(original).__name__}, from .partial().expand()); render_task renders plain "
            "tasks only: test the operator built with one set of the expanded arguments"
        )
    task = copy.copy(original)
    # Template fields are rendered in place: give the copy its own values so the DAG's task
    # keeps its templates (render_task can be called again on the same DAG).
    for field in task.template_fields:
        setattr(task, field, copy.deepcopy(getattr(original, field)))
    context = _build_context(
        dag,
        task,
        xcoms=xcoms or {},
        variables=variables or {},
        params=params or {},
        logical_date=logical_date or datetime(2025, 1, 1, tzinfo=UTC),
        strict_xcoms=strict_xcoms,
    )
    # The context's ti, dag_run and var are test doubles, not Airflow's types.
    task.render_template_fields(cast("Context", context))
    return task


def rendered_fields(task: BaseOperator) -> dict[str, Any]:
    """``{field: value}`` for every templated field of a (rendered) task."""
    return {field: getattr(task, field) for field in task.template_fields}


# --------------------------------------------------------------------------- EMR requests


def emr_request(task: BaseOperator) -> tuple[str, dict[str, Any]]:
    """The (operation, request body) a *rendered* amazon-provider EMR task sends to the EMR API.

    Supported: EmrCreateJobFlowOperator (run_job_flow, with ``emr_conn_id=None``: the body is
    exactly ``job_flow_overrides``), EmrAddStepsOperator (add_job_flow_steps), EmrStepSensor
    (describe_step), EmrTerminateJobFlowOperator (terminate_job_flows).
    """
    import ast

    from airflow.providers.amazon.aws.operators.emr import (
        EmrAddStepsOperator,
        EmrCreateJobFlowOperator,
        EmrTerminateJobFlowOperator,
    )
    from airflow.providers.amazon.aws.sensors.emr import EmrStepSensor

    def literal(value: Any) -> Any:  # the provider literal_evals string bodies the same way
        return ast.literal_eval(value) if isinstance(value, str) else value

    if isinstance(task, EmrCreateJobFlowOperator):
        if task.emr_conn_id:
            raise ValueError(
                f"{task.task_id}: emr_conn_id={task.emr_conn_id!r} merges a connection's extra "
                "into the request at run time; set emr_conn_id=None to validate the full body"
            )
        return "run_job_flow", dict(literal(task.job_flow_overrides))
    if isinstance(task, EmrAddStepsOperator):
        body = {"JobFlowId": task.job_flow_id, "Steps": literal(task.steps)}
        if getattr(task, "execution_role_arn", None):
            body["ExecutionRoleArn"] = task.execution_role_arn
        return "add_job_flow_steps", body
    if isinstance(task, EmrStepSensor):
        return "describe_step", {"ClusterId": task.job_flow_id, "StepId": task.step_id}
    if isinstance(task, EmrTerminateJobFlowOperator):
        return "terminate_job_flows", {"JobFlowIds": [task.job_flow_id]}
    raise TypeError(f"{task.task_id}: no EMR request known for {type(task).__name__}")


def validate_emr_request(operation: str, params: Mapping[str, Any]) -> None:
    """Validate an EMR request body with botocore's own ParamValidator (what boto3 runs first).

    ``operation``: ``"run_job_flow"`` or ``"RunJobFlow"``. Raises ``EmrRequestError`` listing
    every problem (unknown keys with the allowed ones, missing required keys, wrong types).
    Offline: botocore reads its bundled service model; no credentials needed.
    """
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("emr")
    names = {_snake(n): n for n in model.operation_names}
    api_name = operation if operation in model.operation_names else names.get(operation)
    if api_name is None:
        raise ValueError(f"EMR has no operation {operation!r}")
    shape = model.operation_model(api_name).input_shape
    if shape is None:  # botocore's model: an operation without a request body
        raise ValueError(f"EMR operation {api_name} takes no parameters")
    report = ParamValidator().validate(dict(params), shape)
    if report.has_errors():
        raise EmrRequestError(api_name, report.generate_report())


def _snake(name: str) -> str:
    from botocore import xform_name

    return xform_name(name)

"""harness.airflow.dag_testing on small synthetic DAGs: the helpers work for any DAG, and can
fail."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from airflow.sdk import DAG, BaseOperator

from harness.airflow.dag_testing import (
    MissingVariableError,
    MissingXComError,
    dag_problems,
    load_dagbag,
    render_task,
    rendered_fields,
)


class Echo(BaseOperator):
    template_fields = ("value",)

    def __init__(self, *, value, **kwargs):
        super().__init__(**kwargs)
        self.value = value

    def execute(self, context):
        return self.value


def make_dag(**dag_kwargs) -> DAG:
    with DAG(dag_id="synthetic", schedule=None, params={"env": "dev"}, **dag_kwargs) as dag:
        first = Echo(task_id="first", value="x", retries=1, owner="me")
        Echo(
            task_id="templated",
            value={
                "date": "{{ ds }}",
                "env": "{{ params.env }}",
                "cfg": "{{ var.json.cfg.size }}",
                "fallback": "{{ var.value.get('absent', 'dflt') }}",
                "other": "{{ ti.xcom_pull(task_ids='first', key='extra') }}",
            },
            retries=1,
            owner="me",
        )
        Echo(task_id="from_arg", value=first.output, retries=1, owner="me")
    return dag


def test_context_values_params_variables_and_keyed_xcoms():
    task = render_task(
        make_dag(),
        "templated",
        variables={"cfg": {"size": 3}},
        params={"env": "prod"},
        xcoms={("first", "extra"): "E"},
        logical_date=datetime(2024, 2, 29, tzinfo=UTC),
    )
    assert rendered_fields(task) == {
        "value": {"date": "2024-02-29", "env": "prod", "cfg": "3", "fallback": "dflt", "other": "E"}
    }


def test_xcomarg_fields_resolve_from_the_fake_xcoms():
    assert render_task(make_dag(), "from_arg", xcoms={"first": [1, 2]}).value == [1, 2]


def test_variable_without_default_must_be_provided():
    with pytest.raises(MissingVariableError, match="Variable 'cfg' is not set"):
        render_task(make_dag(), "templated", xcoms={("first", "extra"): "E"})


def test_keyed_xcom_missing_names_task_and_key():
    expected = r"key='extra' from task_id='first'.*\('first', 'extra'\)"
    with pytest.raises(MissingXComError, match=expected):
        render_task(make_dag(), "templated", variables={"cfg": {"size": 1}})


def test_non_strict_xcoms_return_none_like_airflow():
    task = render_task(make_dag(), "templated", variables={"cfg": {"size": 1}}, strict_xcoms=False)
    assert task.value["other"] == "None"


def test_pulling_from_a_task_not_in_the_dag_is_reported():
    with DAG(dag_id="typo", schedule=None) as dag:
        Echo(task_id="t", value="{{ ti.xcom_pull(task_ids='criar_clustr') }}")
    with pytest.raises(MissingXComError, match="'criar_clustr'.* not in DAG 'typo'"):
        render_task(dag, "t", xcoms={"criar_clustr": "j-1"})


def test_a_mapped_task_is_refused_with_a_reason():
    # Found by mypy (dag.get_task can return a MappedOperator): it used to fail with
    # "AttributeError: 'MappedOperator' object has no attribute 'value'".
    with DAG(dag_id="mapped", schedule=None) as dag:
        Echo.partial(task_id="each").expand(value=["{{ ds }}", "b"])
    with pytest.raises(TypeError, match=r"task 'each' of DAG 'mapped' is a mapped task"):
        render_task(dag, "each")


def test_dag_problems_lists_missing_tags_doc_owner_retries():
    with DAG(dag_id="sloppy", schedule=None) as dag:
        Echo(task_id="t", value="v")
    assert dag_problems(dag) == [
        "sloppy: no tags",
        "sloppy: no doc_md or description",
        "sloppy.t: owner is 'airflow' (the default)",
        "sloppy.t: retries not set by the DAG's author",
    ]
    assert dag_problems(make_dag(tags=["t"], description="d")) == []


def test_dag_problems_finds_a_cycle():
    dag = make_dag(tags=["t"], description="d")
    # Wire a cycle behind the DAG's back (the SDK refuses it through >>).
    dag.task_dict["first"].upstream_task_ids.add("from_arg")
    assert any("cycle between tasks" in p for p in dag_problems(dag))


def test_load_dagbag_reports_import_errors(tmp_path):
    (tmp_path / "broken.py").write_text("from airflow.sdk import DAG\nraise RuntimeError('boom')\n")
    bag = load_dagbag(tmp_path)
    assert list(bag.import_errors) and "boom" in next(iter(bag.import_errors.values()))


def test_load_dagbag_missing_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dagbag(tmp_path / "nope")

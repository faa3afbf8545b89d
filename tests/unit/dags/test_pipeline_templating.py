"""Every templated field of pipeline_emr rendered with a fake context, values asserted."""

from __future__ import annotations

import pytest

from harness.airflow.dag_testing import MissingXComError, render_task, rendered_fields

XCOMS = {"criar_cluster_emr": "j-FAKECLUSTER", "adicionar_steps_spark": ["s-FIRST", "s-SECOND"]}
SEED_ARGS = [
    "spark-submit",
    "--deploy-mode",
    "cluster",
    "s3://{b}/scripts/processar_vendas.py",
    "s3://{b}/input/dados_vendas.csv",
    "s3://{b}/output/vendas_processadas/",
]


def render_all(dag, **kwargs):
    return {t: render_task(dag, t, xcoms=XCOMS, **kwargs) for t in dag.task_ids}


def walk_strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from walk_strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from walk_strings(v)


def test_every_templated_field_renders_to_a_plain_value(dag):
    for task_id, task in render_all(dag).items():
        for field, value in rendered_fields(task).items():
            for text in walk_strings(value):
                assert "{{" not in text and "{%" not in text, (task_id, field, text)


def test_rendering_leaves_the_dag_templates_intact(dag):
    render_task(dag, "criar_cluster_emr")
    assert dag.get_task("criar_cluster_emr").job_flow_overrides.startswith("{{")


def test_ids_are_pulled_from_the_upstream_tasks(dag):
    tasks = render_all(dag)
    for task_id in ("adicionar_steps_spark", "aguardar_step_spark", "terminar_cluster_emr"):
        assert tasks[task_id].job_flow_id == "j-FAKECLUSTER", task_id
    # the first element of the list adicionar_steps_spark returns
    assert tasks["aguardar_step_spark"].step_id == "s-FIRST"


def test_defaults_when_no_variable_is_set(dag):
    tasks = render_all(dag, variables={})
    b = "airflow-emr-local"
    assert tasks["validar_entrada"].bucket_key == f"s3://{b}/input/dados_vendas.csv"
    assert tasks["validar_entrada"].bucket_name is None  # the key is a full s3:// URL
    spec = tasks["criar_cluster_emr"].job_flow_overrides
    assert spec["ReleaseLabel"] == "emr-6.15.0"
    assert spec["LogUri"] == f"s3://{b}/logs/"
    groups = {g["InstanceRole"]: g for g in spec["Instances"]["InstanceGroups"]}
    assert groups["MASTER"]["InstanceCount"] == 1
    assert groups["CORE"]["InstanceCount"] == 2
    assert {g["InstanceType"] for g in groups.values()} == {"m5.xlarge"}
    assert {g["Market"] for g in groups.values()} == {"ON_DEMAND"}
    (step,) = tasks["adicionar_steps_spark"].steps
    assert step["HadoopJarStep"]["Args"] == [a.format(b=b) for a in SEED_ARGS]
    assert step["ActionOnFailure"] == "CONTINUE"  # the teardown owns termination


def test_s3_paths_follow_the_bucket_variable(dag):
    tasks = render_all(dag, variables={"emr_bucket_name": "meu-bucket-emr-aluno"})
    urls = [
        s
        for task in tasks.values()
        for value in rendered_fields(task).values()
        for s in walk_strings(value)
        if s.startswith("s3://")
    ]
    assert len(urls) == 5  # input sensor, LogUri, script, input, output
    assert all(u.startswith("s3://meu-bucket-emr-aluno/") for u in urls), urls


def test_paths_release_and_instances_follow_their_variables(dag):
    variables = {
        "emr_release_label": "emr-7.10.0",
        "emr_instance_type": "m6g.2xlarge",
        "emr_instance_count": "5",  # Airflow Variables are strings
        "emr_input_key": "/landing/vendas.csv",
        "emr_script_key": "jobs/v2/processar_vendas.py",
        "emr_output_prefix": "curated/vendas",
    }
    tasks = render_all(dag, variables=variables)
    spec = tasks["criar_cluster_emr"].job_flow_overrides
    assert spec["ReleaseLabel"] == "emr-7.10.0"
    core = spec["Instances"]["InstanceGroups"][1]
    assert core["InstanceType"] == "m6g.2xlarge"
    assert core["InstanceCount"] == 5 and type(core["InstanceCount"]) is int
    args = tasks["adicionar_steps_spark"].steps[0]["HadoopJarStep"]["Args"]
    assert args[3:] == [
        "s3://airflow-emr-local/jobs/v2/processar_vendas.py",
        "s3://airflow-emr-local/landing/vendas.csv",
        "s3://airflow-emr-local/curated/vendas/",
    ]
    assert tasks["validar_entrada"].bucket_key == "s3://airflow-emr-local/landing/vendas.csv"


def test_instance_count_reaches_the_request_as_an_int(dag):
    task = render_task(dag, "criar_cluster_emr", variables={"emr_instance_count": "3"})
    counts = [g["InstanceCount"] for g in task.job_flow_overrides["Instances"]["InstanceGroups"]]
    assert counts == [1, 3]
    assert all(type(c) is int for c in counts)


def test_spot_variable_switches_the_workers_to_spot(dag):
    task = render_task(
        dag, "criar_cluster_emr", variables={"emr_use_spot": "true", "emr_spot_bid_price": "0.10"}
    )
    master, core = task.job_flow_overrides["Instances"]["InstanceGroups"]
    assert core["Market"] == "SPOT" and core["BidPrice"] == "0.10"
    assert master["Market"] == "ON_DEMAND" and "BidPrice" not in master


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"emr_instance_count": "two"}, "emr_instance_count='two'"),
        ({"emr_instance_count": "0"}, "emr_instance_count='0'"),
        ({"emr_use_spot": "maybe"}, "emr_use_spot='maybe'"),
        ({"emr_use_spot": "true", "emr_spot_bid_price": "cheap"}, "emr_spot_bid_price='cheap'"),
    ],
)
def test_bad_variable_values_fail_rendering_naming_the_variable(dag, variables, message):
    with pytest.raises(ValueError, match=message):
        render_task(dag, "criar_cluster_emr", variables=variables)


def test_missing_cluster_id_xcom_is_a_clear_error(dag):
    with pytest.raises(MissingXComError) as err:
        render_task(dag, "terminar_cluster_emr", xcoms={})
    assert str(err.value) == (
        "task 'terminar_cluster_emr' pulls XCom key='return_value' from "
        "task_id='criar_cluster_emr', but the test provided none; pass "
        "xcoms={'criar_cluster_emr': <value>} (provided: nothing)"
    )


def test_missing_step_id_xcom_names_the_step_task(dag):
    with pytest.raises(MissingXComError, match="task_id='adicionar_steps_spark'"):
        render_task(dag, "aguardar_step_spark", xcoms={"criar_cluster_emr": "j-1"})


@pytest.mark.parametrize("task_id",
                         ["validar_entrada", "criar_cluster_emr", "adicionar_steps_spark"])
def test_a_bad_setting_fails_without_retry(dag, task_id):
    # Airflow 3's task runner maps AirflowFailException (raised while rendering, too) straight to
    # FAILED: a Variable that cannot parse does not heal on a retry.
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match="emr_instance_count='abc'"):
        render_task(dag, task_id, variables={"emr_instance_count": "abc"},
                    xcoms={"criar_cluster_emr": "j-1"})

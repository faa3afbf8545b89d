"""The requests pipeline_emr sends, validated with botocore's own EMR parameter validation."""

from __future__ import annotations

import copy

import pytest

from harness.airflow.dag_testing import (
    EmrRequestError,
    emr_request,
    render_task,
    validate_emr_request,
)

XCOMS = {"criar_cluster_emr": "j-FAKECLUSTER", "adicionar_steps_spark": ["s-FIRST"]}
EMR_TASKS = {
    "criar_cluster_emr": "run_job_flow",
    "adicionar_steps_spark": "add_job_flow_steps",
    "aguardar_step_spark": "describe_step",
    "terminar_cluster_emr": "terminate_job_flows",
}
SETTINGS = [
    pytest.param({}, id="defaults"),
    pytest.param({"emr_use_spot": "true"}, id="spot"),
    pytest.param({"emr_use_spot": "true", "emr_spot_bid_price": "0.10"}, id="spot-bid"),
    pytest.param({"emr_instance_count": "10", "emr_release_label": "emr-7.10.0"}, id="custom"),
    pytest.param({"emr_tags": '{"airflow-emr:run-id": "ab12cd34"}'}, id="tags"),
]


@pytest.mark.parametrize("variables", SETTINGS)
@pytest.mark.parametrize("task_id", list(EMR_TASKS))
def test_rendered_requests_are_valid_for_botocore(dag, task_id, variables):
    operation, body = emr_request(render_task(dag, task_id, xcoms=XCOMS, variables=variables))
    assert operation == EMR_TASKS[task_id]
    validate_emr_request(operation, body)  # raises EmrRequestError listing every problem


def test_request_bodies_carry_the_pulled_ids(dag):
    bodies = {t: emr_request(render_task(dag, t, xcoms=XCOMS))[1] for t in EMR_TASKS}
    assert bodies["adicionar_steps_spark"]["JobFlowId"] == "j-FAKECLUSTER"
    assert bodies["aguardar_step_spark"] == {"ClusterId": "j-FAKECLUSTER", "StepId": "s-FIRST"}
    assert bodies["terminar_cluster_emr"] == {"JobFlowIds": ["j-FAKECLUSTER"]}


def test_a_mistyped_key_in_the_cluster_spec_fails_clearly(dag):
    _, spec = emr_request(render_task(dag, "criar_cluster_emr"))
    broken = copy.deepcopy(spec)
    core = broken["Instances"]["InstanceGroups"][1]
    core["InstanceCont"] = core.pop("InstanceCount")
    with pytest.raises(EmrRequestError) as err:
        validate_emr_request("run_job_flow", broken)
    message = str(err.value)
    assert message.startswith("RunJobFlow request does not match botocore's EMR service model:")
    assert 'Missing required parameter in Instances.InstanceGroups[1]: "InstanceCount"' in message
    assert 'Unknown parameter in Instances.InstanceGroups[1]: "InstanceCont"' in message
    assert "API_RunJobFlow.html" in message


def test_a_string_instance_count_is_rejected(dag):
    """What the seed's Jinja-rendered InstanceCount would have sent."""
    _, spec = emr_request(render_task(dag, "criar_cluster_emr"))
    spec["Instances"]["InstanceGroups"][1]["InstanceCount"] = "2"
    with pytest.raises(EmrRequestError, match=r"Invalid type for parameter .*InstanceCount"):
        validate_emr_request("RunJobFlow", spec)


def test_a_broken_step_fails_clearly(dag):
    _, body = emr_request(render_task(dag, "adicionar_steps_spark", xcoms=XCOMS))
    del body["Steps"][0]["HadoopJarStep"]["Jar"]
    body["Steps"][0]["ActionOnFailure"] = 1
    with pytest.raises(EmrRequestError) as err:
        validate_emr_request("add_job_flow_steps", body)
    assert 'Missing required parameter in Steps[0].HadoopJarStep: "Jar"' in str(err.value)
    assert "Invalid type for parameter Steps[0].ActionOnFailure" in str(err.value)


def test_unknown_operation_is_rejected():
    with pytest.raises(ValueError, match="EMR has no operation 'run_jobflow'"):
        validate_emr_request("run_jobflow", {})


def test_non_emr_task_has_no_emr_request(dag):
    with pytest.raises(TypeError, match="validar_entrada: no EMR request known for S3KeySensor"):
        emr_request(render_task(dag, "validar_entrada"))

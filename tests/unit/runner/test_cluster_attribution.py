"""Which clusters a run created: by the run's User-Agent app id, never by a time window.

No Airflow here: the attribution is exercised with the emulator and plain boto3 clients that
play the run's (tagged through `AWS_SDK_UA_APP_ID`, as `run_dag` tags its runs) and others'.
"""

from __future__ import annotations

import pytest
from botocore.config import Config

from harness.airflow import environment, inspection
from harness.airflow.dag_runner import DagRunResult, RunAttribution

INSTANCES = {"MasterInstanceType": "m5.xlarge", "InstanceCount": 1,
             "KeepJobFlowAliveWhenNoSteps": True}  # fmt: skip


def _spec(url: str) -> environment.RunSpec:
    spec, _, _ = environment._spec("some_dag", ".", url)
    return spec


def _create(emr, name: str) -> str:
    return emr.run_job_flow(Name=name, ReleaseLabel="emr-7.1.0", Instances=INSTANCES,
                            JobFlowRole="r", ServiceRole="r")["JobFlowId"]  # fmt: skip


def _claimed(aws, owner: RunAttribution, url: str) -> list[str]:
    result = DagRunResult(dag_id="d", run_id="r", state="success", task_states={}, durations={},
                          xcoms={})  # fmt: skip
    inspection._inspect_emr(aws, url, aws.region if hasattr(aws, "region") else "us-east-1",
                            owner, result)  # fmt: skip
    return sorted(c["name"] for c in result.clusters)


@pytest.fixture
def aws(tmp_path):
    from harness.endpoint import EmulatedAWS

    with EmulatedAWS(workdir=tmp_path, load_managed_policies=False) as aws:
        yield aws


def test_run_tag_reaches_the_runtime_even_with_an_explicit_botocore_config(aws, monkeypatch):
    spec = _spec(aws.url)
    owner = inspection._attribution(spec, aws, aws.url, "us-east-1")
    assert owner.app_id and owner.app_id.startswith(inspection.RUN_APP_ID_PREFIX)
    assert spec.extra_env["AWS_SDK_UA_APP_ID"] == owner.app_id
    outsider = aws.client("emr")  # created before the run's environment applies
    _create(outsider, "before-the-run")
    monkeypatch.setenv("AWS_SDK_UA_APP_ID", spec.extra_env["AWS_SDK_UA_APP_ID"])
    # the DAG's operators pass their own botocore Config (which drops a connection's
    # config_kwargs): the app id from the environment must survive it
    run_client = aws.client("emr", config=Config(retries={"max_attempts": 2}))
    monkeypatch.delenv("AWS_SDK_UA_APP_ID")
    _create(run_client, "the-run's")
    _create(outsider, "during-the-run")
    [mine] = aws.runtime.clusters(app_id=owner.app_id)
    assert mine.moto.name == "the-run's"
    assert _claimed(aws, owner, aws.url) == ["the-run's"]


def test_back_to_back_runs_claim_only_their_own_clusters(aws, monkeypatch):
    claimed = []
    for name in ("first", "second"):
        spec = _spec(aws.url)
        owner = inspection._attribution(spec, aws, aws.url, "us-east-1")
        monkeypatch.setenv("AWS_SDK_UA_APP_ID", spec.extra_env["AWS_SDK_UA_APP_ID"])
        _create(aws.client("emr"), name)
        monkeypatch.delenv("AWS_SDK_UA_APP_ID")
        claimed.append((owner, name))
    # both runs end within the same second: a CreatedAfter window claimed both clusters twice
    for owner, name in claimed:
        assert _claimed(aws, owner, aws.url) == [name]


def test_other_endpoints_use_the_clusters_listed_before_the_run(aws):
    emr = aws.client("emr")
    _create(emr, "older")  # a second ago, say: inside the old one-second window
    spec = _spec(aws.url)
    owner = inspection._attribution(spec, aws.url, aws.url, "us-east-1")  # a URL: no runtime
    assert owner.before is not None and len(owner.before) == 1
    _create(emr, "the run's")
    assert _claimed(aws.url, owner, aws.url) == ["the run's"]


def test_user_agent_app_id_parsing():
    from harness.emr.runtime import app_id_of

    ua = ("Boto3/1.40.0 md/Botocore#1.40.0 ua/2.1 os/linux lang/python#3.11.7 "
          "app/harness-run-0123456789ab cfg/retry-mode#legacy Airflow/3.3.0")  # fmt: skip
    assert app_id_of(ua) == "harness-run-0123456789ab"
    assert app_id_of("Boto3/1.40.0 md/Botocore#1.40.0") is None
    assert app_id_of("") is None


def test_inspection_without_a_client_maker_or_an_endpoint_refuses_rather_than_reach_aws():
    # boto3 with endpoint_url=None would aim the dummy credentials at real AWS.
    with pytest.raises(ValueError, match=r"cannot inspect emr: None makes no clients and there "
                                         r"is no endpoint URL"):
        inspection._client(None, "emr", None, "us-east-1")

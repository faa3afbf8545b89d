"""pipeline_emr: validate the input, create an EMR cluster, run the Spark job, always terminate.

The seed lesson's DAG on Airflow 3, with its exercises folded in (input sensor, Spot workers,
Variables) and hardened for production:

* Settings come from Airflow Variables **at run time** (Jinja ``var.value``), never at parse time,
  so parsing the file touches neither the metadata DB nor the network. Every Variable has a default
  (see ``EmrSettings``), so the DAG parses and runs with nothing set.
* ``terminar_cluster_emr`` is the teardown of ``criar_cluster_emr``: it runs whatever happened in
  between. ``watcher`` (downstream of the other tasks, as in Airflow's own system tests) fails
  the run when any task failed, the teardown included: a cleaned-up failure is still a failure.
* The request bodies are built by pure functions (``job_flow_overrides``, ``spark_steps``) that the
  templates call; the unit tests render them and validate them against botocore's EMR model.

Variables (all optional): emr_bucket_name, emr_instance_type, emr_instance_count, emr_release_label,
emr_input_key, emr_script_key, emr_output_prefix, emr_use_spot, emr_spot_bid_price, emr_tags
(a JSON object of cluster tags, e.g. ``{"team": "data", "cost-center": "42"}``: cost allocation,
and how a sweeper finds a run's clusters).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import pendulum
from airflow.providers.amazon.aws.operators.emr import (
    EmrAddStepsOperator,
    EmrCreateJobFlowOperator,
    EmrTerminateJobFlowOperator,
)
from airflow.providers.amazon.aws.sensors.emr import EmrStepSensor
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.sdk import DAG, task
from airflow.sdk.exceptions import AirflowFailException

AWS_CONN_ID = "aws_default"
# The seed's production cadence; local runs shorten it from outside (harness), never here.
POKE_INTERVAL_S = 60
# Botocore retries transient API errors (throttling, 5xx) inside one poke, so a throttled
# DescribeStep does not fail a task whose retries are deliberately 0 (see below).
BOTOCORE_CONFIG = {"retries": {"mode": "standard", "max_attempts": 10}}

# Templates pulling the ids the upstream tasks return (their `return_value` XComs).
CLUSTER_ID = "{{ task_instance.xcom_pull(task_ids='criar_cluster_emr', key='return_value') }}"
STEP_ID = "{{ task_instance.xcom_pull(task_ids='adicionar_steps_spark', key='return_value')[0] }}"


class InvalidSettingError(AirflowFailException, ValueError):
    """An Airflow Variable holds a value the pipeline cannot use (names the Variable).

    An ``AirflowFailException``: the task fails at once instead of retrying, since a bad Variable
    does not heal between tries. Airflow 3's task runner renders templates inside the same
    ``try`` as ``execute`` and maps this exception to FAILED without consulting ``retries``.
    """


@dataclass(frozen=True)
class EmrSettings:
    """Everything the pipeline lets an operator change, with the defaults used when unset.

    ``bucket`` defaults to ``airflow-emr-local``: the bucket the offline harness provisions.
    On real AWS set the ``emr_bucket_name`` Variable (bucket names are global).
    """

    bucket: str = "airflow-emr-local"
    release_label: str = "emr-6.15.0"
    instance_type: str = "m5.xlarge"
    instance_count: int = 2  # CORE (worker) nodes
    input_key: str = "input/dados_vendas.csv"
    script_key: str = "scripts/processar_vendas.py"
    output_prefix: str = "output/vendas_processadas/"
    use_spot: bool = False
    # None: Spot capped at the on-demand price (AWS's recommendation); else USD, e.g. "0.10".
    spot_bid_price: str | None = None
    # Cluster tags as (key, value) pairs: tuples keep the settings hashable and frozen.
    tags: tuple[tuple[str, str], ...] = ()

    # Airflow Variable name -> field. One table, so the docs, the parser and the tests agree.
    VARIABLES = {
        "emr_bucket_name": "bucket",
        "emr_release_label": "release_label",
        "emr_instance_type": "instance_type",
        "emr_instance_count": "instance_count",
        "emr_input_key": "input_key",
        "emr_script_key": "script_key",
        "emr_output_prefix": "output_prefix",
        "emr_use_spot": "use_spot",
        "emr_spot_bid_price": "spot_bid_price",
        "emr_tags": "tags",
    }

    @classmethod
    def from_variables(cls, variables: Any) -> EmrSettings:
        """Build settings from anything with ``.get(name, default)`` (Airflow's ``var.value``).

        Variables are strings in Airflow; this is where they become typed values, so a bad value
        fails here with the Variable's name instead of as an opaque EMR API error.
        """
        raw = {field: variables.get(name, None) for name, field in cls.VARIABLES.items()}
        values = {f: v for f, v in raw.items() if v not in (None, "")}
        try:
            if "instance_count" in values:
                values["instance_count"] = int(str(values["instance_count"]).strip())
                if values["instance_count"] < 1:
                    raise ValueError("must be >= 1")
        except ValueError as e:
            raise InvalidSettingError(
                f"Variable emr_instance_count={raw['instance_count']!r}: expected a positive "
                f"integer ({e})"
            ) from None
        if "use_spot" in values:
            values["use_spot"] = _parse_bool("emr_use_spot", values["use_spot"])
        if "spot_bid_price" in values:
            values["spot_bid_price"] = _parse_price("emr_spot_bid_price", values["spot_bid_price"])
        if "tags" in values:
            values["tags"] = _parse_tags("emr_tags", values["tags"])
        for key in ("input_key", "script_key", "output_prefix"):
            if key in values:
                values[key] = str(values[key]).lstrip("/")
        return replace(cls(), **values)

    def s3_url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    @property
    def input_url(self) -> str:
        return self.s3_url(self.input_key)

    @property
    def output_url(self) -> str:
        return self.s3_url(self.output_prefix.rstrip("/") + "/")


def _parse_bool(name: str, value: Any) -> bool:
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise InvalidSettingError(f"Variable {name}={value!r}: expected true/false")


def _parse_price(name: str, value: Any) -> str:
    # EMR takes BidPrice as a decimal *string*; keep it a string, but reject non-numbers early.
    text = str(value).strip()
    try:
        ok = Decimal(text) > 0
    except InvalidOperation:
        ok = False
    if not ok:
        raise InvalidSettingError(f"Variable {name}={value!r}: expected a positive USD price")
    return text


#: EMR's limits on a cluster tag (AddTags / RunJobFlow).
MAX_TAGS, MAX_TAG_KEY, MAX_TAG_VALUE = 50, 128, 256


def _parse_tags(name: str, value: Any) -> tuple[tuple[str, str], ...]:
    # A Variable is text; Airflow may also hand over an already-parsed dict (deserialize_json).
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as e:
            raise InvalidSettingError(f"Variable {name}={value!r}: not JSON ({e})") from None
    if not isinstance(value, dict):
        raise InvalidSettingError(
            f"Variable {name}={value!r}: expected a JSON object of tag keys to string values"
        )
    if len(value) > MAX_TAGS:
        raise InvalidSettingError(f"Variable {name}: {len(value)} tags, EMR allows {MAX_TAGS}")
    tags = []
    for key, val in value.items():
        ok = isinstance(val, str) and 0 < len(key) <= MAX_TAG_KEY and len(val) <= MAX_TAG_VALUE
        if not ok:
            raise InvalidSettingError(
                f"Variable {name}: tag {key!r}={val!r} must be a non-empty key of at most "
                f"{MAX_TAG_KEY} characters with a string value of at most {MAX_TAG_VALUE}"
            )
        tags.append((key, val))
    return tuple(tags)


def emr_settings(variables: Any) -> EmrSettings:
    """Jinja macro: ``{{ emr_settings(var.value) }}`` -> typed settings read at run time."""
    return EmrSettings.from_variables(variables)


def job_flow_overrides(settings: EmrSettings) -> dict[str, Any]:
    """The RunJobFlow request body (the seed's JOB_FLOW_OVERRIDES, parametrized)."""
    core: dict[str, Any] = {
        "Name": "Worker nodes",
        "Market": "ON_DEMAND",
        "InstanceRole": "CORE",
        "InstanceType": settings.instance_type,
        "InstanceCount": settings.instance_count,
    }
    if settings.use_spot:
        # Only the workers go Spot: losing the primary node loses the cluster.
        core["Market"] = "SPOT"
        if settings.spot_bid_price is not None:
            core["BidPrice"] = settings.spot_bid_price
    body: dict[str, Any] = {
        "Name": "cluster-airflow-emr",
        "ReleaseLabel": settings.release_label,
        "Applications": [{"Name": "Spark"}],
        "Configurations": [
            {
                "Classification": "spark-env",
                "Configurations": [
                    {
                        "Classification": "export",
                        "Properties": {"PYSPARK_PYTHON": "/usr/bin/python3"},
                    }
                ],
            }
        ],
        "Instances": {
            "InstanceGroups": [
                {
                    "Name": "Primary node",
                    "Market": "ON_DEMAND",
                    "InstanceRole": "MASTER",
                    "InstanceType": settings.instance_type,
                    "InstanceCount": 1,
                },
                core,
            ],
            # Stay up between steps: termination belongs to the teardown task, not to EMR.
            "KeepJobFlowAliveWhenNoSteps": True,
            "TerminationProtected": False,
        },
        # Safety net if Airflow itself dies before the teardown runs: EMR terminates a cluster
        # idle (no running or pending step) for an hour. Never hit in a normal run.
        "AutoTerminationPolicy": {"IdleTimeout": 3600},
        "JobFlowRole": "EMR_EC2_DefaultRole",
        "ServiceRole": "EMR_DefaultRole",
        "LogUri": settings.s3_url("logs/"),
        "VisibleToAllUsers": True,
    }
    if settings.tags:
        # Set at creation, so a cluster is never untagged, even if Airflow dies right after.
        body["Tags"] = [{"Key": k, "Value": v} for k, v in settings.tags]
    return body


def spark_steps(settings: EmrSettings) -> list[dict[str, Any]]:
    """The AddJobFlowSteps ``Steps`` list: the seed's spark-submit of processar_vendas.py."""
    return [
        {
            "Name": "processar-vendas-spark",
            # CONTINUE, not the seed's TERMINATE_CLUSTER: a failed step leaves the cluster
            # WAITING, the step sensor reports the step's failure (with its log file), and the
            # teardown task terminates the cluster. One owner of termination, no race between
            # EMR's shutdown and the sensor's DescribeStep.
            "ActionOnFailure": "CONTINUE",
            "HadoopJarStep": {
                "Jar": "command-runner.jar",
                "Args": [
                    "spark-submit",
                    "--deploy-mode",
                    "cluster",
                    settings.s3_url(settings.script_key),
                    settings.input_url,
                    settings.output_url,
                ],
            },
        }
    ]


with DAG(
    dag_id="pipeline_emr",
    start_date=pendulum.datetime(2025, 9, 1, tz="UTC"),
    schedule=None,  # triggered manually, as in the seed
    catchup=False,
    max_active_runs=1,  # two runs would race on the same output prefix
    tags=["emr", "spark", "aws"],
    description="Pipeline de processamento de dados usando EMR e Spark",
    doc_md=__doc__,
    default_args={
        "owner": "data-engineering",
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
    },
    user_defined_macros={
        "emr_settings": emr_settings,
        "job_flow_overrides": job_flow_overrides,
        "spark_steps": spark_steps,
    },
) as dag:
    validar_entrada = S3KeySensor(
        task_id="validar_entrada",
        bucket_key="{{ emr_settings(var.value).input_url }}",
        aws_conn_id=AWS_CONN_ID,
        botocore_config=BOTOCORE_CONFIG,
        # A missing input fails the run within 10 minutes instead of waiting forever; reschedule
        # frees the worker slot between pokes.
        mode="reschedule",
        poke_interval=POKE_INTERVAL_S,
        timeout=10 * 60,
    )

    criar_cluster = EmrCreateJobFlowOperator(
        task_id="criar_cluster_emr",
        # Native rendering: the macro's dict (with InstanceCount an int) reaches the API as is.
        job_flow_overrides="{{ job_flow_overrides(emr_settings(var.value)) }}",
        render_template_as_native_obj=True,
        # None: the request is exactly job_flow_overrides (what the tests validate), not merged
        # with an `emr_default` connection's extra.
        emr_conn_id=None,
        aws_conn_id=AWS_CONN_ID,
        botocore_config=BOTOCORE_CONFIG,
        # Not idempotent: a retry after a lost RunJobFlow response would start a second cluster.
        retries=0,
        execution_timeout=timedelta(minutes=10),
    )

    adicionar_steps = EmrAddStepsOperator(
        task_id="adicionar_steps_spark",
        job_flow_id=CLUSTER_ID,
        steps="{{ spark_steps(emr_settings(var.value)) }}",
        render_template_as_native_obj=True,
        aws_conn_id=AWS_CONN_ID,
        botocore_config=BOTOCORE_CONFIG,
        retries=0,  # not idempotent: a retry would queue the job twice
        # Pinned: a deferrable EmrAddStepsOperator waits for the step itself, which would move
        # a step failure onto this task. Waiting is aguardar_step_spark's job, so the global
        # [operators] default_deferrable switch must not change this task.
        deferrable=False,
        execution_timeout=timedelta(minutes=10),
    )

    aguardar_step = EmrStepSensor(
        task_id="aguardar_step_spark",
        job_flow_id=CLUSTER_ID,
        step_id=STEP_ID,
        aws_conn_id=AWS_CONN_ID,
        botocore_config=BOTOCORE_CONFIG,
        # `deferrable` is left to Airflow's [operators] default_deferrable (False unless set),
        # so it can be switched without editing this file; the harness may also set
        # `task.deferrable` on the loaded task.
        timeout=30 * 60,
        poke_interval=POKE_INTERVAL_S,
        # Deferrable mode bounds its wait by max_attempts * poke_interval: the same 30 minutes.
        max_attempts=30,
        # A FAILED/CANCELLED step is terminal: re-poking it cannot succeed, and transient API
        # errors are already retried by botocore (BOTOCORE_CONFIG).
        retries=0,
    )

    terminar_cluster = EmrTerminateJobFlowOperator(
        task_id="terminar_cluster_emr",
        job_flow_id=CLUSTER_ID,
        aws_conn_id=AWS_CONN_ID,
        botocore_config=BOTOCORE_CONFIG,
        # Idempotent (terminating a terminated cluster is a no-op), so it may retry.
        retries=3,
        retry_delay=timedelta(seconds=30),
        execution_timeout=timedelta(minutes=10),
    )

    # Teardown: runs once criar_cluster_emr succeeded, whatever happened after it.
    (
        validar_entrada
        >> criar_cluster
        >> adicionar_steps
        >> aguardar_step
        >> terminar_cluster.as_teardown(setups=criar_cluster)
    )

    @task(trigger_rule="one_failed", retries=0)
    def watcher() -> None:
        """Fail the run when any task failed.

        Airflow derives a run's state from its leaves and ignores teardowns, but with the
        teardown after aguardar_step_spark a failure could still end in a "successful" run (a
        teardown with on_failure_fail_dagrun=True becomes the only leaf). As the only leaf,
        this task is skipped when all went well and fails when anything failed.
        """
        raise AirflowFailException("a task of pipeline_emr failed; see the failed task's log")

    # Every task but the setup (Airflow requires ALL_SUCCESS right after a setup); a failed
    # criar_cluster_emr still reaches the watcher as adicionar_steps_spark's upstream_failed.
    [t for t in dag.tasks if not t.is_setup] >> watcher()

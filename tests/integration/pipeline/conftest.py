"""The production DAG end to end: `dags/pipeline_emr.py`, unmodified, under Airflow's `dag.test()`
through the public `run_dag` API, against every backend `--backend` names (embedded by default;
`--backend=localstack`, `--backend=all` ...).

Each test gets a fresh backend (the plugin's `backend` fixture), provisioned as the seed lesson
does (bucket, input CSV, job script, EMR default roles). Airflow is configured once per session.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from harness.run_report import read_csv_prefix
from tests.lesson import PipelineLayout, provision

ROOT = Path(__file__).resolve().parents[3]
LAYOUT = PipelineLayout(bucket="airflow-emr-it")
#: The seed sample's figures (processar_vendas.py rounds ticket_medio HALF_UP to 2 places).
EXPECTED_ROWS = [
    ("João Santos", 7, Decimal("10450.00"), 3, Decimal("3483.33")),
    ("Ana Silva", 19, Decimal("7300.00"), 4, Decimal("1825.00")),
    ("Maria Costa", 21, Decimal("2300.00"), 3, Decimal("766.67")),
]
COLUMNS = ["vendedor", "total_quantidade", "total_receita", "total_transacoes", "ticket_medio"]
#: Generous bound for a sensor that must fail (input missing): the DAG's own is 10 minutes.
MISSING_INPUT_TIMEOUT = 3


@pytest.fixture(scope="session")
def harness_dags_folder():
    return ROOT / "dags"


@pytest.fixture
def pipeline_aws(backend):
    """The backend (`--backend`) with the seed's setup done: bucket, data, script, EMR roles."""
    provision(backend, LAYOUT, data=ROOT / "data" / "dados_vendas.csv",
              script=ROOT / "spark" / "processar_vendas.py")
    return backend


@pytest.fixture
def run_dag_on(dags_folder):
    """`run(backend, dag_id="pipeline_emr", **kwargs)`: `run_dag` against a backend."""
    from harness.airflow.dag_runner import run_dag

    def run(backend, dag_id: str = "pipeline_emr", **kwargs):
        return run_dag(dag_id, backend=backend, dags_folder=dags_folder, **kwargs)

    return run


@pytest.fixture
def run_pipeline(run_dag_on, pipeline_aws):
    """`run(**kwargs)`: one run of pipeline_emr against `pipeline_aws`, Variables = LAYOUT."""

    def run(variables=None, **kwargs):
        return run_dag_on(pipeline_aws, variables={**LAYOUT.variables(), **(variables or {})},
                          **kwargs)

    return run


@pytest.fixture
def faults(backend):
    """The backend's fault injection; skips where the backend cannot inject faults."""
    if backend.faults is None:
        pytest.skip(f"the {backend.name} backend cannot inject faults here ({backend.describe()})")
    return backend.faults


def output_rows(aws, prefix: str = LAYOUT.output_prefix):
    return read_csv_prefix(aws.client("s3"), LAYOUT.bucket, prefix)


ACTIVE = ["STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING", "TERMINATING"]


def assert_nothing_running(backend, result) -> None:
    """Every cluster the run created ended terminated, per the run's view and the backend's."""
    assert result.active_clusters == [], result.failure_report()
    emr = backend.client("emr")
    for cluster in result.clusters:
        assert cluster["state"] in ("TERMINATED", "TERMINATED_WITH_ERRORS"), cluster
        state = emr.describe_cluster(ClusterId=cluster["id"])["Cluster"]["Status"]["State"]
        assert state in ("TERMINATED", "TERMINATED_WITH_ERRORS"), (cluster["id"], state)
    if getattr(backend, "offline", True):  # its own account: nothing at all may be left running
        active = [c["Id"] for c in emr.list_clusters(ClusterStates=ACTIVE)["Clusters"]]
        assert active == [], f"clusters left running: {active}"

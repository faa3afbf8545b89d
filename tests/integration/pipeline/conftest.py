"""The production DAG end to end: `dags/pipeline_emr.py`, unmodified, under Airflow's `dag.test()`
against the embedded EMR emulator, through the public `run_dag` API (the `dag_runner` fixture).

Each test gets a fresh emulator (the plugin's `emulated_aws`), provisioned as the seed lesson does
(bucket, input CSV, job script, EMR default roles). Airflow is configured once per session.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from harness.pipeline_run import PipelineLayout, provision, read_csv_prefix

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
def dags_folder():
    return ROOT / "dags"


@pytest.fixture
def pipeline_aws(emulated_aws):
    """The emulator with the seed's setup done: bucket, data, script, EMR default roles."""
    provision(emulated_aws, LAYOUT, data=ROOT / "data" / "dados_vendas.csv",
              script=ROOT / "spark" / "processar_vendas.py")
    return emulated_aws


@pytest.fixture
def run_pipeline(dag_runner, pipeline_aws):
    """`run(**kwargs)`: one run of pipeline_emr against `pipeline_aws`, Variables = LAYOUT."""

    def run(variables=None, **kwargs):
        return dag_runner("pipeline_emr", aws=pipeline_aws,
                          variables={**LAYOUT.variables(), **(variables or {})}, **kwargs)

    return run


def output_rows(aws, prefix: str = LAYOUT.output_prefix):
    return read_csv_prefix(aws.client("s3"), LAYOUT.bucket, prefix)


def assert_nothing_running(aws, result) -> None:
    """Every cluster the run created ended terminated, per the run's view and the emulator's."""
    assert result.active_clusters == [], result.failure_report()
    assert aws.active_clusters() == [], f"clusters left running: {aws.active_clusters()}"
    for cluster in result.clusters:
        assert cluster["state"] in ("TERMINATED", "TERMINATED_WITH_ERRORS"), cluster

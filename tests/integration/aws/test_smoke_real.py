"""The real-AWS smoke run (marker `aws`: runs only with --run-aws; `nox -s smoke_aws --
--yes-this-costs-money`). Uses the caller's profile (AWS_PROFILE), a fresh run id, the small
cluster within the cost ceiling; checks the output with chispa; always cleans up."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest

from harness.aws_smoke import print_plan, run_smoke, signals_raise

from .conftest import LESSON

#: The seed sample's figures (as tests/integration/pipeline).
POKE_INTERVAL_S = float(os.environ.get("SMOKE_POKE_INTERVAL", "30"))
EXPECTED_ROWS = [
    ("João Santos", 7, Decimal("10450.00"), 3, Decimal("3483.33")),
    ("Ana Silva", 19, Decimal("7300.00"), 4, Decimal("1825.00")),
    ("Maria Costa", 21, Decimal("2300.00"), 3, Decimal("766.67")),
]


def smoke_and_check(backend, spark) -> None:
    """The smoke run and its checks (also rehearsed offline against the emulator)."""
    from chispa import assert_df_equality
    from pyspark.sql import types as T

    print_plan(backend, print)  # account and region first
    with signals_raise(deadline_s=backend.plan.run_timeout_s + 300), backend:
        result, header, rows = run_smoke(backend, LESSON.config, progress=print,
                                         poke_interval=POKE_INTERVAL_S)  # fmt: skip
        assert result.ok, result.failure_report()
    schema = T.StructType([
        T.StructField("vendedor", T.StringType()),
        T.StructField("total_quantidade", T.LongType()),
        T.StructField("total_receita", T.DecimalType(18, 2)),
        T.StructField("total_transacoes", T.LongType()),
        T.StructField("ticket_medio", T.DecimalType(18, 2)),
    ])  # fmt: skip
    assert header == [f.name for f in schema.fields]
    actual = spark.createDataFrame(
        [(r[0], int(r[1]), Decimal(r[2]), int(r[3]), Decimal(r[4])) for r in rows], schema
    )
    expected = spark.createDataFrame(EXPECTED_ROWS, schema)
    assert_df_equality(actual, expected)  # row order too: by total_receita descending
    assert f"deleted bucket {backend.bucket_name}" in backend.cleanup_log


@pytest.mark.aws
def test_pipeline_on_real_aws(spark):
    from harness.backends.aws import AwsBackend

    backend = AwsBackend(profile=os.environ.get("AWS_PROFILE"),
                         region=os.environ.get("AWS_DEFAULT_REGION"))  # fmt: skip
    smoke_and_check(backend, spark)

"""Per-seller totals: exact figures, schema, ordering and tie-break, decimal rounding."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from chispa import assert_df_equality
from chispa.schema_comparer import assert_schema_equality

from .conftest import SAMPLE

EXPECTED_SEED = [
    ("João Santos", 7, Decimal("10450.00"), 3, Decimal("3483.33")),
    ("Ana Silva", 19, Decimal("7300.00"), 4, Decimal("1825.00")),
    ("Maria Costa", 21, Decimal("2300.00"), 3, Decimal("766.67")),
]


def _valid_rows(spark, job, rows):
    return spark.createDataFrame(rows, job.VALID_SCHEMA)


def test_seed_sample_gives_exact_figures(spark, job):
    valid, rejects = job.validate(job.read_sales(spark, str(SAMPLE)))
    actual = job.aggregate(valid)
    expected = spark.createDataFrame(EXPECTED_SEED, job.OUTPUT_SCHEMA)
    assert_df_equality(actual, expected, ignore_nullable=True)
    assert rejects.count() == 0


def test_output_schema_is_decimal_money(spark, job):
    actual = job.aggregate(_valid_rows(spark, job, [
        (date(2025, 9, 1), "Mouse", 1, Decimal("1.00"), "Ana"),
    ]))
    assert_schema_equality(actual.schema, job.OUTPUT_SCHEMA, ignore_nullable=True)
    assert [f.name for f in actual.schema] == [
        "vendedor", "total_quantidade", "total_receita", "total_transacoes", "ticket_medio"
    ]


def test_ties_on_total_receita_are_broken_by_vendedor_ascending(spark, job):
    day = date(2025, 9, 1)
    actual = job.aggregate(_valid_rows(spark, job, [
        (day, "Mouse", 2, Decimal("50.00"), "Zeca"),
        (day, "Mouse", 1, Decimal("100.00"), "Bia"),
        (day, "Mouse", 4, Decimal("25.00"), "Caio"),
        (day, "Notebook", 1, Decimal("999.99"), "Davi"),
    ]))
    assert [r.vendedor for r in actual.collect()] == ["Davi", "Bia", "Caio", "Zeca"]


def test_ticket_medio_rounds_half_up_to_two_places(spark, job):
    day = date(2025, 9, 1)
    # (0.02 + 0.03) / 2 = 0.025: HALF_UP gives 0.03, HALF_EVEN (bround) would give 0.02.
    actual = job.aggregate(_valid_rows(spark, job, [
        (day, "Bala", 1, Decimal("0.02"), "Ana"),
        (day, "Bala", 1, Decimal("0.03"), "Ana"),
    ]))
    row = actual.collect()[0]
    assert row.total_receita == Decimal("0.05")
    assert row.ticket_medio == Decimal("0.03")


def test_money_is_exact_where_float_would_drift(spark, job):
    day = date(2025, 9, 1)
    rows = [(day, "Bala", 1, Decimal("0.10"), "Ana")] * 3
    row = job.aggregate(_valid_rows(spark, job, rows)).collect()[0]
    assert row.total_receita == Decimal("0.30")  # 0.1 + 0.1 + 0.1 != 0.3 in float


def test_quantities_sum_as_long_and_count_transactions(spark, job):
    day = date(2025, 9, 1)
    actual = job.aggregate(_valid_rows(spark, job, [
        (day, "Mouse", 2_000_000_000, Decimal("0.01"), "Ana"),
        (day, "Mouse", 2_000_000_000, Decimal("0.01"), "Ana"),
    ]))
    row = actual.collect()[0]
    assert (row.total_quantidade, row.total_transacoes) == (4_000_000_000, 2)
    assert row.total_receita == Decimal("40000000.00")


def test_totals_take_one_shuffle_and_stay_in_one_sorted_partition(spark, job, capsys):
    """The aggregation's own shuffle only: the totals (one row per seller) are merged, sorted
    and written by one task (coalesce), not shuffled a second time into one partition."""
    day = date(2025, 9, 1)
    totals = job.aggregate(_valid_rows(spark, job, [
        (day, "Mouse", 1, Decimal("10.00"), "Ana"), (day, "Mouse", 3, Decimal("10.00"), "Bia"),
    ]))
    totals.explain()
    plan = capsys.readouterr().out
    assert plan.count("Exchange") == 1, plan
    assert [r.vendedor for r in totals.collect()] == ["Bia", "Ana"]

"""Row validation: every bad-input class is rejected with its reason, none is lost."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from chispa import assert_df_equality

GOOD = ("2025-09-01", "Mouse", "5", "50.00", "Ana Silva")


def _raw(spark, job, rows):
    return spark.createDataFrame(rows, "data string, produto string, quantidade string, "
                                       "preco_unitario string, vendedor string")


def _with(**changes):
    names = ("data", "produto", "quantidade", "preco_unitario", "vendedor")
    return tuple(changes.get(n, v) for n, v in zip(names, GOOD, strict=True))


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (_with(data=None), "missing data"),
        (_with(produto=None), "missing produto"),
        (_with(quantidade=None), "missing quantidade"),
        (_with(preco_unitario=None), "missing preco_unitario"),
        (_with(vendedor=None), "missing vendedor"),
        (_with(vendedor="   "), "missing vendedor"),
        (_with(quantidade="cinco"), "quantidade is not a whole number"),
        (_with(quantidade="2.5"), "quantidade is not a whole number"),
        (_with(quantidade="99999999999"), "quantidade is not a whole number"),
        (_with(quantidade="-1"), "quantidade is negative"),
        (_with(preco_unitario="abc"), "preco_unitario is not a number"),
        (_with(preco_unitario="1e3"), "preco_unitario is not a number"),
        (_with(preco_unitario="-50.00"), "preco_unitario is negative"),
        (_with(preco_unitario="12345678901234.00"), "preco_unitario out of range"),
        (_with(data="01/09/2025"), "data is not a valid date (yyyy-MM-dd)"),
        (_with(data="2025-13-45"), "data is not a valid date (yyyy-MM-dd)"),
        (_with(data="2025-02-30"), "data is not a valid date (yyyy-MM-dd)"),
    ],
)
def test_each_bad_input_class_is_rejected_with_its_reason(spark, job, row, reason):
    valid, rejects = job.validate(_raw(spark, job, [GOOD, row]))
    assert valid.count() == 1
    rejected = rejects.collect()
    assert [r[job.REJECT_REASON] for r in rejected] == [reason]
    # The rejected row keeps its original text so it can be fixed and replayed.
    assert tuple(rejected[0])[:5] == row


def test_a_row_with_several_problems_lists_all_reasons(spark, job):
    _, rejects = job.validate(_raw(spark, job, [("ontem", "Mouse", "-3", "x", None)]))
    assert rejects.collect()[0][job.REJECT_REASON] == (
        "missing vendedor; data is not a valid date (yyyy-MM-dd); "
        "quantidade is negative; preco_unitario is not a number"
    )


def test_valid_rows_are_typed_and_trimmed(spark, job):
    valid, rejects = job.validate(
        _raw(spark, job, [(" 2025-09-01 ", " Mouse ", " 5 ", " 50.5 ", " João Santos ")])
    )
    expected = spark.createDataFrame(
        [(date(2025, 9, 1), "Mouse", 5, Decimal("50.50"), "João Santos")], job.VALID_SCHEMA
    )
    assert_df_equality(valid, expected, ignore_nullable=True)
    assert rejects.count() == 0


def test_zero_quantity_and_free_items_are_valid_sales(spark, job):
    valid, _ = job.validate(_raw(spark, job, [_with(quantidade="0"), _with(preco_unitario="0")]))
    assert valid.count() == 2


def test_rejects_keep_input_order_and_the_rejects_schema(spark, job):
    rows = [_with(vendedor=None), GOOD, _with(quantidade="x"), _with(data="nope")]
    _, rejects = job.validate(_raw(spark, job, rows))
    assert rejects.schema.simpleString() == job.REJECTS_SCHEMA.simpleString()
    assert [r[job.REJECT_REASON].split(" ")[0] for r in rejects.collect()] == [
        "missing", "quantidade", "data"
    ]


@pytest.mark.skipif(
    not hasattr(__import__("pyspark.sql").sql.Column, "try_cast"),
    reason="Column.try_cast is pyspark >= 4.0; on 3.4 (the EMR release's) the job casts in SQL",
)
def test_validation_needs_no_sql_parsing_on_pyspark_4(spark, job, monkeypatch):
    # A cold driver spends about a second starting Spark's SQL parser for its first expression
    # (tests/benchmarks/job_vs_seed.py): on pyspark 4 the casts use the Column API instead.
    def no_sql(text):
        raise AssertionError(f"the job parsed SQL: {text!r}")

    monkeypatch.setattr(job.F, "expr", no_sql)
    rows = [GOOD, _with(quantidade="99999999999"), _with(preco_unitario="12345678901234.00"),
            _with(data="2025-02-30")]
    valid, rejects = job.validate(_raw(spark, job, rows))
    assert valid.count() == 1
    assert [r[job.REJECT_REASON] for r in rejects.collect()] == [
        "quantidade is not a whole number", "preco_unitario out of range",
        "data is not a valid date (yyyy-MM-dd)",
    ]

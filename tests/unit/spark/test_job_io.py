"""The job end to end on files: accounting, input errors, header-only, UTF-8, reruns."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.spark import spark_submit_argv, spark_submit_env

from .conftest import JOB_PATH, SAMPLE, read_output

HEADER = "data,produto,quantidade,preco_unitario,vendedor\n"
SEED_RESULT = [
    "vendedor,total_quantidade,total_receita,total_transacoes,ticket_medio",
    "João Santos,7,10450.00,3,3483.33",
    "Ana Silva,19,7300.00,4,1825.00",
    "Maria Costa,21,2300.00,3,766.67",
]


def test_mixed_input_accounts_for_every_row(spark, job, write_csv, tmp_path):
    src = write_csv(
        HEADER
        + "2025-09-01,Mouse,5,50.00,Ana Silva\n"
        + "2025-09-01,Mouse,cinco,50.00,Ana Silva\n"
        + "2025-09-02,Teclado,1,150.00,\n"
        + "2025-09-02,Teclado,1,150.00,Bia,extra-field\n"
        + "2025-09-03,Monitor\n"
        + "2025-09-03,Monitor,1,800.00,Bia\n"
    )
    out = str(tmp_path / "out")
    metrics = job.run(spark, src, out)
    assert metrics == {"rows_in": 6, "rows_ok": 2, "rows_rejected": 4}
    assert metrics["rows_in"] == metrics["rows_ok"] + metrics["rows_rejected"]
    rejects = read_output(job.rejects_path_for(out))
    assert rejects[0] == "data,produto,quantidade,preco_unitario,vendedor,motivo_rejeicao"
    assert [line.rsplit(",", 1)[-1] for line in rejects[1:]] == [
        "quantidade is not a whole number",
        "missing vendedor",
        "malformed row (wrong number of fields)",
        "malformed row (wrong number of fields); missing quantidade; missing preco_unitario; "
        "missing vendedor",
    ]
    assert read_output(out)[1:] == ["Bia,1,800.00,1,800.00", "Ana Silva,5,250.00,1,250.00"]


def test_columns_may_come_in_any_order_with_extra_columns(spark, job, write_csv, tmp_path):
    src = write_csv("vendedor,loja,preco_unitario,quantidade,produto,data\n"
                    "Ana,Centro,10.00,2,Mouse,2025-09-01\n")
    out = str(tmp_path / "out")
    assert job.run(spark, src, out)["rows_ok"] == 1
    assert read_output(out)[1:] == ["Ana,2,20.00,1,20.00"]


def test_a_file_with_its_columns_in_another_order_fails_before_writing(spark, job, tmp_path):
    # Spark reads a CSV with a schema by position: without the header check, Bia's product
    # would be read as her name, and her name as the product.
    folder = tmp_path / "entrada"
    folder.mkdir()
    (folder / "dia1.csv").write_text(HEADER + "2025-09-01,Mouse,2,50.00,Ana\n", encoding="utf-8")
    (folder / "dia2.csv").write_text("data,vendedor,quantidade,preco_unitario,produto\n"
                                     "2025-09-02,Bia,1,150.00,Teclado\n", encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(job.InputError) as err:
        job.run(spark, str(folder), str(out))
    message = str(err.value)
    assert "every file must have the same header" in message, message
    assert "dia1.csv" in message or "dia2.csv" in message, message  # the file at fault
    assert ("Expected: produto but found: vendedor" in message
            or "Expected: vendedor but found: produto" in message), message
    assert not out.exists()
    assert not Path(job.rejects_path_for(str(out))).exists()


def test_header_names_may_be_padded_with_spaces(spark, job, write_csv, tmp_path):
    src = write_csv(" data , produto,quantidade , preco_unitario,vendedor \n"
                    "2025-09-01,Mouse,2,10.00,Ana\n")
    out = str(tmp_path / "out")
    assert job.run(spark, src, out) == {"rows_in": 1, "rows_ok": 1, "rows_rejected": 0}
    assert read_output(out)[1:] == ["Ana,2,20.00,1,20.00"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("data,produto,quantidade,vendedor\n2025-09-01,Mouse,1,Ana\n",
         "lacks required column(s) preco_unitario"),
        ('{"data": "2025-09-01", "produto": "Mouse"}\n', "lacks required column(s) data"),
    ],
    ids=["empty-file", "missing-column", "json-not-csv"],
)
def test_unusable_input_fails_before_writing(spark, job, write_csv, tmp_path, content, message):
    out = tmp_path / "out"
    with pytest.raises(job.InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        job.run(spark, write_csv(content), str(out))
    assert not out.exists()
    assert not Path(job.rejects_path_for(str(out))).exists()


def test_binary_input_is_not_csv(spark, job, tmp_path):
    src = tmp_path / "vendas.parquet"
    src.write_bytes(b"PAR1\x15\x04\x15\x00\xff\xfe\x00\x00")
    with pytest.raises(job.InputError, match="does not look like a CSV text file"):
        job.run(spark, str(src), str(tmp_path / "out"))


def test_missing_input_path_is_a_clear_error(spark, job, tmp_path):
    with pytest.raises(job.InputError, match="cannot read input .*nao-existe.csv"):
        job.run(spark, str(tmp_path / "nao-existe.csv"), str(tmp_path / "out"))


def test_header_only_input_gives_empty_result_with_header(spark, job, write_csv, tmp_path):
    out = str(tmp_path / "out")
    assert job.run(spark, write_csv(HEADER), out) == {
        "rows_in": 0, "rows_ok": 0, "rows_rejected": 0
    }
    assert read_output(out) == [SEED_RESULT[0]]


def test_rerun_overwrites_with_identical_output(spark, job, tmp_path):
    out = str(tmp_path / "out")
    job.run(spark, str(SAMPLE), out)
    first = read_output(out)
    job.run(spark, str(SAMPLE), out)
    assert read_output(out) == first == SEED_RESULT  # UTF-8 "João" survives the round trip


def _spark_submit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        spark_submit_argv(JOB_PATH, *args), env=spark_submit_env(),
        capture_output=True, text=True, timeout=300, check=False,
    )


def test_spark_submit_as_emr_calls_it(tmp_path):
    """The script exactly as the EMR step runs it: `spark-submit processar_vendas.py in out`."""
    out = str(tmp_path / "vendas_processadas")
    proc = _spark_submit(str(SAMPLE), out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rows_in=10 rows_ok=10 rows_rejected=0" in proc.stdout
    assert read_output(out) == SEED_RESULT
    assert read_output(out + "_rejeitados") == [
        "data,produto,quantidade,preco_unitario,vendedor,motivo_rejeicao"
    ]


def test_spark_submit_fails_nonzero_with_message_on_bad_input(tmp_path):
    src = tmp_path / "vendas.csv"
    src.write_text("data,produto\n2025-09-01,Mouse\n", encoding="utf-8")
    proc = _spark_submit(str(src), str(tmp_path / "out"))
    assert proc.returncode == 1
    # spark-submit's PythonRunner merges the driver's stderr into its stdout.
    output = proc.stdout + proc.stderr
    assert "ERROR: input" in output and "lacks required column(s) quantidade" in output
    assert not (tmp_path / "out").exists()


def test_wrong_argument_count_prints_usage(job, capsys):
    assert job.main(["only-one"]) == 2
    assert "Usage: processar_vendas.py" in capsys.readouterr().err


def test_blank_lines_are_not_rows_and_rows_in_counts_every_file(spark, job, tmp_path):
    folder = tmp_path / "entrada"
    folder.mkdir()
    (folder / "dia1.csv").write_text(
        HEADER + "2025-09-01,Mouse,5,50.00,Ana\n\n   \n\t\n2025-09-01,Mouse,x,50.00,Ana\n",
        encoding="utf-8")
    (folder / "dia2.csv").write_text(HEADER + "\n2025-09-02,Mouse,1,50.00,Bia\n", encoding="utf-8")
    out = str(tmp_path / "out")
    assert job.run(spark, str(folder), out) == {"rows_in": 3, "rows_ok": 2, "rows_rejected": 1}
    assert sorted(read_output(out)[1:]) == ["Ana,5,250.00,1,250.00", "Bia,1,50.00,1,50.00"]


def test_a_row_lost_before_validation_fails_the_job_before_writing(
    spark, job, write_csv, tmp_path, monkeypatch
):
    """rows_in is counted from the raw text, not from the parsed frame: a reader that drops a
    row (here: a stand-in that filters one out) breaks the accounting and nothing is written."""
    real_read_sales = job.read_sales

    def lossy_read_sales(spark_, path):
        return real_read_sales(spark_, path).where("vendedor != 'Bia'")

    monkeypatch.setattr(job, "read_sales", lossy_read_sales)
    src = write_csv(HEADER + "2025-09-01,Mouse,5,50.00,Ana\n2025-09-01,Mouse,1,50.00,Bia\n")
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match=r"row accounting broken: .*'rows_in': 2, "
                                           r"'rows_ok': 1, 'rows_rejected': 0"):
        job.run(spark, src, str(out))
    assert not out.exists()
    assert not Path(job.rejects_path_for(str(out))).exists()


def test_all_rows_rejected_gives_an_empty_result_with_header(spark, job, write_csv, tmp_path):
    """rows_ok == 0: the result is written from an empty relation (no scan of the cache), with
    the same header an empty aggregation would have."""
    src = write_csv(HEADER + "2025-09-01,Mouse,x,50.00,Ana\n2025-09-01,Mouse,1,50.00,\n")
    out = str(tmp_path / "out")
    assert job.run(spark, src, out) == {"rows_in": 2, "rows_ok": 0, "rows_rejected": 2}
    assert read_output(out) == [SEED_RESULT[0]]
    assert [line.rsplit(",", 1)[-1] for line in read_output(job.rejects_path_for(out))[1:]] == [
        "quantidade is not a whole number", "missing vendedor"
    ]


def test_an_output_known_to_be_empty_is_not_computed(spark, job, capsys):
    """With a zero count the output's plan is an empty local relation: no scan, no shuffle."""
    df = spark.range(3).where("id > 0")
    job._empty_unless(df, 0).explain()
    plan = capsys.readouterr().out
    assert "LocalTableScan <empty>" in plan and "Range" not in plan
    job._empty_unless(df, 2).explain()
    assert "Range" in capsys.readouterr().out

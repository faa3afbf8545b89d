"""Reading a run's result back from S3 (harness.run_report): streamed part by part, every row
counted, only the first SHOWN_ROWS printed. In-process moto (mock_aws), no server."""

from __future__ import annotations

import types

from harness import run_report
from harness.config import S3Uri


def put(s3, key, text):
    s3.put_object(Bucket="bkt", Key=key, Body=text.encode("utf-8"))


def test_rows_of_every_part_in_order_with_quoted_newlines(s3):
    put(s3, "out/part-00001.csv", "a,b\n3,\"x\ny\"\n")
    put(s3, "out/part-00000.csv", "a,b\n1,ç\n2,z\n")
    put(s3, "out/_SUCCESS", "")
    put(s3, "out/.part-00000.csv.crc", "junk")
    assert run_report.read_csv_prefix(s3, "bkt", "out/") == (
        ["a", "b"], [["1", "ç"], ["2", "z"], ["3", "x\ny"]])


def test_head_counts_every_row_and_keeps_only_the_limit(s3):
    put(s3, "out/part-00000.csv", "n\n" + "".join(f"{i}\n" for i in range(1000)))
    put(s3, "out/part-00001.csv", "n\n" + "".join(f"{i}\n" for i in range(1000, 1500)))
    header, rows, count = run_report.head_csv_prefix(s3, "bkt", "out/", limit=3)
    assert (header, rows, count) == (["n"], [["0"], ["1"], ["2"]], 1500)


def test_a_header_only_result_still_names_its_columns(s3):
    put(s3, "rej/part-00000.csv", "id,motivo\n")
    assert run_report.head_csv_prefix(s3, "bkt", "rej/", limit=5) == (["id", "motivo"], [], 0)


def test_report_prints_the_count_and_says_what_it_left_out(s3, tmp_path, monkeypatch):
    total = run_report.SHOWN_ROWS + 7
    put(s3, "out/part-00000.csv", "n\n" + "".join(f"{i}\n" for i in range(total)))
    monkeypatch.setattr(run_report, "write_task_logs", lambda *a: None)
    result = types.SimpleNamespace(ok=True, summary=lambda: "summary", clusters=[])
    aws = types.SimpleNamespace(client=lambda service: s3, emulator=None)
    lines: list[str] = []
    code = run_report.report(lines.append, aws, result, workdir=tmp_path, t0=0.0,
                             result_prefixes=[S3Uri("bkt", "out/")])  # fmt: skip
    assert code == 0
    text = "\n".join(lines)
    assert f"result (s3://bkt/out/): {total} row(s)" in text
    assert "... 7 more row(s) not shown" in text
    shown = [line for line in text.splitlines() if line.strip().isdigit()]
    assert len(shown) == run_report.SHOWN_ROWS

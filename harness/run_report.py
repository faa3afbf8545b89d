"""What `python -m harness run` prints and writes after a DAG run (cold or warm, same code).

``report``: the per-task summary; on failure the failure report; on success the config's
``result`` prefixes read back from S3 as tables, where outputs and step logs are on disk.
``write_timings``: where the time went, as JSON. Works from a ``DagRunResult`` (plain data)
and anything with ``client(service)``; Airflow-free.
"""

from __future__ import annotations

import csv
import io
import json
import resource
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from harness.config import S3Uri

__all__ = ["SHOWN_ROWS", "format_table", "head_csv_prefix", "iter_csv_prefix", "read_csv_prefix",
           "report", "run_steps", "write_task_logs", "write_timings"]

#: Rows of each result printed after a run; the rest are counted (the files are on disk).
SHOWN_ROWS = 50

Out = Callable[[str], Any]


def csv_part_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    """Spark's CSV parts under ``prefix``, sorted (no ``_SUCCESS``, no dot files)."""
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return [k for k in sorted(keys) if k.rsplit("/", 1)[-1].endswith(".csv")
            and not k.rsplit("/", 1)[-1].startswith(("_", "."))]


def iter_csv_prefix(s3: Any, bucket: str, prefix: str) -> Iterator[tuple[list[str], list[str]]]:
    """(header, row) of every data row of every CSV part under ``prefix``, read as a stream:
    one part's body open at a time, parsed as it arrives, never read whole."""
    for key in csv_part_keys(s3, bucket, prefix):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        with io.TextIOWrapper(body, encoding="utf-8", newline="") as text:
            reader = csv.reader(text)
            header = next(reader, None)
            if header is None:
                continue
            for row in reader:
                yield header, row


def read_csv_prefix(s3: Any, bucket: str, prefix: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of every CSV part under ``prefix`` (Spark's part-*.csv files). Holds
    every row: for a result of any size, `head_csv_prefix`."""
    header, rows, _ = head_csv_prefix(s3, bucket, prefix, limit=None)
    return header, rows


def head_csv_prefix(s3: Any, bucket: str, prefix: str, *,
                    limit: int | None) -> tuple[list[str], list[list[str]], int]:  # fmt: skip
    """Header, the first ``limit`` rows (all if None) and the count of every row under
    ``prefix``; memory bounded by ``limit``, whatever the parts' size."""
    header: list[str] = []
    rows: list[list[str]] = []
    count = 0
    for part_header, row in iter_csv_prefix(s3, bucket, prefix):
        header = header or part_header
        if limit is None or count < limit:
            rows.append(row)
        count += 1
    if not header:  # parts with only a header still name the columns
        for key in csv_part_keys(s3, bucket, prefix):
            body = s3.get_object(Bucket=bucket, Key=key)["Body"]
            with io.TextIOWrapper(body, encoding="utf-8", newline="") as text:
                header = next(csv.reader(text), [])
            if header:
                break
    return header, rows, count


def format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max([len(h)] + [len(r[i]) for r in rows if i < len(r)]) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    out = [line.rstrip(), "  ".join("-" * w for w in widths)]
    for r in rows:
        out.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip())
    return "\n".join(out)


def run_steps(aws: Any, result: Any) -> list[tuple[str, str]]:
    """(cluster id, step id) of every step on the clusters the run created, oldest first."""
    emr = aws.client("emr")
    steps = []
    for cluster in result.clusters:
        listed = []
        for page in emr.get_paginator("list_steps").paginate(ClusterId=cluster["id"]):
            listed += [s["Id"] for s in page["Steps"]]
        steps += [(cluster["id"], s) for s in reversed(listed)]  # ListSteps: newest first
    return steps


def report(out: Out, aws: Any, result: Any, *, workdir: Path, t0: float,
           result_prefixes: Iterable[S3Uri] = ()) -> int:  # fmt: skip
    """Print the run's outcome; return the command's exit code (0 ok, 1 failed)."""
    out("")
    out(result.summary())
    if not result.ok:
        out("")
        out(result.failure_report())
        write_task_logs(result, workdir, out)
        return 1
    s3 = aws.client("s3")
    prefixes = list(result_prefixes)
    for prefix in prefixes:
        header, rows, count = head_csv_prefix(s3, prefix.bucket, prefix.key, limit=SHOWN_ROWS)
        out("")
        out(f"result ({prefix}): {count} row(s)")
        if header:
            out(format_table(header, rows))
            if count > len(rows):
                out(f"... {count - len(rows)} more row(s) not shown")
        else:
            out("  (no CSV part found)")
    out("")
    emulator = getattr(aws, "emulator", aws)  # a backend's EmulatedAWS (EMR runtime), if any
    if emulator is not None and hasattr(emulator, "step_dir"):
        for prefix in prefixes[:1]:
            out(f"outputs on disk: {emulator.workdir / 's3' / prefix.bucket / prefix.key}")
        for cluster_id, step_id in run_steps(aws, result):
            out(f"step logs:       {emulator.step_dir(cluster_id, step_id)}")
    write_task_logs(result, workdir, out)
    out(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def write_timings(path: Path, aws: Any, result: Any, phases: dict[str, float]) -> None:
    """Phases of this command, run_dag's own phases, task durations and each step's run time."""
    steps = {}
    emr = aws.client("emr")
    for cluster_id, step_id in run_steps(aws, result):
        timeline = emr.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]["Status"][
            "Timeline"]
        if timeline.get("StartDateTime") and timeline.get("EndDateTime"):
            steps[step_id] = (timeline["EndDateTime"] - timeline["StartDateTime"]).total_seconds()
    path.write_text(json.dumps({
        "phases": phases,
        "run_dag": result.timings,
        "tasks": result.durations,
        "steps": steps,
        # CPU seconds of this process (Airflow, the emulator) vs its children (Spark).
        "cpu_self": _cpu(resource.RUSAGE_SELF),
        "cpu_children": _cpu(resource.RUSAGE_CHILDREN),
        "ok": result.ok,
    }, indent=2))


def write_task_logs(result: Any, workdir: Path, out: Out) -> None:
    folder = workdir / "airflow-logs"
    folder.mkdir(parents=True, exist_ok=True)
    for task_id, text in result.logs.items():
        (folder / f"{task_id or '_run'}.log").write_text(text + "\n")
    out(f"task logs:       {folder}")

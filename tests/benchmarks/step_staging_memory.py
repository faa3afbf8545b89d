"""Peak RSS of the endpoint's process around a step: provisioning, staging in and out, the report.

    python tests/benchmarks/step_staging_memory.py [--size 40:2 --size 400:20] [--upload-out]

What `python -m harness run` does in its own process with a run's data, without Airflow or
Spark: per ``--size IN:OUT`` (MiB; default 40:2 and 400:20, about the 1M and 10M-row inputs
and their rejects), in a fresh child process each (VmHWM is per process), an `EmulatedAWS`,
then the input put as provisioning does (`put_file`), the EMR runtime's stage-in of it and of
an output prefix (`Stager` with the runtime's own hooks), a CSV of OUT MiB written as the
step's output and another as its rejects (a sibling), the stage-out, and both read back as the
run report does (`run_report.head_csv_prefix`). Prints VmHWM after each phase.
``--upload-out`` stages out through `upload_file` (HTTP, multipart) instead of the runtime's
put, to compare. Prints numbers; asserts nothing about them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.benchmarks.s3_memory import child_result, vm_hwm_mib  # noqa: E402

MIB = 1024 * 1024
BUCKET = "staging-memory"
ROW = "2024-01-01,produto_123,3,19.99,vendedor_45\n"


def _vm_hwm_mib() -> int:
    return int(vm_hwm_mib())


def _write_csv(path: Path, mib: int) -> None:
    block = ROW * (MIB // len(ROW))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        f.write("data,produto,quantidade,preco_unitario,vendedor\n")
        for _ in range(mib):
            f.write(block)


def child(in_mib: int, out_mib: int, upload_out: bool) -> dict:
    sys.path.insert(0, str(ROOT))
    from harness.emr.staging import Stager
    from harness.emr.steps import S3Uri
    from harness.endpoint import EmulatedAWS
    from harness.run_report import head_csv_prefix

    peaks: dict = {}
    with tempfile.TemporaryDirectory(prefix="staging-memory-") as tmp:
        source = Path(tmp, "input.csv")
        _write_csv(source, in_mib)
        with EmulatedAWS(workdir=Path(tmp, "aws")) as aws:
            s3 = aws.client("s3")
            s3.create_bucket(Bucket=BUCKET)
            s3.put_object(Bucket=BUCKET, Key="warm-up", Body=b"x")
            peaks["start"] = _vm_hwm_mib()
            assert aws.put_file(source, BUCKET, "input/vendas.csv")
            peaks["provisioned"] = _vm_hwm_mib()
            runner = aws.runtime.step_runner
            mirror = Path(tmp, "mirror")
            stager = Stager(s3, mirror, copy_object=runner.copy_object,
                            put_object=None if upload_out else runner.put_object)  # fmt: skip
            snap = stager.stage_in([S3Uri(BUCKET, "input/vendas.csv"), S3Uri(BUCKET, "out/")])
            peaks["staged in"] = _vm_hwm_mib()
            for name in ("out", "out_rejeitados"):
                _write_csv(mirror / BUCKET / name / "part-00000.csv", out_mib)
            assert len(stager.stage_out(snap).uploaded) == 2
            peaks["staged out"] = _vm_hwm_mib()
            rows = [head_csv_prefix(s3, BUCKET, prefix, limit=50)[2]
                    for prefix in ("out/", "out_rejeitados/")]
            assert rows[0] == rows[1] == out_mib * (MIB // len(ROW)), rows
            peaks["read back"] = _vm_hwm_mib()
    return peaks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", action="append", help="IN:OUT in MiB (default 40:2, 400:20)")
    parser.add_argument("--upload-out", action="store_true",
                        help="stage out through upload_file (HTTP) instead of the runtime's put")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = args.size or ["40:2", "400:20"]
    if args.child:
        in_mib, out_mib = (int(x) for x in sizes[0].split(":"))
        print(json.dumps(child(in_mib, out_mib, args.upload_out)))
        return 0
    print(f"load average {os.getloadavg()[0]:.1f}; stage-out through "
          f"{'upload_file' if args.upload_out else 'the runtime (put_file_as_object)'}")
    for size in sizes:
        argv = [__file__, "--child", "--size", size]
        argv += ["--upload-out"] if args.upload_out else []
        peaks = child_result(argv)
        if peaks is None:
            return 1
        print(f"{size:>8} MiB (in:out): peak RSS " + ", ".join(
            f"{phase} {mib}" for phase, mib in peaks.items()) + " MiB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

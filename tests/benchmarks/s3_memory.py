"""Peak RSS of a process hosting the emulated S3 while a file goes in and out through boto3.

    python tests/benchmarks/s3_memory.py [--mib 40 --mib 400] [--moto-only] [--boto3-defaults]

Per size, in a fresh child process each (VmHWM is per process): an `EmulatedAWS`, then
`upload_file` (multipart), `download_file` (ranged GETs), one ranged `get_object` and the EMR
runtime's stage-in of the object (`harness.s3_streaming.copy_object_to_file`), the bytes
checked by SHA-256. Transfers use the harness's own `harness.transfer.transfer_config()` (8 MiB
parts, 4 in flight) as provisioning and staging do; `--boto3-defaults` uses boto3's (8 MiB, 10
threads) instead. Prints the peak RSS before the transfers, after the upload, after the
download and at the end. `--moto-only` skips `harness.s3_streaming` (moto's own whole-object
paths), to compare. Prints numbers; asserts nothing about them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024


def vm_hwm_mib() -> float:
    """This process's peak RSS (VmHWM) in MiB; NaN where /proc does not say."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child_result(argv: list[str]) -> dict | None:
    """Run one measurement in a fresh interpreter (``argv``: this script with its child flags,
    from the repository root) and return the JSON it printed last; on failure print its output
    and return None."""
    out = subprocess.run([sys.executable, *argv], capture_output=True, text=True, check=False,
                         cwd=ROOT)  # fmt: skip
    if out.returncode != 0:
        print(out.stdout + out.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(MIB):
            digest.update(block)
    return digest.hexdigest()


def child(mib: int, moto_only: bool, boto3_defaults: bool) -> dict:
    sys.path.insert(0, str(ROOT))
    from harness import s3_streaming

    if moto_only:
        s3_streaming.install = lambda: None  # moto's own paths, for comparison
    from boto3.s3.transfer import TransferConfig

    from harness.endpoint import EmulatedAWS
    from harness.transfer import transfer_config

    config = TransferConfig() if boto3_defaults else transfer_config()

    with tempfile.TemporaryDirectory(prefix="s3-memory-") as tmp:
        src, dst = Path(tmp, "in.bin"), Path(tmp, "out.bin")
        with src.open("wb") as f:
            for _ in range(mib):
                f.write(os.urandom(MIB))
        with EmulatedAWS(workdir=Path(tmp, "aws")) as aws:
            s3 = aws.client("s3")
            s3.create_bucket(Bucket="memory-bench")
            base = vm_hwm_mib()
            t = time.perf_counter()
            s3.upload_file(str(src), "memory-bench", "in.bin", Config=config)
            upload_s, after_upload = time.perf_counter() - t, vm_hwm_mib()
            t = time.perf_counter()
            s3.download_file("memory-bench", "in.bin", str(dst), Config=config)
            download_s, after_download = time.perf_counter() - t, vm_hwm_mib()
            ranged = s3.get_object(Bucket="memory-bench", Key="in.bin",
                                   Range=f"bytes=0-{MIB - 1}")["Body"].read()  # fmt: skip
            assert len(ranged) == MIB
            same = _sha256(src) == _sha256(dst)
            head = s3.head_object(Bucket="memory-bench", Key="in.bin")
            staged = Path(tmp, "staged.bin")
            t = time.perf_counter()
            copied = s3_streaming.copy_object_to_file(
                "memory-bench", "in.bin", staged, size=head["ContentLength"],
                etag=head["ETag"].strip('"'))
            stage_s = time.perf_counter() - t
            same = same and copied and _sha256(src) == _sha256(staged)
            return {"mib": mib, "moto_only": moto_only, "base_mib": base,
                    "after_upload_mib": after_upload, "after_download_mib": after_download,
                    "peak_mib": vm_hwm_mib(), "upload_s": upload_s, "download_s": download_s,
                    "stage_s": stage_s, "same_bytes": same}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, action="append", help="object size (default 40, 400)")
    parser.add_argument("--moto-only", action="store_true")
    parser.add_argument("--boto3-defaults", action="store_true",
                        help="boto3's TransferConfig (10 threads) instead of the harness's")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = args.mib or [40, 400]
    if args.child:
        print(json.dumps(child(sizes[0], args.moto_only, args.boto3_defaults)))
        return 0
    print(f"load average {os.getloadavg()[0]:.1f}; "
          f"{'moto only' if args.moto_only else 'with harness.s3_streaming'}; transfers: "
          f"{'boto3 defaults' if args.boto3_defaults else 'harness.transfer'}")  # fmt: skip
    for mib in sizes:
        argv = [__file__, "--child", "--mib", str(mib)]
        argv += ["--moto-only"] if args.moto_only else []
        argv += ["--boto3-defaults"] if args.boto3_defaults else []
        r = child_result(argv)
        if r is None:
            return 1
        print(f"{mib:6d} MiB object: peak RSS {r['peak_mib']:7.0f} MiB (before transfers "
              f"{r['base_mib']:.0f}, after upload {r['after_upload_mib']:.0f}, after download "
              f"{r['after_download_mib']:.0f}); upload {r['upload_s']:.1f} s, download "
              f"{r['download_s']:.1f} s, stage-in copy {r['stage_s']:.2f} s; "
              f"bytes {'identical' if r['same_bytes'] else 'DIFFERENT'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

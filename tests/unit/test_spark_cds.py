"""harness.spark_cds: where the class-data archive lives, when a JVM maps it, how it is built."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import spark as hs
from harness import spark_cds
from harness.processes import start_ticks

pytest.importorskip("pyspark", reason="pyspark ships with the `spark` extra")

#: For the tests that build a real archive: the JDK Spark runs on must be able to.
_UNSUPPORTED = spark_cds.unsupported_reason(hs.java_home())
needs_cds = pytest.mark.skipif(_UNSUPPORTED is not None,
                               reason=f"this JDK cannot build an archive: {_UNSUPPORTED}")


def fake_homes(root: Path) -> tuple[Path, Path]:
    java, spark = root / "jdk", root / "spark"
    (java / "lib" / "server").mkdir(parents=True)
    (java / "release").write_text('JAVA_VERSION="17.0.15"\n')
    (java / "lib" / "server" / "libjvm.so").write_bytes(b"x")
    (spark / "jars").mkdir(parents=True)
    (spark / "jars" / "spark-core.jar").write_bytes(b"core")
    return java, spark


def test_the_archive_is_named_for_the_jdk_and_the_jars_it_was_built_from(tmp_path):
    env = {spark_cds.CACHE_DIR_ENV: str(tmp_path / "cache")}
    java, spark = fake_homes(tmp_path)
    first = spark_cds.archive_path(str(java), str(spark), env)
    assert first.parent == tmp_path / "cache" and first.suffix == ".jsa"
    assert spark_cds.archive_path(str(java), str(spark), env) == first  # stable
    (spark / "jars" / "hadoop-aws.jar").write_bytes(b"more")  # another classpath
    second = spark_cds.archive_path(str(java), str(spark), env)
    assert second != first
    (java / "release").write_text('JAVA_VERSION="17.0.16"\n')  # another JDK build
    assert spark_cds.archive_path(str(java), str(spark), env) not in (first, second)


def test_the_cache_folder_follows_xdg_unless_set(tmp_path):
    assert spark_cds.cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == \
        tmp_path / "airflow-emr" / "spark-cds"
    assert spark_cds.cache_dir({spark_cds.CACHE_DIR_ENV: "/x", "XDG_CACHE_HOME": "/y"}) == \
        Path("/x")


def test_jvm_options_only_when_the_archive_exists_and_is_not_switched_off(tmp_path):
    env = {spark_cds.CACHE_DIR_ENV: str(tmp_path)}
    java, spark = fake_homes(tmp_path)
    assert spark_cds.jvm_options(str(java), str(spark), env) == ""
    archive = spark_cds.archive_path(str(java), str(spark), env)
    archive.write_bytes(b"")
    options = spark_cds.jvm_options(str(java), str(spark), env)
    assert options == f"-XX:SharedArchiveFile={archive} {spark_cds.QUIET}"
    for off in ("off", "0", "OFF"):
        assert spark_cds.jvm_options(str(java), str(spark),
                                     {**env, spark_cds.ARCHIVE_ENV: off}) == ""  # fmt: skip


def version_argv(spark_submit: str, workdir: Path) -> list[str]:
    # A JVM that loads Spark's launcher classes and exits in about a second: a quick
    # stand-in for the training job (the real one is exercised by `python -m harness
    # spark-cache`, docs/speed.md).
    return [spark_submit, "--version"]


def spark_version_with(options: str) -> subprocess.CompletedProcess:
    env = hs.spark_submit_env({**hs.spark_submit_env(), spark_cds.ARCHIVE_ENV: "off"})
    env["SPARK_SUBMIT_OPTS"] = options
    return subprocess.run([str(Path(hs.spark_home(), "bin", "spark-submit")), "--version"],
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[spark_cds.BuildResult, dict[str, str]]:
    cache = tmp_path_factory.mktemp("spark-cds")
    env = {**os.environ, spark_cds.CACHE_DIR_ENV: str(cache)}
    return spark_cds.build(argv=version_argv, env=env), env


@needs_cds
def test_a_built_archive_is_mapped_by_the_next_spark_jvm(built):
    result, env = built
    assert result.built and result.path.is_file() and result.path.stat().st_size > 1_000_000
    # Nothing beside it but its record: no partial dump, no build folder.
    assert sorted(result.path.parent.iterdir()) == [result.path, result.path.with_suffix(".json")]
    options = spark_cds.jvm_options(hs.java_home(), hs.spark_home(), env)
    assert options
    # -Xshare:on makes a JVM that cannot map the archive fail instead of starting without it.
    mapped = spark_version_with(f"-Xshare:on {options}")
    assert mapped.returncode == 0, mapped.stdout + mapped.stderr
    assert "version" in (mapped.stdout + mapped.stderr).lower()
    # Present: not built again unless asked.
    again = spark_cds.build(argv=version_argv, env=env)
    assert (again.built, again.path) == (False, result.path)
    assert json.loads(result.path.with_suffix(".json").read_text()) == {
        "java_home": hs.java_home(), "spark_home": hs.spark_home()}


@needs_cds
def test_an_archive_in_a_folder_with_a_space_is_quoted_for_the_launcher(built, tmp_path):
    result, _ = built
    spaced = tmp_path / "Jane Doe" / "spark-cds"
    spaced.mkdir(parents=True)
    shutil.copy(result.path, spaced / result.path.name)
    options = spark_cds.jvm_options(hs.java_home(), hs.spark_home(),
                                    {spark_cds.CACHE_DIR_ENV: str(spaced)})  # fmt: skip
    assert f'"{spaced / result.path.name}"' in options
    mapped = spark_version_with(f"-Xshare:on {options}")
    assert mapped.returncode == 0, mapped.stdout + mapped.stderr


@needs_cds
def test_an_archive_of_another_classpath_is_refused_under_xshare_on_and_silent_otherwise(
        tmp_path):  # fmt: skip
    other = tmp_path / "other.jsa"
    # An archive dumped by a JVM with one more classpath entry than spark-submit's.
    java = Path(hs.java_home(), "bin", "java")
    jars = f"{tmp_path}/x.jar:{hs.spark_home()}/jars/*"
    subprocess.run([str(java), f"-XX:ArchiveClassesAtExit={other}", "-cp", jars,
                    "org.apache.spark.launcher.Main", "--help"],
                   capture_output=True, timeout=120, check=False)  # fmt: skip
    assert other.is_file()
    refused = spark_version_with(f"-Xshare:on -XX:SharedArchiveFile={other}")
    assert refused.returncode != 0
    quiet = spark_version_with(f"-XX:SharedArchiveFile={other} {spark_cds.QUIET}")
    assert quiet.returncode == 0
    assert "archive" not in quiet.stdout.lower(), quiet.stdout  # no CDS warning on stdout


#: A fake training run's first words: it writes half an archive where the JVM would dump one.
HALF_A_DUMP = 'echo half > "${SPARK_SUBMIT_OPTS##*-XX:ArchiveClassesAtExit=}"'


@needs_cds
def test_a_failed_training_run_says_why_and_leaves_nothing(tmp_path):
    env = {**os.environ, spark_cds.CACHE_DIR_ENV: str(tmp_path)}

    def failing(spark_submit: str, workdir: Path) -> list[str]:
        return ["sh", "-c", f"{HALF_A_DUMP}; echo 'no such table: vendas' >&2; exit 3"]

    with pytest.raises(spark_cds.SparkCdsError, match="exit(ed)? with code 3") as info:
        spark_cds.build(argv=failing, env=env)
    assert "no such table: vendas" in str(info.value)
    assert list(tmp_path.iterdir()) == []


@needs_cds
def test_a_training_run_past_its_timeout_is_stopped_and_leaves_nothing(tmp_path):
    env = {**os.environ, spark_cds.CACHE_DIR_ENV: str(tmp_path)}
    pid_file = tmp_path.parent / f"{tmp_path.name}.pid"

    def hanging(spark_submit: str, workdir: Path) -> list[str]:
        return ["sh", "-c", f"{HALF_A_DUMP}; echo $$ > {pid_file}; exec sleep 60"]

    with pytest.raises(spark_cds.SparkCdsError, match="did not finish in 1 s"):
        spark_cds.build(argv=hanging, env=env, timeout=1.0)
    assert list(tmp_path.iterdir()) == []
    assert start_ticks(int(pid_file.read_text())) is None  # the training process is gone


def test_the_training_jvm_maps_no_archive_and_keeps_its_warnings(tmp_path):
    seen = tmp_path / "opts"
    env = {**os.environ, spark_cds.CACHE_DIR_ENV: str(tmp_path / "cache"),
           "SPARK_SUBMIT_OPTS": "-Dmine=1 -XX:SharedArchiveFile=/old.jsa -Xshare:auto"}

    def recording(spark_submit: str, workdir: Path) -> list[str]:
        return ["sh", "-c", f'echo "$SPARK_SUBMIT_OPTS" > {seen}; {HALF_A_DUMP}']

    spark_cds.build(argv=recording, env=env, java_home=hs.java_home())
    dump = str(tmp_path / "cache" / f".building-{os.getpid()}" / "")
    assert seen.read_text().split() == ["-Dmine=1", seen.read_text().split()[-1]]
    assert seen.read_text().split()[-1].startswith(f"-XX:ArchiveClassesAtExit={dump}")


def test_prune_removes_archives_of_gone_virtualenvs_and_dead_builds(tmp_path):
    alive = tmp_path / "venv" / "pyspark"
    alive.mkdir(parents=True)
    for name, home in (("spark-kept", alive), ("spark-gone", tmp_path / "deleted" / "pyspark")):
        (tmp_path / f"{name}.jsa").write_bytes(b"")
        (tmp_path / f"{name}.json").write_text(json.dumps({"spark_home": str(home)}))
    proc = subprocess.Popen(["true"])
    proc.wait()
    (tmp_path / f".building-{proc.pid}").mkdir()
    (tmp_path / f".building-{os.getpid()}").mkdir()  # this process's own build
    removed = spark_cds.prune(tmp_path)
    assert sorted(p.name for p in removed) == [f".building-{proc.pid}", "spark-gone.jsa"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f".building-{os.getpid()}", "spark-kept.jsa", "spark-kept.json", "venv"]


@pytest.mark.parametrize("value", ["disabled", "nope"])
def test_an_unknown_switch_value_is_an_error_that_names_the_variable(value):
    with pytest.raises(ValueError, match=f"HARNESS_SPARK_CDS='{value}': use 'off'"):
        spark_cds.jvm_options("/jdk", "/spark", {spark_cds.ARCHIVE_ENV: value})

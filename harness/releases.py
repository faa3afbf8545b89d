"""Amazon EMR release labels -> the Spark, Python, Hadoop and Amazon Linux versions on the cluster.

One table shared by the DAG checks, the emulator's version guard and `nox -s spark_compat`,
so "which Spark does my cluster run?" has one answer in the repository.

Sources (read 2026-11-25; versions are upstream ones, without AWS's "-amzn-N" suffix):
- emr-5.0.0 ... emr-5.34.0 and emr-6.0.0 ... emr-6.5.0, Spark and Hadoop: the Amazon EMR
  release guide's own source, github.com/awsdocs/amazon-emr-release-guide (archived 2023),
  doc_source/Spark-release-history.md and doc_source/Hadoop-release-history.md.
- Later labels, from https://docs.aws.amazon.com/emr/latest/ReleaseGuide/ :
  emr-release-app-versions-5.x/6.x/7.x and emr-release-6x (the label lists);
  Spark-release-history (Spark, emr-7.8.0 ... emr-7.13.0); Hadoop-release-history (Hadoop,
  emr-7.7.0 ... emr-7.13.0); the per-release "application versions" tables of emr-5360-release
  (Hadoop, Python: 5.33.1 ... 5.36.0), emr-6150-release and emr-6140-release (6.11.1 ...
  6.15.0), emr-6100-release (6.8.1 ... 6.10.0), emr-710-release (7.0.0 ... 7.3.0).
  And https://docs.aws.amazon.com/emr/latest/EMR-Serverless-UserGuide/release-version-NNN for
  Spark of 6.6.0, 6.8.0, 6.10.0 ... 6.15.0, 7.0.0, 7.1.0, 7.3.0 ... 7.7.0 (EMR Serverless runs
  the same upstream Spark as EMR on EC2 for a label).
- The cells those pages did not show -- Spark of emr-5.35.0, 5.36.0, 6.7.0, 6.8.1, 6.9.0,
  6.9.1, 6.10.1, 6.11.1, 7.2.0; Hadoop of 6.6.0 ... 6.8.0, 6.10.1, 6.11.0, 7.4.0 ... 7.6.0 --
  come from a public compilation checked cell by cell against AWS's "Application versions"
  pages and the EMR on EKS release notes: github.com/EdgarSocrates98/spark-forge-aws,
  knowledge/emr/runtime-matrix.md and knowledge/emr-eks/runtime-matrix.md. It agrees with
  every AWS cell read here.
- python is the interpreter PySpark uses by default: 2.7 before emr-5.30.0 ("Python 3 is the
  default for Amazon EMR version 5.30.0 and later", emr-5300-release); 3.7 on Amazon Linux 2
  (the tables list "2.7, 3.7"; "Python 3 is now the default version of Python in EMR",
  emr-600-release); 3.9 on 7.x (tables: "3.9" for 7.0.0, "3.9, 3.11" after); 3.11 from
  emr-7.13.0 ("Python 3.11 is now the default Python version for PySpark and Spark
  workloads", its release notes as quoted by the compilation above; not read first-hand).
- amazon_linux: "1" (the Amazon Linux AMI) before emr-5.30.0, "2" from 5.30.0 ("In EMR version
  5.30.0 and later, EMR uses Amazon Linux 2") and for 6.x ("Amazon Linux 2 is the operating
  system for the EMR 6.x release series"), "2023" for 7.x.
Not in the table (AWS lists them; no source read gave their Spark version): emr-5.0.1,
emr-5.0.2, emr-5.36.1, emr-5.36.2.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

__all__ = ["Release", "RELEASES", "UnknownReleaseError", "get_release"]

#: Where a new label's versions are published ("Application versions in Amazon EMR 7.x releases").
RELEASE_GUIDE_URL = (
    "https://docs.aws.amazon.com/emr/latest/ReleaseGuide/emr-release-app-versions-7.x.html"
)


@dataclass(frozen=True)
class Release:
    label: str
    spark: str
    python: str  # the interpreter PySpark runs on by default
    hadoop: str
    amazon_linux: str  # "1" (Amazon Linux AMI), "2" or "2023"

    @property
    def spark_minor(self) -> str:
        """'3.4.1' -> '3.4': the compatibility unit for PySpark APIs."""
        return ".".join(self.spark.split(".")[:2])

    @property
    def line(self) -> int:
        """'emr-6.15.0' -> 6: the release line (5.x, 6.x, 7.x)."""
        return _version(self.label)[0]


class UnknownReleaseError(KeyError):
    """A release label that is not in the table (typo, or a release we have not vetted)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


# label, Spark, Python (PySpark default), Hadoop, Amazon Linux -- one row per label, in order.
_ROWS: tuple[tuple[str, str, str, str, str], ...] = (
    ("emr-5.0.0", "2.0.0", "2.7", "2.7.2", "1"),
    ("emr-5.0.3", "2.0.1", "2.7", "2.7.3", "1"),
    ("emr-5.1.0", "2.0.1", "2.7", "2.7.3", "1"),
    ("emr-5.1.1", "2.0.1", "2.7", "2.7.3", "1"),
    ("emr-5.2.0", "2.0.2", "2.7", "2.7.3", "1"),
    ("emr-5.2.1", "2.0.2", "2.7", "2.7.3", "1"),
    ("emr-5.2.2", "2.0.2", "2.7", "2.7.3", "1"),
    ("emr-5.2.3", "2.0.2", "2.7", "2.7.3", "1"),
    ("emr-5.3.0", "2.1.0", "2.7", "2.7.3", "1"),
    ("emr-5.3.1", "2.1.0", "2.7", "2.7.3", "1"),
    ("emr-5.3.2", "2.1.0", "2.7", "2.7.3", "1"),
    ("emr-5.4.0", "2.1.0", "2.7", "2.7.3", "1"),
    ("emr-5.4.1", "2.1.0", "2.7", "2.7.3", "1"),
    ("emr-5.5.0", "2.1.0", "2.7", "2.7.3", "1"),
    ("emr-5.5.1", "2.1.0", "2.7", "2.7.3", "1"),
    ("emr-5.5.2", "2.1.0", "2.7", "2.7.3", "1"),
    ("emr-5.5.3", "2.1.0", "2.7", "2.7.3", "1"),
    ("emr-5.5.4", "2.1.0", "2.7", "2.7.3", "1"),
    ("emr-5.6.0", "2.1.1", "2.7", "2.7.3", "1"),
    ("emr-5.6.1", "2.1.1", "2.7", "2.7.3", "1"),
    ("emr-5.7.0", "2.1.1", "2.7", "2.7.3", "1"),
    ("emr-5.7.1", "2.1.1", "2.7", "2.7.3", "1"),
    ("emr-5.8.0", "2.2.0", "2.7", "2.7.3", "1"),
    ("emr-5.8.1", "2.2.0", "2.7", "2.7.3", "1"),
    ("emr-5.8.2", "2.2.0", "2.7", "2.7.3", "1"),
    ("emr-5.8.3", "2.2.0", "2.7", "2.7.3", "1"),
    ("emr-5.9.0", "2.2.0", "2.7", "2.7.3", "1"),
    ("emr-5.9.1", "2.2.0", "2.7", "2.7.3", "1"),
    ("emr-5.10.0", "2.2.0", "2.7", "2.7.3", "1"),
    ("emr-5.10.1", "2.2.0", "2.7", "2.7.3", "1"),
    ("emr-5.11.0", "2.2.1", "2.7", "2.7.3", "1"),
    ("emr-5.11.1", "2.2.1", "2.7", "2.7.3", "1"),
    ("emr-5.11.2", "2.2.1", "2.7", "2.7.3", "1"),
    ("emr-5.11.3", "2.2.1", "2.7", "2.7.3", "1"),
    ("emr-5.11.4", "2.2.1", "2.7", "2.7.3", "1"),
    ("emr-5.12.0", "2.2.1", "2.7", "2.8.3", "1"),
    ("emr-5.12.1", "2.2.1", "2.7", "2.8.3", "1"),
    ("emr-5.12.2", "2.2.1", "2.7", "2.8.3", "1"),
    ("emr-5.12.3", "2.2.1", "2.7", "2.8.3", "1"),
    ("emr-5.13.0", "2.3.0", "2.7", "2.8.3", "1"),
    ("emr-5.13.1", "2.3.0", "2.7", "2.8.3", "1"),
    ("emr-5.14.0", "2.3.0", "2.7", "2.8.3", "1"),
    ("emr-5.14.1", "2.3.0", "2.7", "2.8.3", "1"),
    ("emr-5.14.2", "2.3.0", "2.7", "2.8.3", "1"),
    ("emr-5.15.0", "2.3.0", "2.7", "2.8.3", "1"),
    ("emr-5.15.1", "2.3.0", "2.7", "2.8.3", "1"),
    ("emr-5.16.0", "2.3.1", "2.7", "2.8.4", "1"),
    ("emr-5.16.1", "2.3.1", "2.7", "2.8.4", "1"),
    ("emr-5.17.0", "2.3.1", "2.7", "2.8.4", "1"),
    ("emr-5.17.1", "2.3.1", "2.7", "2.8.4", "1"),
    ("emr-5.17.2", "2.3.1", "2.7", "2.8.4", "1"),
    ("emr-5.18.0", "2.3.2", "2.7", "2.8.4", "1"),
    ("emr-5.18.1", "2.3.2", "2.7", "2.8.4", "1"),
    ("emr-5.19.0", "2.3.2", "2.7", "2.8.5", "1"),
    ("emr-5.19.1", "2.3.2", "2.7", "2.8.5", "1"),
    ("emr-5.20.0", "2.4.0", "2.7", "2.8.5", "1"),
    ("emr-5.20.1", "2.4.0", "2.7", "2.8.5", "1"),
    ("emr-5.21.0", "2.4.0", "2.7", "2.8.5", "1"),
    ("emr-5.21.1", "2.4.0", "2.7", "2.8.5", "1"),
    ("emr-5.21.2", "2.4.0", "2.7", "2.8.5", "1"),
    ("emr-5.22.0", "2.4.0", "2.7", "2.8.5", "1"),
    ("emr-5.23.0", "2.4.0", "2.7", "2.8.5", "1"),
    ("emr-5.23.1", "2.4.0", "2.7", "2.8.5", "1"),
    ("emr-5.24.0", "2.4.2", "2.7", "2.8.5", "1"),
    ("emr-5.24.1", "2.4.2", "2.7", "2.8.5", "1"),
    ("emr-5.25.0", "2.4.3", "2.7", "2.8.5", "1"),
    ("emr-5.26.0", "2.4.3", "2.7", "2.8.5", "1"),
    ("emr-5.27.0", "2.4.4", "2.7", "2.8.5", "1"),
    ("emr-5.27.1", "2.4.4", "2.7", "2.8.5", "1"),
    ("emr-5.28.0", "2.4.4", "2.7", "2.8.5", "1"),
    ("emr-5.28.1", "2.4.4", "2.7", "2.8.5", "1"),
    ("emr-5.29.0", "2.4.4", "2.7", "2.8.5", "1"),
    ("emr-5.30.0", "2.4.5", "3.7", "2.8.5", "2"),
    ("emr-5.30.1", "2.4.5", "3.7", "2.8.5", "2"),
    ("emr-5.30.2", "2.4.5", "3.7", "2.8.5", "2"),
    ("emr-5.31.0", "2.4.6", "3.7", "2.10.0", "2"),
    ("emr-5.31.1", "2.4.6", "3.7", "2.10.0", "2"),
    ("emr-5.32.0", "2.4.7", "3.7", "2.10.1", "2"),
    ("emr-5.32.1", "2.4.7", "3.7", "2.10.1", "2"),
    ("emr-5.33.0", "2.4.7", "3.7", "2.10.1", "2"),
    ("emr-5.33.1", "2.4.7", "3.7", "2.10.1", "2"),
    ("emr-5.34.0", "2.4.8", "3.7", "2.10.1", "2"),
    ("emr-5.35.0", "2.4.8", "3.7", "2.10.1", "2"),
    ("emr-5.36.0", "2.4.8", "3.7", "2.10.1", "2"),
    ("emr-6.0.0", "2.4.4", "3.7", "3.2.1", "2"),
    ("emr-6.0.1", "2.4.4", "3.7", "3.2.1", "2"),
    ("emr-6.1.0", "3.0.0", "3.7", "3.2.1", "2"),
    ("emr-6.1.1", "3.0.0", "3.7", "3.2.1", "2"),
    ("emr-6.2.0", "3.0.1", "3.7", "3.2.1", "2"),
    ("emr-6.2.1", "3.0.1", "3.7", "3.2.1", "2"),
    ("emr-6.3.0", "3.1.1", "3.7", "3.2.1", "2"),
    ("emr-6.3.1", "3.1.1", "3.7", "3.2.1", "2"),
    ("emr-6.4.0", "3.1.2", "3.7", "3.2.1", "2"),
    ("emr-6.5.0", "3.1.2", "3.7", "3.2.1", "2"),
    ("emr-6.6.0", "3.2.0", "3.7", "3.2.1", "2"),
    ("emr-6.7.0", "3.2.1", "3.7", "3.2.1", "2"),
    ("emr-6.8.0", "3.3.0", "3.7", "3.2.1", "2"),
    ("emr-6.8.1", "3.3.0", "3.7", "3.2.1", "2"),
    ("emr-6.9.0", "3.3.0", "3.7", "3.3.3", "2"),
    ("emr-6.9.1", "3.3.0", "3.7", "3.3.3", "2"),
    ("emr-6.10.0", "3.3.1", "3.7", "3.3.3", "2"),
    ("emr-6.10.1", "3.3.1", "3.7", "3.3.3", "2"),
    ("emr-6.11.0", "3.3.2", "3.7", "3.3.3", "2"),
    ("emr-6.11.1", "3.3.2", "3.7", "3.3.3", "2"),
    ("emr-6.12.0", "3.4.0", "3.7", "3.3.3", "2"),
    ("emr-6.13.0", "3.4.1", "3.7", "3.3.3", "2"),
    ("emr-6.14.0", "3.4.1", "3.7", "3.3.3", "2"),
    ("emr-6.15.0", "3.4.1", "3.7", "3.3.6", "2"),
    ("emr-7.0.0", "3.5.0", "3.9", "3.3.6", "2023"),
    ("emr-7.1.0", "3.5.0", "3.9", "3.3.6", "2023"),
    ("emr-7.2.0", "3.5.1", "3.9", "3.3.6", "2023"),
    ("emr-7.3.0", "3.5.1", "3.9", "3.3.6", "2023"),
    ("emr-7.4.0", "3.5.2", "3.9", "3.4.0", "2023"),
    ("emr-7.5.0", "3.5.2", "3.9", "3.4.0", "2023"),
    ("emr-7.6.0", "3.5.3", "3.9", "3.4.0", "2023"),
    ("emr-7.7.0", "3.5.3", "3.9", "3.4.0", "2023"),
    ("emr-7.8.0", "3.5.4", "3.9", "3.4.1", "2023"),
    ("emr-7.9.0", "3.5.5", "3.9", "3.4.1", "2023"),
    ("emr-7.10.0", "3.5.5", "3.9", "3.4.1", "2023"),
    ("emr-7.11.0", "3.5.6", "3.9", "3.4.1", "2023"),
    ("emr-7.12.0", "3.5.6", "3.9", "3.4.1", "2023"),
    ("emr-7.13.0", "3.5.6", "3.11", "3.4.2", "2023"),
)

RELEASES: dict[str, Release] = {row[0]: Release(*row) for row in _ROWS}


def get_release(label: str) -> Release:
    """Look a release label up; an unknown label raises with the closest known ones."""
    try:
        return RELEASES[label]
    except (KeyError, TypeError):
        raise UnknownReleaseError(_unknown_message(label)) from None


def _unknown_message(label: object) -> str:
    close = difflib.get_close_matches(str(label), list(RELEASES), n=3, cutoff=0.6)
    closest = ", ".join(close) if close else "none"
    newest = ", ".join(_newest_per_line())
    return (
        f"unknown EMR release label {label!r}. Closest known labels: {closest}. "
        f"Newest of each line: {newest}. Labels look like 'emr-7.13.0'. If AWS lists this "
        "release, add a row to _ROWS in harness/releases.py with its Spark, Python, Hadoop and "
        f"Amazon Linux versions from the Amazon EMR release guide ({RELEASE_GUIDE_URL})."
    )


def _newest_per_line() -> list[str]:
    newest: dict[int, str] = {}
    for label in sorted(RELEASES, key=_version):
        newest[_version(label)[0]] = label
    return [newest[line] for line in sorted(newest)]


def _version(label: str) -> tuple[int, ...]:
    return tuple(int(p) for p in label.removeprefix("emr-").split("."))

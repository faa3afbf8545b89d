"""Amazon EMR release labels -> the Spark, Python and Hadoop versions on the cluster.

One table shared by the DAG checks, the emulator's version guard and `nox -s spark_compat`,
so "which Spark does my cluster run?" has one answer in the repository.
Sources: the Amazon EMR release guide's per-release application version tables.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Release", "RELEASES", "UnknownReleaseError", "get_release"]


@dataclass(frozen=True)
class Release:
    label: str
    spark: str
    python: str
    hadoop: str
    amazon_linux: str

    @property
    def spark_minor(self) -> str:
        """'3.4.1' -> '3.4': the compatibility unit for PySpark APIs."""
        return ".".join(self.spark.split(".")[:2])


class UnknownReleaseError(KeyError):
    """A release label that is not in the table (typo, or a release we have not vetted)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


def _r(label: str, spark: str, python: str, hadoop: str, al: str) -> tuple[str, Release]:
    return label, Release(label, spark, python, hadoop, al)


RELEASES: dict[str, Release] = dict(
    [
        _r("emr-6.12.0", "3.4.0", "3.7", "3.3.3", "2"),
        _r("emr-6.13.0", "3.4.1", "3.7", "3.3.3", "2"),
        _r("emr-6.14.0", "3.4.1", "3.7", "3.3.3", "2"),
        _r("emr-6.15.0", "3.4.1", "3.7", "3.3.6", "2"),
        _r("emr-7.0.0", "3.5.0", "3.9", "3.3.6", "2023"),
        _r("emr-7.1.0", "3.5.0", "3.9", "3.3.6", "2023"),
        _r("emr-7.2.0", "3.5.1", "3.9", "3.3.6", "2023"),
        _r("emr-7.10.0", "3.5.5", "3.9", "3.4.1", "2023"),
        _r("emr-7.13.0", "3.5.6", "3.9", "3.4.1", "2023"),
    ]
)


def get_release(label: str) -> Release:
    """Look a release label up; an unknown label raises with the known ones listed."""
    try:
        return RELEASES[label]
    except KeyError:
        known = ", ".join(sorted(RELEASES, key=_sort_key))
        raise UnknownReleaseError(
            f"unknown EMR release label {label!r}; known labels: {known}. "
            "Add it to harness/releases.py with its Spark/Python/Hadoop versions."
        ) from None


def _sort_key(label: str) -> tuple[int, ...]:
    return tuple(int(p) for p in label.removeprefix("emr-").split("."))

"""The EMR release table: complete per line, well-formed, checked against the AWS sources."""

from __future__ import annotations

import re

import pytest

from harness.releases import _ROWS, RELEASES, Release, UnknownReleaseError, get_release

# The labels of each line as the Amazon EMR release guide's "Application versions in Amazon EMR
# N.x releases" pages list them (2026-11-25), transcribed apart from the table so a dropped or
# mistyped row fails. Patch labels are written out; the rest is every minor with patch 0.
_PATCHES = {
    5: """5.0.3 5.1.1 5.2.1 5.2.2 5.2.3 5.3.1 5.3.2 5.4.1 5.5.1 5.5.2 5.5.3 5.5.4 5.6.1 5.7.1
          5.8.1 5.8.2 5.8.3 5.9.1 5.10.1 5.11.1 5.11.2 5.11.3 5.11.4 5.12.1 5.12.2 5.12.3
          5.13.1 5.14.1 5.14.2 5.15.1 5.16.1 5.17.1 5.17.2 5.18.1 5.19.1 5.20.1 5.21.1 5.21.2
          5.23.1 5.24.1 5.27.1 5.28.1 5.30.1 5.30.2 5.31.1 5.32.1 5.33.1""".split(),
    6: "6.0.1 6.1.1 6.2.1 6.3.1 6.8.1 6.9.1 6.10.1 6.11.1".split(),
    7: [],
}
_LAST_MINOR = {5: 36, 6: 15, 7: 13}
# Listed by AWS, but no source read gave their Spark version (see the module docstring).
_UNSOURCED = {"emr-5.0.1", "emr-5.0.2", "emr-5.36.1", "emr-5.36.2"}


def _aws_labels(line: int) -> set[str]:
    minors = {f"emr-{line}.{minor}.0" for minor in range(_LAST_MINOR[line] + 1)}
    return minors | {f"emr-{label}" for label in _PATCHES[line]}


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.removeprefix("emr-").split("."))


def _line(line: int) -> list[Release]:
    return sorted((r for r in RELEASES.values() if r.line == line), key=lambda r: _key(r.label))


@pytest.mark.parametrize("line", [5, 6, 7])
def test_every_label_aws_lists_is_in_the_table(line):
    listed = _aws_labels(line) - _UNSOURCED
    have = {r.label for r in _line(line)}
    assert sorted(listed - have, key=_key) == [], "labels AWS lists that the table lacks"
    assert sorted(have - listed, key=_key) == [], "labels in the table that AWS does not list"


def test_unsourced_labels_are_really_absent():
    # If one gets a source, move it into the table and out of _UNSOURCED.
    assert _UNSOURCED.isdisjoint(RELEASES)


def test_labels_are_well_formed_unique_and_in_order():
    labels = [row[0] for row in _ROWS]
    assert all(re.fullmatch(r"emr-[567]\.\d+\.\d+", label) for label in labels), labels
    assert len(labels) == len(set(labels)) == len(RELEASES)
    assert labels == sorted(labels, key=_key)
    assert all(release.label == label for label, release in RELEASES.items())


@pytest.mark.parametrize("release", list(RELEASES.values()), ids=lambda r: r.label)
def test_versions_parse(release):
    assert re.fullmatch(r"\d+\.\d+\.\d+", release.spark), release
    assert re.fullmatch(r"\d+\.\d+\.\d+", release.hadoop), release
    assert re.fullmatch(r"[23]\.\d+", release.python), release
    assert release.amazon_linux in {"1", "2", "2023"}, release


@pytest.mark.parametrize("line", [5, 6, 7])
@pytest.mark.parametrize("field", ["spark", "hadoop", "python", "amazon_linux"])
def test_versions_never_decrease_within_a_line(line, field):
    # A sanity check that catches a mistyped cell: AWS never downgrades these within a line.
    releases = _line(line)
    for before, after in zip(releases, releases[1:], strict=False):
        assert _key(getattr(before, field)) <= _key(getattr(after, field)), (before, after)


# (label, Spark, Hadoop, Python, Amazon Linux) read from the sources named in the module.
SPOT_VALUES = [
    ("emr-5.0.0", "2.0.0", "2.7.2", "2.7", "1"),
    ("emr-5.16.0", "2.3.1", "2.8.4", "2.7", "1"),  # the CVE-2018-8024 note names 5.16.0 / 2.3.1
    ("emr-5.29.0", "2.4.4", "2.8.5", "2.7", "1"),
    ("emr-5.30.0", "2.4.5", "2.8.5", "3.7", "2"),  # Amazon Linux 2, Python 3 default
    ("emr-5.36.0", "2.4.8", "2.10.1", "3.7", "2"),
    ("emr-6.0.0", "2.4.4", "3.2.1", "3.7", "2"),
    ("emr-6.5.0", "3.1.2", "3.2.1", "3.7", "2"),
    ("emr-6.10.0", "3.3.1", "3.3.3", "3.7", "2"),
    ("emr-6.15.0", "3.4.1", "3.3.6", "3.7", "2"),
    ("emr-7.0.0", "3.5.0", "3.3.6", "3.9", "2023"),
    ("emr-7.8.0", "3.5.4", "3.4.1", "3.9", "2023"),
    ("emr-7.10.0", "3.5.5", "3.4.1", "3.9", "2023"),
    ("emr-7.13.0", "3.5.6", "3.4.2", "3.11", "2023"),
]


@pytest.mark.parametrize(("label", "spark", "hadoop", "python", "al"), SPOT_VALUES)
def test_spot_values_match_the_sources(label, spark, hadoop, python, al):
    release = get_release(label)
    assert (release.spark, release.hadoop, release.python, release.amazon_linux) == (
        spark,
        hadoop,
        python,
        al,
    )


def test_seed_release_is_spark_3_4_on_python_3_7():
    release = get_release("emr-6.15.0")
    assert (release.spark_minor, release.line) == ("3.4", 6)


@pytest.mark.parametrize("release", _line(7), ids=lambda r: r.label)
def test_emr_7_releases_run_spark_3_5_on_amazon_linux_2023(release):
    assert (release.spark_minor, release.amazon_linux) == ("3.5", "2023")
    # emr-7.13.0 made Python 3.11 the PySpark default; 3.9 before.
    assert release.python == ("3.11" if _key(release.label) >= (7, 13, 0) else "3.9")


def test_unknown_label_names_the_closest_labels_and_the_newest_of_each_line():
    with pytest.raises(UnknownReleaseError) as info:
        get_release("emr-6.15")
    message = str(info.value)
    assert message.startswith(
        "unknown EMR release label 'emr-6.15'. Closest known labels: emr-6.15.0,"
    )
    assert "Newest of each line: emr-5.36.0, emr-6.15.0, emr-7.13.0." in message
    assert "add a row to _ROWS in harness/releases.py" in message
    assert "docs.aws.amazon.com/emr/latest/ReleaseGuide" in message


def test_unknown_label_without_a_close_match_says_so():
    with pytest.raises(UnknownReleaseError, match="Closest known labels: none."):
        get_release("spark-3.5")


@pytest.mark.parametrize("label", [None, ["emr-6.15.0"]])
def test_a_non_string_label_is_an_unknown_release_not_a_crash(label):
    # The emulator's version guard catches UnknownReleaseError only.
    with pytest.raises(UnknownReleaseError, match="unknown EMR release label"):
        get_release(label)


def test_unknown_release_error_is_a_key_error():
    assert issubclass(UnknownReleaseError, KeyError)

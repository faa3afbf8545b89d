from __future__ import annotations

import pytest

from harness.releases import RELEASES, UnknownReleaseError, get_release


def test_seed_release_is_spark_3_4_on_python_3_7():
    release = get_release("emr-6.15.0")
    assert (release.spark, release.spark_minor, release.python) == ("3.4.1", "3.4", "3.7")


@pytest.mark.parametrize("label", [label for label in RELEASES if label.startswith("emr-7.")])
def test_emr_7_releases_run_spark_3_5_on_python_3_9(label):
    release = get_release(label)
    assert (release.spark_minor, release.python, release.amazon_linux) == ("3.5", "3.9", "2023")


def test_table_keys_match_labels():
    assert all(release.label == label for label, release in RELEASES.items())


def test_unknown_label_names_the_known_ones_in_order():
    with pytest.raises(UnknownReleaseError) as info:
        get_release("emr-6.15")
    message = str(info.value)
    assert message.startswith("unknown EMR release label 'emr-6.15'; known labels: emr-6.12.0,")
    assert "emr-7.2.0, emr-7.10.0, emr-7.13.0" in message  # numeric, not string, order


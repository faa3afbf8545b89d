"""Pure settings logic of the DAG file: Variables -> typed settings -> request bodies."""

from __future__ import annotations

import pytest


def diff_paths(a, b, path=""):
    """Paths where two JSON-like values differ (for 'changes only X' assertions)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            yield from diff_paths(a.get(key), b.get(key), f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from diff_paths(x, y, f"{path}[{i}]")
    elif a != b:
        yield path


def test_spot_switch_changes_only_the_core_group(pipeline):
    on_demand = pipeline.job_flow_overrides(pipeline.EmrSettings())
    spot = pipeline.job_flow_overrides(pipeline.EmrSettings(use_spot=True, spot_bid_price="0.10"))
    assert sorted(diff_paths(on_demand, spot)) == [
        ".Instances.InstanceGroups[1].BidPrice",
        ".Instances.InstanceGroups[1].Market",
    ]
    assert spot["Instances"]["InstanceGroups"][1]["InstanceRole"] == "CORE"


def test_spot_without_bid_price_is_capped_at_on_demand(pipeline):
    spot = pipeline.job_flow_overrides(pipeline.EmrSettings(use_spot=True))
    core = spot["Instances"]["InstanceGroups"][1]
    assert core["Market"] == "SPOT" and "BidPrice" not in core


def test_bid_price_alone_does_not_turn_spot_on(pipeline):
    settings = pipeline.EmrSettings.from_variables({"emr_spot_bid_price": "0.10"})
    core = pipeline.job_flow_overrides(settings)["Instances"]["InstanceGroups"][1]
    assert core["Market"] == "ON_DEMAND" and "BidPrice" not in core


def test_absent_and_empty_variables_give_the_defaults(pipeline):
    defaults = pipeline.EmrSettings()
    assert pipeline.EmrSettings.from_variables({}) == defaults
    empty = dict.fromkeys(pipeline.EmrSettings.VARIABLES, "")
    assert pipeline.EmrSettings.from_variables(empty) == defaults
    assert defaults.bucket == "airflow-emr-local"
    assert defaults.instance_count == 2 and defaults.use_spot is False


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("False", False), ("1", True), (" off ", False)]
)
def test_spot_switch_parsing(pipeline, raw, expected):
    assert pipeline.EmrSettings.from_variables({"emr_use_spot": raw}).use_spot is expected


def test_variable_table_matches_the_settings_fields(pipeline):
    import dataclasses

    fields = {f.name for f in dataclasses.fields(pipeline.EmrSettings)}
    assert set(pipeline.EmrSettings.VARIABLES.values()) == fields
    assert all(name.startswith("emr_") for name in pipeline.EmrSettings.VARIABLES)


def test_tags_variable_tags_the_cluster_at_creation(pipeline):
    settings = pipeline.EmrSettings.from_variables(
        {"emr_tags": '{"airflow-emr:run-id": "ab12cd34", "team": "data"}'}
    )
    body = pipeline.job_flow_overrides(settings)
    assert body["Tags"] == [
        {"Key": "airflow-emr:run-id", "Value": "ab12cd34"},
        {"Key": "team", "Value": "data"},
    ]
    # Nothing else in the request changes.
    untagged = pipeline.job_flow_overrides(pipeline.EmrSettings())
    assert list(diff_paths(untagged, body)) == [".Tags"]
    assert "Tags" not in untagged


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not json", "not JSON"),
        ('["a", "b"]', "expected a JSON object"),
        ('{"team": 7}', "tag 'team'=7"),
        ('{"": "x"}', "non-empty key"),
        ('{"k": "' + "v" * 257 + '"}', "at most 256"),
        ("{" + ",".join(f'"k{i}": "v"' for i in range(51)) + "}", "EMR allows 50"),
    ],
)
def test_bad_tags_variable_names_the_variable(pipeline, raw, message):
    with pytest.raises(pipeline.InvalidSettingError, match="emr_tags") as e:
        pipeline.EmrSettings.from_variables({"emr_tags": raw})
    assert message in str(e.value)

from pathlib import Path

import pytest

from harness.emr.steps import (
    S3Uri,
    UnsupportedStepError,
    local_path_for,
    map_s3_args,
    plan_step,
    spark_conf_from_configurations,
    spark_env_from_configurations,
    split_spark_submit,
)

M = Path("/m")
SEED_CONFIGS = [
    {
        "Classification": "spark-env",
        "Configurations": [
            {"Classification": "export", "Properties": {"PYSPARK_PYTHON": "/usr/bin/python3"}}
        ],
    },
    {"Classification": "spark-defaults", "Properties": {"spark.sql.shuffle.partitions": "7"}},
]


def plan(args, jar="command-runner.jar", configs=()):
    return plan_step(jar, args, configurations=configs, mirror_root=M, python="/py",
                     spark_submit="/spark/bin/spark-submit", aws_cli="/venv/aws")  # fmt: skip


@pytest.mark.parametrize(
    "uri,bucket,key",
    [
        ("s3://b-1/a/b.csv", "b-1", "a/b.csv"),
        ("s3a://bucket/out/", "bucket", "out/"),
        ("s3n://bucket", "bucket", ""),
        ("s3://bucket/", "bucket", ""),
    ],
)
def test_parse_uri(uri, bucket, key):
    u = S3Uri.parse(uri)
    assert (u.bucket, u.key) == (bucket, key)


def test_prefix_and_local_path():
    assert S3Uri("b", "out").prefix == "out/"
    assert S3Uri("b", "out/").prefix == "out/"
    assert S3Uri("b", "").prefix == ""
    assert local_path_for(M, S3Uri("b", "x/y.csv")) == M / "b" / "x" / "y.csv"


def test_map_args_inside_strings_and_keeps_trailing_slash():
    args, uris = map_s3_args(["s3://b/in.csv", "--out=s3a://b/out/", "plain", "a,s3://c/k"], M)
    assert args == ["/m/b/in.csv", "--out=/m/b/out/", "plain", "a,/m/c/k"]
    assert [str(u) for u in uris] == ["s3://b/in.csv", "s3://b/out/", "s3://c/k"]


def test_seed_spark_step_maps_to_local_mode():
    p = plan(
        ["spark-submit", "--deploy-mode", "cluster", "--master", "yarn",
         "--conf", "spark.executor.memory=2g", "s3://b/scripts/job.py", "s3://b/in.csv",
         "s3://b/out/"],
        configs=SEED_CONFIGS,
    )  # fmt: skip
    assert p.kind == "spark-submit"
    assert p.argv[:3] == ["/spark/bin/spark-submit", "--master", "local[2]"]
    assert "yarn" not in p.argv and "--deploy-mode" not in p.argv
    assert p.argv[-3:] == ["/m/b/scripts/job.py", "/m/b/in.csv", "/m/b/out/"]
    confs = [p.argv[i + 1] for i, a in enumerate(p.argv) if a == "--conf"]
    assert "spark.sql.shuffle.partitions=7" in confs  # cluster's spark-defaults applied
    assert "spark.executor.memory=2g" in confs  # the step's own --conf kept
    assert "spark.ui.enabled=false" in confs
    assert p.env["PYSPARK_PYTHON"] == "/py"  # /usr/bin/python3 -> local interpreter
    assert [str(u) for u in p.s3_uris] == ["s3://b/scripts/job.py", "s3://b/in.csv", "s3://b/out/"]
    assert any("--deploy-mode cluster" in n for n in p.notes)


def test_step_conf_wins_over_spark_defaults_but_local_overrides_win_over_both():
    p = plan(["spark-submit", "--conf", "spark.sql.shuffle.partitions=3",
              "--conf", "spark.ui.enabled=true", "app.py"], configs=SEED_CONFIGS)  # fmt: skip
    assert p.spark_conf["spark.sql.shuffle.partitions"] == "3"
    assert p.spark_conf["spark.ui.enabled"] == "false"


def test_split_spark_submit():
    opts, app, rest = split_spark_submit(
        ["--py-files", "a.zip", "--verbose", "--name=x", "j.py", "--flag", "v"]
    )
    assert opts == [("--py-files", "a.zip"), ("--verbose", None), ("--name", "x")]
    assert (app, rest) == ("j.py", ["--flag", "v"])
    with pytest.raises(UnsupportedStepError, match="without an application"):
        split_spark_submit(["--master", "yarn"])


def test_plain_commands():
    assert plan(["bash", "-c", "cat s3://b/k"]).argv == ["bash", "-c", "cat /m/b/k"]
    assert plan(["python3", "s3://b/x.py"]).argv == ["/py", "/m/b/x.py"]
    aws = plan(["aws", "s3", "cp", "s3://b/a", "s3://b/b"])
    assert aws.argv == ["/venv/aws", "s3", "cp", "s3://b/a", "s3://b/b"] and aws.s3_uris == []
    inline = plan(["bash", "-c", "aws s3 cp s3://b/a s3://b/c"])
    assert inline.argv[-1] == "aws s3 cp s3://b/a s3://b/c"


def test_script_runner():
    p = plan(
        ["s3://b/run.sh", "x"],
        jar="s3://us-east-1.elasticmapreduce/libs/script-runner/script-runner.jar",
    )
    assert p.argv == ["bash", "/m/b/run.sh", "x"]


@pytest.mark.parametrize("jar,args,match", [
    ("s3://b/custom.jar", ["x"], "cannot run locally"),
    ("command-runner.jar", [], "Args is empty"),
    ("command-runner.jar", ["hadoop", "fs", "-ls"], "needs a Hadoop cluster"),
])  # fmt: skip
def test_unsupported(jar, args, match):
    with pytest.raises(UnsupportedStepError, match=match):
        plan(args, jar=jar)


def test_configuration_helpers():
    assert spark_conf_from_configurations(SEED_CONFIGS) == {"spark.sql.shuffle.partitions": "7"}
    assert spark_env_from_configurations(SEED_CONFIGS, python="/py") == {"PYSPARK_PYTHON": "/py"}
    assert spark_env_from_configurations([], python="/py") == {}

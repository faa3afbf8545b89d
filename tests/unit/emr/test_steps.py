from pathlib import Path

import pytest

from harness.emr.node_commands import NodeTools
from harness.emr.steps import (
    S3Uri,
    UnsupportedStepError,
    local_path_for,
    map_s3_args,
    plain_configurations,
    plan_step,
    resolve_example,
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


TOOLS = NodeTools(spark_bin="/spark/bin", examples_root="/ex",
                  examples=("pi.py", "wordcount.py", "ml/als_example.py"), python="/py",
                  aws_cli="/venv/aws")  # fmt: skip


def plan(args, jar="command-runner.jar", configs=(), tools=TOOLS):
    return plan_step(jar, args, configurations=configs, mirror_root=M, python="/py",
                     spark_submit="/spark/bin/spark-submit", aws_cli="/venv/aws",
                     tools=tools)  # fmt: skip


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
    # a key that happens to be named like a command is not a command
    assert plan(["bash", "-c", "cat s3://b/hive x"]).argv == ["bash", "-c", "cat /m/b/hive x"]
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


def test_script_runner_passes_the_scripts_arguments_as_emr_does():
    # The script's own aws / hadoop fs / spark-submit read S3 (the shims); only the script
    # itself is staged. Without node tools, the arguments are mapped to the mirror as before.
    jar = "s3://us-east-1.elasticmapreduce/libs/script-runner/script-runner.jar"
    p = plan(["s3://b/run.sh", "s3://b/in/", "--out=s3://b/out"], jar=jar)
    assert p.argv == ["bash", "/m/b/run.sh", "s3://b/in/", "--out=s3://b/out"]
    assert [str(u) for u in p.s3_uris] == ["s3://b/run.sh"]
    old = plan(["s3://b/run.sh", "s3://b/in/"], jar=jar, tools=None)
    assert old.argv == ["bash", "/m/b/run.sh", "/m/b/in/"]


@pytest.mark.parametrize("jar,args,match", [
    ("s3://b/custom.jar", ["x"], "cannot run locally"),
    ("command-runner.jar", [], "Args is empty"),
    ("command-runner.jar", ["hive", "-f", "s3://b/q.hql"],
     r"^`hive` is not emulated \(this emulator runs steps without a Hadoop cluster\): run the "
     r"HiveQL with `spark-sql -e '...'`"),
    ("command-runner.jar", ["/usr/lib/pig/bin/pig", "x.pig"],
     r"^`pig` is not emulated .*: rewrite the Pig script as a PySpark step"),
    ("command-runner.jar", ["yarn", "application", "-list"],
     r"^`yarn` is not emulated .*there is no YARN"),
    ("command-runner.jar", ["hadoop", "jar", "s3://b/wc.jar", "WordCount"],
     r"^`hadoop jar` is not emulated: `hadoop jar` runs a JVM main class on YARN, which is not "
     r"emulated: if it is a Spark application run it as `spark-submit --class <MainClass>"),
    ("command-runner.jar", ["hadoop", "distcp", "s3://a/", "s3://b/"],
     r"^`hadoop distcp` is not emulated: use `s3-dist-cp --src"),
    ("command-runner.jar", ["hdfs", "dfsadmin", "-report"],
     r"^`hdfs dfsadmin` is not emulated: supported here: hdfs dfs, hdfs version on s3:// paths"),
    ("command-runner.jar", ["run-example", "SparkHdfsLR"],
     r"^run-example SparkHdfsLR: no Python version of this example ships with the local pyspark "
     r"\(the wheel has Spark's Python examples, not the examples JAR\)\. Available: pi, "
     r"wordcount; and under ml/"),
])  # fmt: skip
def test_unsupported(jar, args, match):
    with pytest.raises(UnsupportedStepError, match=match):
        plan(args, jar=jar)


def test_custom_jar_message_says_what_to_do():
    with pytest.raises(UnsupportedStepError) as info:
        plan(["WordCount", "s3://b/in"], jar="s3://b/jars/wordcount.jar")
    assert str(info.value) == (
        "step JAR 's3://b/jars/wordcount.jar' cannot run locally: the emulator runs "
        "command-runner.jar steps (spark-submit, bash, aws, python) and script-runner.jar. Wrap "
        "custom JARs in a `spark-submit --class ...` command-runner step."
    )


@pytest.mark.parametrize("word", ["/usr/lib/spark/bin/spark-submit", "/usr/bin/spark-submit"])
def test_absolute_spark_submit_is_the_local_one(word):
    p = plan([word, "--master", "yarn", "s3://b/job.py", "s3://b/out/"])
    assert p.kind == "spark-submit"
    assert p.argv[:3] == ["/spark/bin/spark-submit", "--master", "local[2]"]
    assert p.argv[-2:] == ["/m/b/job.py", "/m/b/out/"]


def test_run_example_runs_the_python_example_with_the_local_spark():
    p = plan(["/usr/lib/spark/bin/run-example", "--conf", "spark.x=1", "SparkPi", "10"],
             configs=SEED_CONFIGS)  # fmt: skip
    assert p.kind == "spark-submit"
    assert p.argv[:3] == ["/spark/bin/spark-submit", "--master", "local[2]"]
    assert p.argv[-2:] == ["/ex/pi.py", "10"]
    confs = [p.argv[i + 1] for i, a in enumerate(p.argv) if a == "--conf"]
    assert "spark.x=1" in confs and "spark.sql.shuffle.partitions=7" in confs
    assert p.env["HARNESS_SPARK_CONNECT"] == "0"  # examples use the RDD API
    assert any("pi.py" in n for n in p.notes)


@pytest.mark.parametrize("name,expected", [
    ("SparkPi", "pi.py"),
    ("org.apache.spark.examples.SparkPi", "pi.py"),
    ("JavaWordCount", "wordcount.py"),
    ("ml.ALSExample", "ml/als_example.py"),
    ("org.apache.spark.examples.ml.JavaALSExample", "ml/als_example.py"),
    ("pi", "pi.py"),
    ("ml/als_example.py", "ml/als_example.py"),
])  # fmt: skip
def test_example_names(name, expected):
    assert resolve_example(name, TOOLS.examples) == expected


def test_spark_sql_and_pyspark():
    sql = plan(["spark-sql", "--conf", "spark.a=b", "-e", "SELECT * FROM csv.`s3://b/in.csv`",
                "--master", "yarn"])  # fmt: skip
    assert sql.kind == "spark-submit"
    assert sql.argv[:3] == ["/spark/bin/spark-sql", "--master", "local[2]"]
    assert sql.argv[-2:] == ["-e", "SELECT * FROM csv.`/m/b/in.csv`"]
    assert "yarn" not in sql.argv and "spark.a=b" in sql.argv
    assert [str(u) for u in sql.s3_uris] == ["s3://b/in.csv"]
    f = plan(["spark-sql", "-f", "s3://b/q.sql"])
    assert f.argv[-2:] == ["-f", "/m/b/q.sql"]
    shell = plan(["/usr/bin/pyspark", "--master", "yarn"])
    assert shell.argv[:3] == ["/spark/bin/pyspark", "--master", "local[2]"]


def test_hadoop_commands_run_the_node_cli_on_s3_directly():
    p = plan(["hadoop", "fs", "-ls", "s3://b/in/"])
    assert p.argv == ["/py", "-m", "harness.emr.node_cli", "hadoop", "fs", "-ls", "s3://b/in/"]
    assert p.s3_uris == []
    d = plan(["s3-dist-cp", "--src", "s3://b/a/", "--dest", "s3://b/c/"])
    assert d.argv[3:] == ["s3-dist-cp", "--src", "s3://b/a/", "--dest", "s3://b/c/"]
    assert plan(["/usr/lib/hadoop-hdfs/bin/hdfs", "dfs", "-cat", "s3://b/k"]).argv[3] == "hdfs"


def test_command_strings_calling_node_commands_keep_their_s3_uris():
    p = plan(["bash", "-c", "hadoop fs -cp s3://b/a s3://b/c && /usr/bin/spark-submit s3://b/j.py"])
    assert p.argv[-1] == "hadoop fs -cp s3://b/a s3://b/c && /usr/bin/spark-submit s3://b/j.py"
    assert p.s3_uris == []
    assert plan(["bash", "-c", "cat s3://b/k"]).argv == ["bash", "-c", "cat /m/b/k"]
    # a key that happens to be named like a command is not a command
    assert plan(["bash", "-c", "cat s3://b/hive x"]).argv == ["bash", "-c", "cat /m/b/hive x"]


def test_without_node_tools_the_node_commands_say_so():
    with pytest.raises(UnsupportedStepError, match=r"`run-example` needs the local node tools"):
        plan(["run-example", "SparkPi"], tools=None)


def test_configurations_from_moto_keep_their_keys():
    from moto.core.parse import XFormedDict

    props = XFormedDict({"spark.executor.memoryOverhead": "1g"})
    conf = XFormedDict({"Classification": "spark-defaults", "Properties": props})
    assert "spark.executor.memory_overhead" in spark_conf_from_configurations([conf])  # moto's
    plain = plain_configurations([conf])
    assert plain == [{"Classification": "spark-defaults",
                      "Properties": {"spark.executor.memoryOverhead": "1g"}}]  # fmt: skip
    assert spark_conf_from_configurations(plain) == {"spark.executor.memoryOverhead": "1g"}


def test_configuration_helpers():
    assert spark_conf_from_configurations(SEED_CONFIGS) == {"spark.sql.shuffle.partitions": "7"}
    assert spark_env_from_configurations(SEED_CONFIGS, python="/py") == {"PYSPARK_PYTHON": "/py"}
    assert spark_env_from_configurations([], python="/py") == {}

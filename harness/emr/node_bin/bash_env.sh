# Loaded by every non-interactive bash of an emulated EMR step (BASH_ENV, set by
# harness.emr.node_commands.node_env). EMR's absolute paths of node commands become bash
# functions running the local stand-ins, so a script's `/usr/lib/spark/bin/spark-submit ...`
# works without anything written to /usr. Kept in step with ABSOLUTE_PATHS by a unit test.
# Not covered: sh/dash scripts, `exec /usr/...`, and programs other than bash that start
# these paths themselves (they find the bare names through PATH instead).
_harness_node() {
  local _harness_name=$1
  shift
  case $_harness_name in
    python3) "${HARNESS_NODE_PYTHON:?}" "$@" ;;
    aws) "${HARNESS_NODE_AWS:?}" "$@" ;;
    *) "${HARNESS_NODE_BIN:?}/$_harness_name" "$@" ;;
  esac
}
function /usr/bin/spark-submit { _harness_node spark-submit "$@"; }
function /usr/bin/spark-sql { _harness_node spark-sql "$@"; }
function /usr/bin/pyspark { _harness_node pyspark "$@"; }
function /usr/bin/run-example { _harness_node run-example "$@"; }
function /usr/bin/hadoop { _harness_node hadoop "$@"; }
function /usr/bin/hdfs { _harness_node hdfs "$@"; }
function /usr/bin/s3-dist-cp { _harness_node s3-dist-cp "$@"; }
function /usr/bin/hive { _harness_node hive "$@"; }
function /usr/bin/beeline { _harness_node beeline "$@"; }
function /usr/bin/pig { _harness_node pig "$@"; }
function /usr/bin/yarn { _harness_node yarn "$@"; }
function /usr/bin/mapred { _harness_node mapred "$@"; }
function /usr/bin/hbase { _harness_node hbase "$@"; }
function /usr/bin/flink { _harness_node flink "$@"; }
function /usr/bin/flink-yarn-session { _harness_node flink-yarn-session "$@"; }
function /usr/bin/sqoop { _harness_node sqoop "$@"; }
function /usr/bin/presto-cli { _harness_node presto-cli "$@"; }
function /usr/bin/trino-cli { _harness_node trino-cli "$@"; }
function /usr/bin/oozie { _harness_node oozie "$@"; }
function /usr/bin/zeppelin-daemon.sh { _harness_node zeppelin-daemon.sh "$@"; }
function /usr/bin/hue { _harness_node hue "$@"; }
function /usr/lib/spark/bin/spark-submit { _harness_node spark-submit "$@"; }
function /usr/lib/spark/bin/spark-sql { _harness_node spark-sql "$@"; }
function /usr/lib/spark/bin/pyspark { _harness_node pyspark "$@"; }
function /usr/lib/spark/bin/run-example { _harness_node run-example "$@"; }
function /usr/lib/spark/bin/beeline { _harness_node beeline "$@"; }
function /usr/lib/hadoop/bin/hadoop { _harness_node hadoop "$@"; }
function /usr/lib/hadoop/bin/hdfs { _harness_node hdfs "$@"; }
function /usr/lib/hadoop-hdfs/bin/hdfs { _harness_node hdfs "$@"; }
function /usr/lib/hadoop/bin/mapred { _harness_node mapred "$@"; }
function /usr/lib/hadoop-mapreduce/bin/mapred { _harness_node mapred "$@"; }
function /usr/lib/hadoop-yarn/bin/yarn { _harness_node yarn "$@"; }
function /usr/lib/hive/bin/hive { _harness_node hive "$@"; }
function /usr/lib/hive/bin/beeline { _harness_node beeline "$@"; }
function /usr/lib/pig/bin/pig { _harness_node pig "$@"; }
function /usr/lib/hbase/bin/hbase { _harness_node hbase "$@"; }
function /usr/lib/flink/bin/flink { _harness_node flink "$@"; }
function /usr/lib/sqoop/bin/sqoop { _harness_node sqoop "$@"; }
function /usr/lib/presto/bin/presto-cli { _harness_node presto-cli "$@"; }
function /usr/lib/trino/bin/trino-cli { _harness_node trino-cli "$@"; }
function /usr/share/aws/emr/s3-dist-cp/bin/s3-dist-cp { _harness_node s3-dist-cp "$@"; }
function /usr/bin/python3 { _harness_node python3 "$@"; }
function /usr/bin/python { _harness_node python3 "$@"; }
function /usr/bin/aws { _harness_node aws "$@"; }
function /usr/local/bin/aws { _harness_node aws "$@"; }
# A BASH_ENV the step's environment had before ours still runs.
if [ -n "${HARNESS_USER_BASH_ENV:-}" ]; then . "$HARNESS_USER_BASH_ENV"; fi

"""The training run of harness.spark_cds: a small PySpark job, run once by `spark-submit`, whose
JVM dumps the classes it loaded into the archive later JVMs map.

Not a test and not the project's job: it only has to touch what local DataFrame jobs commonly
load (CSV with a schema, casts, filters, aggregates with decimals, a join, CSV and Parquet
writes, reading them back), so their classes come from the archive instead of the jars.
"""

import sys
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType


def main(workdir: str) -> None:
    root = Path(workdir)
    src = root / "input.csv"
    src.write_text("day,item,qty,price,seller\n"
                   + "".join(f"2024-01-{d:02d},item{d % 3},{d},{d}.50,seller{d % 2}\n"
                             for d in range(1, 29))
                   + "not-a-date,x,oops,1,seller0\n")
    spark = SparkSession.builder.appName("harness-spark-cds-training").getOrCreate()
    schema = StructType([StructField(n, StringType()) for n in
                         ("day", "item", "qty", "price", "seller")])
    raw = spark.read.csv(str(src), header=True, schema=schema, mode="PERMISSIVE")
    # SQL text on purpose: it loads Spark's SQL parser too (try_cast: ANSI mode on Spark 4).
    typed = raw.select(
        F.expr("try_cast(day AS DATE)").alias("day"), "item", "seller",
        F.expr("try_cast(qty AS INT)").alias("qty"),
        F.col("price").cast("string").alias("price_text"),
        F.expr("try_cast(price AS DECIMAL(12,2))").alias("price"),
    )
    good = typed.where(F.col("day").isNotNull() & F.col("qty").isNotNull())
    totals = (good.groupBy("seller")
              .agg(F.sum("qty").alias("qty"), F.sum(F.col("price") * F.col("qty")).alias("revenue"),
                   F.count(F.lit(1)).alias("n"), F.avg("price").alias("avg_price"))
              .orderBy(F.desc("revenue")))
    names = spark.createDataFrame([("seller0", "Zero"), ("seller1", "One")], ["seller", "name"])
    out = totals.join(names, "seller", "left")
    out.coalesce(1).write.mode("overwrite").csv(str(root / "csv"), header=True)
    out.write.mode("overwrite").parquet(str(root / "parquet"))
    back = spark.read.parquet(str(root / "parquet")).union(
        spark.read.csv(str(root / "csv"), header=True, schema=out.schema))
    typed.createOrReplaceTempView("typed")
    spark.sql("SELECT item, max(price) AS top FROM typed WHERE qty > 2 GROUP BY item").collect()
    counts = typed.agg(F.count(F.lit(1)), F.sum(F.when(F.col("qty").isNull(), 1).otherwise(0)))
    print("rows", counts.collect(), "results", back.count())
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1])

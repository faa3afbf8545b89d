"""Per-seller sales totals: the seed lesson's job, hardened for production.

    spark-submit processar_vendas.py <input> <output> [<rejects>]

Reads the sales CSV (columns data, produto, quantidade, preco_unitario, vendedor), writes one
CSV part with a header to <output>: vendedor, total_quantidade, total_receita,
total_transacoes, ticket_medio, ordered by total_receita descending, then vendedor ascending
(the tie-break). Rows that fail validation go to <rejects> (default: <output> with the suffix
"_rejeitados", a sibling of the result) with the reason in `motivo_rejeicao`.

Decisions, tested in tests/unit/spark/:
- Money is DECIMAL, never float: preco_unitario DECIMAL(12,2); totals DECIMAL(18,2).
  ticket_medio = total_receita / total_transacoes rounded to 2 places HALF_UP (Spark's
  `round`; `bround` would be HALF_EVEN).
- No inferSchema: every column is read as text with an explicit schema, then validated and
  cast here, so a bad value rejects its row instead of turning a whole column into strings.
  The casts are try_cast (NULL when a value does not cast), through the Column API on pyspark
  >= 4 (no SQL parsing: a cold driver's first SQL expression costs about a second).
- A missing required column, a file that is not CSV text, an empty file (zero bytes), or a
  file whose header differs from the others' (columns in another order: Spark would read them
  by position) fails the job (exit 1) before anything is written. A header-only file is a
  valid day with no sales: empty result and empty rejects (header lines only), rows_in=0.
- rows_in == rows_ok + rows_rejected always holds, or the job fails before writing: rows_in is
  counted from the raw text (non-blank lines after each file's header), independently of the
  CSV parser and the validation rules; the job prints the three counts.
- One pass: the input is parsed and validated once (cached), each value trimmed and cast once
  (the typed values are cached with the raw text), and the counts and both outputs are computed
  from that cache (see run()). An output the counts show to be empty is written from an empty
  relation, without scanning the cache.

Runs on the cluster's Python and Spark: emr-6.15.0 is Python 3.7 and Spark 3.4, so this file
keeps 3.7 syntax (nox -s lint) and Spark 3.4 APIs (nox -s spark_compat). It uses no
SparkContext/RDD API, so it also runs against a Spark Connect server.
"""

from __future__ import annotations

import csv
import sys

from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DateType,
    DecimalType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

REQUIRED_COLUMNS = ("data", "produto", "quantidade", "preco_unitario", "vendedor")
REJECT_REASON = "motivo_rejeicao"
REJECTS_SUFFIX = "_rejeitados"
PRICE = DecimalType(12, 2)
MONEY = DecimalType(18, 2)

# Internal columns: Spark's slot for rows with the wrong number of fields, and input order
# (so rejects come out in the order they were read).
_CORRUPT = "_linha_malformada"
_ORDER = "_ordem"
# Columns of count_lines(): an input file and its non-blank lines.
_FILE = "_arquivo"
_LINES = "_linhas"

VALID_SCHEMA = StructType(
    [
        StructField("data", DateType()),
        StructField("produto", StringType()),
        StructField("quantidade", IntegerType()),
        StructField("preco_unitario", PRICE),
        StructField("vendedor", StringType()),
    ]
)

OUTPUT_SCHEMA = StructType(
    [
        StructField("vendedor", StringType()),
        StructField("total_quantidade", LongType()),
        StructField("total_receita", MONEY),
        StructField("total_transacoes", LongType()),
        StructField("ticket_medio", MONEY),
    ]
)

REJECTS_SCHEMA = StructType(
    [StructField(c, StringType()) for c in REQUIRED_COLUMNS]
    + [StructField(REJECT_REASON, StringType())]
)


class InputError(Exception):
    """The input cannot be processed at all (as opposed to a bad row, which is rejected)."""


def rejects_path_for(output_path):
    """s3://b/output/vendas_processadas/ -> s3://b/output/vendas_processadas_rejeitados"""
    return output_path.rstrip("/") + REJECTS_SUFFIX


def read_header(spark, input_path):
    """Return the first header line's fields, as written (the CSV reader checks every file's
    header against them); raise InputError if the input is missing, empty or not CSV."""
    try:
        first = spark.read.text(input_path).first()
    except AnalysisException as exc:
        raise InputError(
            "cannot read input {}: {}".format(input_path, _first_line(exc))
        ) from None
    if first is None:
        raise InputError("input {} is empty (no header line)".format(input_path))
    line = first[0].lstrip("\ufeff")
    # Binary files (parquet, gzip, ...) decode with NULs or U+FFFD replacement characters.
    if "\x00" in line or "\ufffd" in line:
        raise InputError("input {} does not look like a CSV text file".format(input_path))
    fields = next(csv.reader([line]))
    columns = [c.strip() for c in fields]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise InputError(
            "input {} lacks required column(s) {}; header is {!r}; expected {}".format(
                input_path, ", ".join(missing), line[:200], ",".join(REQUIRED_COLUMNS)
            )
        )
    return fields


def read_sales(spark, input_path):
    """Read the CSV as text columns with an explicit schema (no inference), in input order.

    The schema comes from the header of the file read first (Spark lists the largest first);
    every other file of the input must have the same header. With a schema, Spark reads fields
    by position: a file whose columns came in another order would have its values read into
    the wrong columns, silently. enforceSchema off makes the reader check each file's header
    against the schema (see header_mismatch)."""
    fields = read_header(spark, input_path)
    schema = StructType(
        [StructField(c, StringType()) for c in fields] + [StructField(_CORRUPT, StringType())]
    )
    raw = (
        spark.read.option("header", "true")
        .option("enforceSchema", "false")
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", _CORRUPT)
        .option("encoding", "UTF-8")
        .schema(schema)
        .csv(input_path)
    )
    raw = raw.toDF(*[c.strip() for c in fields], _CORRUPT)
    return raw.withColumn(_ORDER, F.monotonically_increasing_id())


_HEADER_MISMATCH = "CSV header does not conform to the schema."


def header_mismatch(input_path, exc):
    """An InputError naming the file whose header differs from the one the schema came from
    (Spark's header check failure), or None for any other error."""
    text = str(exc)
    start = text.find(_HEADER_MISMATCH)
    if start < 0:
        return None
    details = []
    for line in text[start + len(_HEADER_MISMATCH):].splitlines():
        line = line.strip()
        if line.startswith("at ") or line.startswith("..."):
            break
        if line:
            details.append(line)
    return InputError(
        "input {}: every file must have the same header (the same columns in the same order) "
        "as the file read first; Spark's header check: {}".format(input_path, "; ".join(details))
    )


def _trimmed(name):
    """The internal column holding `name` trimmed (check() trims each column once)."""
    return "_{}_aparado".format(name)


def _is_blank(name):
    return F.col(_trimmed(name)).isNull() | (F.col(_trimmed(name)) == "")


def _try_cast(name, data_type):
    """`name` (trimmed) cast to data_type, NULL when it does not cast: try_cast gives NULL on
    overflow whatever spark.sql.ansi.enabled says, so validation behaves the same on Spark 3.4
    (ANSI off) and 4.x (ANSI on)."""
    column = F.col(_trimmed(name))
    # The class, not the column: Column.__getattr__ makes any name a nested field.
    if hasattr(type(column), "try_cast"):  # pyspark >= 4.0
        # The Column API, not SQL text: a cold driver spends about a second initialising
        # Spark's SQL parser for its first expression (measured in job_vs_seed.py).
        return column.try_cast(data_type)
    return F.expr("try_cast(`{}` AS {})".format(_trimmed(name), data_type.simpleString()))


def _typed(name, data_type):
    """The internal column holding `name` cast to its type (NULL when it does not cast)."""
    return "_{}_{}".format(name, data_type.typeName())


# The three typed columns check() computes once: the reasons test them and split() selects them,
# so the casts are not evaluated again on the cached rows.
_DATE = _typed("data", DateType())
_QTY = _typed("quantidade", IntegerType())
_PRICE = _typed("preco_unitario", PRICE)


def _reasons():
    """One column holding every reason a row is rejected ('' when the row is valid), over the
    trimmed and typed columns of check()."""
    checks = [F.when(F.col(_CORRUPT).isNotNull(), F.lit("malformed row (wrong number of fields)"))]
    checks += [F.when(_is_blank(c), F.lit("missing " + c)) for c in REQUIRED_COLUMNS]

    def present(name):
        return ~_is_blank(name)

    data = F.col(_trimmed("data"))
    checks.append(
        F.when(
            present("data")
            & (~data.rlike(r"^\d{4}-\d{2}-\d{2}$") | F.col(_DATE).isNull()),
            F.lit("data is not a valid date (yyyy-MM-dd)"),
        )
    )
    qty = F.col(_trimmed("quantidade"))
    qty_int = F.col(_QTY)
    checks.append(
        F.when(
            present("quantidade") & (~qty.rlike(r"^[+-]?\d+$") | qty_int.isNull()),
            F.lit("quantidade is not a whole number"),
        ).when(present("quantidade") & (qty_int < 0), F.lit("quantidade is negative"))
    )
    price = F.col(_trimmed("preco_unitario"))
    price_dec = F.col(_PRICE)
    checks.append(
        F.when(
            present("preco_unitario") & ~price.rlike(r"^[+-]?\d+(\.\d+)?$"),
            F.lit("preco_unitario is not a number"),
        )
        .when(present("preco_unitario") & price_dec.isNull(), F.lit("preco_unitario out of range"))
        .when(present("preco_unitario") & (price_dec < 0), F.lit("preco_unitario is negative"))
    )
    return F.concat_ws("; ", *checks)


def check(raw):
    """The rows to keep (the required columns, input order, the typed values) with every reason
    each one is rejected for ('' when it is valid): the one frame both outputs and the counts
    come from.

    Two projections: the first trims and casts each column once, the second derives the reasons
    from those columns (Spark keeps them apart, as it does not collapse projections that would
    repeat a non-trivial expression); the trimmed text is then dropped, the typed values kept.
    """
    if _CORRUPT not in raw.columns:
        raw = raw.withColumn(_CORRUPT, F.lit(None).cast(StringType()))
    if _ORDER not in raw.columns:
        raw = raw.withColumn(_ORDER, F.monotonically_increasing_id())
    trimmed = raw.select(
        *[F.col(c) for c in REQUIRED_COLUMNS],
        F.col(_CORRUPT),
        F.col(_ORDER),
        *[F.trim(F.col(c)).alias(_trimmed(c)) for c in REQUIRED_COLUMNS],
    )
    typed = trimmed.select(
        "*",
        _try_cast("data", DateType()).alias(_DATE),
        _try_cast("quantidade", IntegerType()).alias(_QTY),
        _try_cast("preco_unitario", PRICE).alias(_PRICE),
    )
    return typed.select(
        *[F.col(c) for c in REQUIRED_COLUMNS],
        F.col(_ORDER),
        F.col(_DATE),
        F.col(_QTY),
        F.col(_PRICE),
        _reasons().alias(REJECT_REASON),
    )


def split(checked):
    """(valid typed rows, rejected rows with their reasons in input order) of a checked frame."""
    valid = checked.where(F.col(REJECT_REASON) == "").select(
        F.col(_DATE).alias("data"),
        F.trim(F.col("produto")).alias("produto"),
        F.col(_QTY).alias("quantidade"),
        F.col(_PRICE).alias("preco_unitario"),
        F.trim(F.col("vendedor")).alias("vendedor"),
    )
    rejects = _in_one_sorted_partition(
        checked.where(F.col(REJECT_REASON) != ""), F.col(_ORDER)
    ).select(*[F.col(c) for c in REQUIRED_COLUMNS], F.col(REJECT_REASON))
    return valid, rejects


def _in_one_sorted_partition(df, *order):
    """A total order in a single partition, what write_csv writes anyway: unlike orderBy, it
    needs no sampling job (orderBy's range partitioning samples its input first, which re-runs
    everything before the sort)."""
    return df.repartition(1).sortWithinPartitions(*order)


def validate(raw):
    """Split raw text rows into (valid typed rows, rejected rows with their reasons)."""
    return split(check(raw))


def count_lines(spark, input_path):
    """Non-blank lines of each input file, counted from its raw text: (_arquivo, _linhas) rows.

    Spark's CSV reader (one record per line) skips lines that are blank after trimming and takes
    each file's first non-blank line as its header, so rows_in = the sum over files of
    _linhas - 1. Neither the CSV parser nor the validation rules take part, so comparing it with
    rows_ok + rows_rejected checks that no row went missing between them.
    "[^\\x00-\\x20]" is Java's String.trim() notion of a non-blank line.
    """
    lines = spark.read.text(input_path).where(F.col("value").rlike(r"[^\x00-\x20]"))
    return lines.groupBy(F.col("_metadata.file_path").alias(_FILE)).agg(
        F.count(F.lit(1)).alias(_LINES)
    )


def count_verdicts(checked):
    """A one-row frame: rows_ok and rows_rejected of a checked frame."""
    ok = F.col(REJECT_REASON) == ""
    return checked.agg(
        F.count(F.when(ok, True)).alias("rows_ok"),
        F.count(F.when(~ok, True)).alias("rows_rejected"),
    )


def aggregate(valid):
    """Per-seller totals, ordered by total_receita desc then vendedor asc (tie-break)."""
    receita = F.col("quantidade").cast(DecimalType(10, 0)) * F.col("preco_unitario")
    totals = (
        valid.groupBy("vendedor")
        .agg(
            F.sum("quantidade").cast(LongType()).alias("total_quantidade"),
            F.sum(receita).cast(MONEY).alias("total_receita"),
            F.count(F.lit(1)).cast(LongType()).alias("total_transacoes"),
            # round() on decimals is HALF_UP: 766.666... -> 766.67
            F.round(F.avg(receita), 2).cast(MONEY).alias("ticket_medio"),
        )
    )
    # coalesce, not repartition: the final aggregation (one row per seller) runs in the single
    # task that sorts and writes, so no second shuffle; the aggregation's own shuffle still
    # spreads the per-row work over every core.
    return totals.coalesce(1).sortWithinPartitions(
        F.col("total_receita").desc(), F.col("vendedor").asc()
    )


def write_csv(df, path):
    """One CSV part with a header; a rerun overwrites. coalesce(1) keeps the sort order."""
    df.coalesce(1).write.mode("overwrite").option("header", "true").option(
        "encoding", "UTF-8"
    ).csv(path)


def run(spark, input_path, output_path, rejects_path=None):
    """The whole job; returns the row counts. Raises InputError before writing anything.

    The CSV is parsed and validated once: the checked frame is cached by the first action (the
    counts) and both outputs are written from the cache. rows_in comes from a separate scan of
    the raw text (cheap: no parsing), so the accounting check does not depend on the parser or
    the validation predicate; a mismatch fails the job before anything is written.

    Spark actions (pyspark 4.3, adaptive execution, clean input): the header line; the counts
    (the cache, the line count's and the verdicts' shuffle stages, the union); the totals (their
    shuffle, then one task that merges, sorts and writes); the rejects (one task writing the
    header when there are none, else a shuffle into one sorted partition, then the write).
    """
    checked = check(read_sales(spark, input_path)).cache()
    try:
        # One query: the lines of each file and the verdicts (a union, not a join: no
        # broadcast job); this first action also fills the cache.
        metrics = {"rows_in": 0, "rows_ok": 0, "rows_rejected": 0}
        both = count_lines(spark, input_path).unionByName(
            count_verdicts(checked), allowMissingColumns=True
        )
        try:
            rows = both.collect()
        except Exception as exc:  # the first action: the CSV reader checks each file's header
            mismatch = header_mismatch(input_path, exc)
            if mismatch is None:
                raise
            raise mismatch from None
        for row in rows:
            if row[_FILE] is not None:
                metrics["rows_in"] += row[_LINES] - 1  # the file's header line
            else:
                metrics["rows_ok"] += row["rows_ok"]
                metrics["rows_rejected"] += row["rows_rejected"]
        if metrics["rows_in"] != metrics["rows_ok"] + metrics["rows_rejected"]:
            raise RuntimeError(
                "row accounting broken: {} (rows_in counts the input's non-blank lines after "
                "each header)".format(metrics)
            )
        valid, rejects = split(checked)
        # The counts are exact, so an output known to be empty is written from an empty
        # relation (limit(0): no scan of the cache, no shuffle), with the same schema and header.
        write_csv(aggregate(_empty_unless(valid, metrics["rows_ok"])), output_path)
        write_csv(_empty_unless(rejects, metrics["rows_rejected"]),
                  rejects_path or rejects_path_for(output_path))
    finally:
        checked.unpersist()
    return metrics


def _empty_unless(df, rows):
    return df if rows else df.limit(0)


def _first_line(exc):
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def main(argv=None):
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) not in (2, 3):
        print("Usage: processar_vendas.py <input_path> <output_path> [<rejects_path>]",
              file=sys.stderr)
        return 2
    spark = SparkSession.builder.appName("ProcessarVendas").getOrCreate()
    try:
        metrics = run(spark, *args)
    except InputError as exc:
        print("ERROR: {}".format(exc), file=sys.stderr)
        return 1
    finally:
        spark.stop()
    print("processar_vendas: rows_in={rows_in} rows_ok={rows_ok} rows_rejected={rows_rejected}"
          .format(**metrics))
    print("processar_vendas: result written to {}".format(args[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The seed lesson's processar_vendas.py, verbatim (the baseline the hardened job is compared to).

Kept only for tests/benchmarks/job_vs_seed.py and scale.py: it floats money, infers the schema and
has no validation; spark/processar_vendas.py is the production job.
"""
# ruff: noqa
from pyspark.sql import SparkSession
from pyspark.sql.functions import sum as spark_sum, count, avg
import sys

def main():
    # Argumentos do script
    if len(sys.argv) != 3:
        print("Uso: processar_vendas.py <input_path> <output_path>")
        sys.exit(1)
    
    input_path = sys.argv[1]
    output_path = sys.argv[2]
    
    # Criar sessão Spark
    spark = SparkSession.builder.appName("ProcessarVendas").getOrCreate()
    
    # Ler dados do S3
    df = spark.read.option("header", "true").option("inferSchema", "true").csv(input_path)
    
    print("=== Dados originais ===")
    df.show()
    
    # Calcular total de vendas por vendedor
    vendas_por_vendedor = df.groupBy("vendedor").agg(
        spark_sum("quantidade").alias("total_quantidade"),
        spark_sum(df.quantidade * df.preco_unitario).alias("total_receita"),
        count("*").alias("total_transacoes"),
        avg(df.quantidade * df.preco_unitario).alias("ticket_medio")
    ).orderBy("total_receita", ascending=False)
    
    print("=== Vendas por Vendedor ===")
    vendas_por_vendedor.show()
    
    # Salvar resultado no S3
    vendas_por_vendedor.coalesce(1).write.mode("overwrite").option("header", "true").csv(output_path)
    
    print(f"Resultado salvo em: {output_path}")
    
    spark.stop()

if __name__ == "__main__":
    main()

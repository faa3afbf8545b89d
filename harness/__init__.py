"""airflow-emr harness."""

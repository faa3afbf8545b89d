"""The EMR runtime: cluster and step lifecycle, step translation, S3 staging, logs, faults and
step executors. Imports no Airflow (checked by import-linter in `nox -s lint`)."""

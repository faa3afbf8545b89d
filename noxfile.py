"""Developer and CI entry points. `nox` runs lint + unit + integration (what CI runs).

Every session installs the locked environment (uv.lock) into its own virtualenv with
`uv sync --locked`; `nox -R` re-uses the virtualenvs and skips installing for fast re-runs.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
# README command 2 (what CI runs): every test session these machines can run. Not here:
# pipeline (command 1), airflow_ui (the UI), smoke_aws (real AWS, costs money), bench.
nox.options.sessions = ["lint", "unit", "integration", "stack", "localstack", "spark_compat",
                        "moto_emr"]
nox.options.error_on_missing_interpreters = True

PYTHON = "3.11"
ROOT = Path(__file__).resolve().parent
#: pyspark minors the Spark unit tests run under: the EMR release's (emr-6.15.0 -> 3.4)
#: and the project's current one. tests/unit/dags checks the DAG's release is covered.
SPARK_COMPAT_MINORS = ("3.4", "4.3")
SPARK_DIR = "spark"
BENCHMARKS = "tests/benchmarks"  # scripts that print numbers; pytest does not collect them


def _sync(session: nox.Session, *extras: str, groups: tuple[str, ...] = ("test",)) -> None:
    """Install the locked dependencies (and the project) into the session's virtualenv."""
    # Bytecode compiled at install: Airflow and moto import ~2x faster on every run after.
    args = ["uv", "sync", "--locked", "--no-default-groups", "--compile-bytecode"]
    args += [f"--extra={e}" for e in extras]
    args += [f"--group={g}" for g in groups]
    session.run_install(
        *args, env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location}, silent=True
    )


def _spark_cache(session: nox.Session) -> None:
    """Build the virtualenv's Spark class-data archive if it has none (an install step, once
    per virtualenv, ~35 s here): every Spark JVM of the session then starts 1-3 s sooner
    (unit 72 -> 65 s, integration 198 -> 180 s; docs/speed.md)."""
    session.run_install("python", "-m", "harness", "spark-cache", "--if-supported")


def _pytest(session: nox.Session, *args: str) -> None:
    """pytest with the session's paths and options, then the posargs. Test paths among the
    posargs (`nox -s integration -- tests/integration/pipeline -x`) replace the session's own
    paths instead of being run on top of the whole folder."""
    if any(_is_test_path(a) for a in session.posargs):
        args = tuple(a for a in args if not _is_test_path(a))
    # pytest exits 5 when it collected nothing: nox treats that as a failure, on purpose.
    session.run("pytest", *args, *session.posargs)


def _is_test_path(arg: str) -> bool:
    return not arg.startswith("-") and (ROOT / arg.split("::", 1)[0]).exists()


#: pytest-xdist: one worker per core, at most 4 (each worker starts its own JVM and Airflow).
#: `nox -s integration -- -n 0` runs in one process.
PARALLEL = ("-n", "auto", "--maxprocesses=4")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff; spark/ also checked for Python 3.7 (the cluster's Python); import boundaries;
    mypy on harness/ (pyproject's [tool.mypy])."""
    # The extras and the test group too: mypy reads the types of Airflow, pyspark, moto, pytest
    # and testcontainers from the packages themselves.
    _sync(session, "airflow", "spark", groups=("lint", "test"))
    session.run("ruff", "check", ".")
    # spark/ruff.toml sets target-version py37: 3.8+ syntax is reported as invalid-syntax.
    session.run("ruff", "check", SPARK_DIR)
    # vermin also sees standard-library calls newer than 3.7 (ruff does not).
    session.run("vermin", "--target=3.7-", "--violations", "--no-tips", "--eval-annotations",
                "--backport", "typing", SPARK_DIR)
    # Boundaries (pyproject's [tool.importlinter]): dags/ and spark/ never import the harness,
    # the emulator core never imports Airflow.
    session.run("lint-imports", "--no-cache", env={"PYTHONPATH": str(ROOT)})
    session.run("mypy")


@nox.session(python=PYTHON)
def unit(session: nox.Session) -> None:
    """Unit layer: Spark job (one local JVM), DAG structure and templating, pure harness logic."""
    _sync(session, "airflow", "spark", groups=("test", "lint", "stack"))
    _spark_cache(session)
    # loadgroup: the local SparkSession's tests stay on one worker (tests/unit/conftest.py).
    _pytest(session, "tests/unit", *PARALLEL, "--dist=loadgroup")


@nox.session(python=PYTHON)
def integration(session: nox.Session) -> None:
    """Emulated AWS: the EMR emulator, the CLI, and the DAG end-to-end against it."""
    _sync(session, "airflow", "spark")
    _spark_cache(session)
    # The Airflow stack's tests (a minute per stack start) have their own session: `stack`.
    # worksteal: tests handed out as workers free up (their lengths vary from 0.1 to 30 s).
    _pytest(session, "tests/integration", "-m", "not stack", *PARALLEL, "--dist=worksteal")


@nox.session(python=PYTHON)
def stack(session: nox.Session) -> None:
    """The Airflow stack under a real scheduler: browser test (Chromium) and REST scenarios."""
    _sync(session, "airflow", "spark", groups=("test", "stack"))
    _pytest(session, "tests/integration/stack", "-m", "stack")


@nox.session(python=PYTHON)
def airflow_ui(session: nox.Session) -> None:
    """The README's Airflow UI: on 127.0.0.1 with the pipeline ready to trigger
    (`python -m harness stack up --foreground`; Ctrl-C stops everything)."""
    _sync(session, "airflow", "spark")
    session.run("python", "-m", "harness", "stack", "up", "--foreground", *session.posargs)


@nox.session(python=PYTHON)
def pipeline(session: nox.Session) -> None:
    """README command 1: run the pipeline offline and print the result table."""
    _sync(session, "airflow", "spark")
    _spark_cache(session)
    session.run("python", "-m", "harness", "run", *session.posargs)


@nox.session(python=PYTHON)
@nox.parametrize("pyspark", SPARK_COMPAT_MINORS)
def spark_compat(session: nox.Session, pyspark: str) -> None:
    """The Spark unit tests under the EMR release's Spark minor (3.4) and the current one."""
    extra = "spark34" if pyspark == "3.4" else "spark"
    _sync(session, extra)
    session.run("python", "-c", "import pyspark; print('pyspark', pyspark.__version__)")
    _pytest(session, "tests/unit/spark", "-p", "no:cacheprovider")


#: The opt-in flag of `nox -s smoke_aws` (also the smoke-aws command's).
AWS_CONFIRM = "--yes-this-costs-money"


@nox.session(python=PYTHON)
def smoke_aws(session: nox.Session) -> None:
    """Real AWS, opt-in: without --yes-this-costs-money it prints the plan (account, region,
    resources, cost ceiling) and refuses; with it, runs tests marked `aws` (costs money)."""
    _sync(session, "airflow", "spark")
    confirmed = AWS_CONFIRM in session.posargs
    rest = [a for a in session.posargs if a != AWS_CONFIRM]
    if not confirmed:
        # Prints the plan, then exits 2: the session fails, as a refusal should.
        session.run("python", "-m", "harness", "smoke-aws", *rest)
        return
    # The test prints the plan (account and region first) before creating anything; -s shows it.
    session.run("pytest", "-m", "aws", "--run-aws", "tests/integration/aws", "-s", *rest)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Issue 12's benchmark (tests/benchmarks/scale.py; its flags after `--`, e.g.
    `-- --rows 10` for a quick run). It prints numbers; no test asserts a timing. The other
    scripts in tests/benchmarks are run by hand (docs/benchmarks.md)."""
    _sync(session, "airflow", "spark")
    session.run("python", f"{BENCHMARKS}/scale.py", *session.posargs)


@nox.session(python=PYTHON)
def moto_emr(session: nox.Session) -> None:
    """moto's own EMR API tests, in server mode, against the emulator (divergences listed)."""
    _sync(session)
    session.run("python", "tests/conformance/moto_emr_suite.py", *session.posargs)


@nox.session(python=PYTHON)
def localstack(session: nox.Session) -> None:
    """The pipeline scenarios and the backend's own tests against a real LocalStack started on
    this host (no Docker): LocalStack's pinned virtual environment is created first. Fails if
    every test skipped (a LocalStack that could not start must not pass as green)."""
    _sync(session, "airflow", "spark")
    session.run("python", "-m", "harness.backends.localstack_env")
    # The scenario suite (the embedded-only tests beside it already ran in `integration`).
    _pytest(session, "tests/integration/pipeline/test_pipeline_emr.py",
            "tests/integration/backends", "--backend=localstack", "--fail-if-all-skipped", "-rs")

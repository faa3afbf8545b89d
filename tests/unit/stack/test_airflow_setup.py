"""The stack's Airflow configuration: loopback only, one JWT secret, login file, timing policy."""

from __future__ import annotations

import importlib.util
import json
from datetime import timedelta
from pathlib import Path

from harness.stack.airflow_setup import LocalTiming, airflow_env, write_local_settings, write_login


def _env(tmp_path: Path) -> dict[str, str]:
    return airflow_env(
        home=tmp_path, dags_folder=tmp_path / "dags", db_url="postgresql+psycopg2://x",
        port=8123, login=write_login(tmp_path), secret="s3cret",
        connection_extra={"region_name": "us-east-1",
                          "service_config": {"emr": {"endpoint_url": "http://127.0.0.1:1"}}})


def test_everything_on_loopback_with_one_secret(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8123/execution/"
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == "s3cret"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    conn = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert conn["extra"]["service_config"]["emr"]["endpoint_url"] == "http://127.0.0.1:1"
    assert env["AWS_ACCESS_KEY_ID"] == "testing"


def test_login_is_in_the_passwords_file_airflow_reads(tmp_path: Path) -> None:
    env = _env(tmp_path)
    users = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]
    path = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    passwords = json.loads(path.read_text())
    username = users.split(":")[0]
    assert users == f"{username}:admin" and len(passwords[username]) >= 12
    assert path.stat().st_mode & 0o077 == 0


class BaseSensorOperator:  # the class names plan_overrides looks at
    pass


class _Sensor(BaseSensorOperator):
    def __init__(self) -> None:
        self.task_id = "wait_for_step"
        self.poke_interval = 60
        self.mode = "poke"
        self.timeout = 1800
        self.deferrable = False
        self.max_attempts = 30
        self.exponential_backoff = False
        self.retry_delay = timedelta(minutes=1)
        self.retry_exponential_backoff = False
        self.retries = 0


class EmrStepSensor(_Sensor):  # a job sensor (by class name)
    pass


class S3KeySensor(_Sensor):  # an input sensor
    def __init__(self) -> None:
        super().__init__()
        self.task_id = "wait_for_input"
        self.mode = "reschedule"
        self.timeout = 600
        self.retries = 2


def _policy(tmp_path: Path, timing: LocalTiming):
    path = write_local_settings(tmp_path, timing)
    spec = importlib.util.spec_from_file_location("airflow_local_settings_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.task_policy


def test_policy_applies_local_timing(tmp_path: Path) -> None:
    # A task id given explicitly (a mapping) still works.
    policy = _policy(tmp_path, LocalTiming(poke_interval=1.0,
                                           sensor_timeout={"wait_for_input": 20.0}))
    sensor, step = S3KeySensor(), EmrStepSensor()
    policy(sensor)
    policy(step)
    assert (sensor.poke_interval, sensor.mode, sensor.timeout) == (1.0, "poke", 20.0)
    assert sensor.retry_delay == timedelta(0) and sensor.retries == 2
    assert (step.poke_interval, step.timeout, step.deferrable) == (1.0, 1800, False)


def test_policy_makes_the_step_sensor_deferrable(tmp_path: Path) -> None:
    policy = _policy(tmp_path, LocalTiming(poke_interval=1.0, deferrable=True))
    step = EmrStepSensor()
    policy(step)
    assert step.deferrable is True and step.poke_interval == 1
    assert step.max_attempts == 1800  # its timeout, at one poke per second


def test_one_timeout_bounds_every_input_sensor_whatever_its_task_id(tmp_path: Path) -> None:
    """The stack names no task: the bound is the generic rule of `harness run --sensor-timeout`
    (every sensor but a job sensor)."""
    policy = _policy(tmp_path, LocalTiming(poke_interval=1.0, sensor_timeout=7.0))
    sensor, step = S3KeySensor(), EmrStepSensor()
    policy(sensor)
    policy(step)
    assert (sensor.timeout, step.timeout) == (7.0, 1800)
    assert LocalTiming().sensor_timeout == 20.0  # the default: one value, no task id

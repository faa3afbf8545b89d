"""harness.offline_env: what a child of an offline run sees, and the sitecustomize guard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.offline_env import (
    GUARD_FLAG,
    SITECUSTOMIZE_DIR,
    OfflineFiles,
    offline_env,
    unsafe_offline_keys,
)

REAL_KEY = "AKIAREALREALREAL1234"
USER_ENV = {
    "PATH": "/usr/bin",
    "HOME": "/home/someone",
    "PYTHONPATH": "/opt/lib",
    "AWS_ACCESS_KEY_ID": REAL_KEY,
    "AWS_SECRET_ACCESS_KEY": "real-secret",
    "AWS_SESSION_TOKEN": "real-token",
    "AWS_PROFILE": "prod",
    "AWS_DEFAULT_PROFILE": "prod",
    "AWS_CONFIG_FILE": "/home/someone/.aws/config",
    "AWS_SHARED_CREDENTIALS_FILE": "/home/someone/.aws/credentials",
    "AWS_ENDPOINT_URL_S3": "https://s3.eu-west-1.amazonaws.com",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true",
    "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/prod",
    "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token",
    "AWS_MAX_ATTEMPTS": "7",
    "BOTO_CONFIG": "/home/someone/.boto",
}


@pytest.fixture
def files():
    with OfflineFiles() as f:
        yield f


def test_child_gets_dummy_credentials_and_nothing_else_from_aws(files):
    endpoints = {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "AWS_DEFAULT_REGION": "us-east-1"}
    env = offline_env(USER_ENV, endpoints=endpoints, files=files)
    aws = {k: v for k, v in env.items() if k.startswith("AWS_")}
    assert aws == {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": files.config,
        "AWS_SHARED_CREDENTIALS_FILE": files.credentials,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "7",  # retry behaviour is not a secret
    }
    assert REAL_KEY not in json.dumps(env)
    assert "BOTO_CONFIG" not in env
    assert env["PATH"] == "/usr/bin" and env["HOME"] == "/home/someone"
    assert Path(files.config).read_text() == "" and Path(files.credentials).read_text() == ""


def test_service_endpoints_come_only_from_the_emulator(files):
    env = offline_env(
        USER_ENV,
        endpoints={
            "AWS_ENDPOINT_URL_EMR": "http://127.0.0.1:4566",
            "AWS_ACCESS_KEY_ID": "from-endpoints",  # never taken from there either
            "AWS_PROFILE": "other",
        },
        files=files,
    )
    assert env["AWS_ENDPOINT_URL_EMR"] == "http://127.0.0.1:4566"
    assert "AWS_ENDPOINT_URL_S3" not in env and "AWS_PROFILE" not in env
    assert env["AWS_ACCESS_KEY_ID"] == "testing"


def test_guard_flag_and_sitecustomize_head_the_python_path(files):
    env = offline_env(USER_ENV, endpoints={}, files=files)
    assert env[GUARD_FLAG] == "1"
    assert env["PYTHONPATH"].split(os.pathsep) == [SITECUSTOMIZE_DIR, "/opt/lib"]
    again = offline_env(env, endpoints={}, files=files)  # idempotent
    assert again["PYTHONPATH"] == env["PYTHONPATH"]
    off = offline_env(env, endpoints={}, files=files, guard=False)
    assert GUARD_FLAG not in off and off["PYTHONPATH"] == "/opt/lib"


def test_unsafe_keys_of_a_live_environment():
    keys = set(unsafe_offline_keys(USER_ENV))
    assert {"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_ROLE_ARN",
            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"} <= keys  # fmt: skip
    assert "AWS_ACCESS_KEY_ID" not in keys and "AWS_CONFIG_FILE" not in keys  # the guard's job


def test_offline_files_are_removed(tmp_path):
    f = OfflineFiles()
    folder = Path(f.config).parent
    assert folder.is_dir()
    f.cleanup()
    assert not folder.exists()


# -- in a real child ------------------------------------------------------------------------------
PROBE = """
import json, os, sys
import boto3
creds = boto3.session.Session().get_credentials()
out = {"access_key": creds.access_key if creds else None}
try:
    boto3.client("s3", region_name="us-east-1",
                 endpoint_url="https://s3.amazonaws.com").list_buckets()
    out["call"] = "sent"
except Exception as exc:
    out["call"] = f"{type(exc).__name__}: {exc}"
out["environ"] = dict(os.environ)
print(json.dumps(out))
"""


def _user_home(tmp_path: Path) -> dict[str, str]:
    """The caller's environment with real-looking keys and a ~/.aws profile."""
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text(
        f"[default]\naws_access_key_id = {REAL_KEY}\naws_secret_access_key = s\n"
        f"[prod]\naws_access_key_id = {REAL_KEY}\naws_secret_access_key = s\n"
    )
    (home / ".aws" / "config").write_text("[profile prod]\nregion = eu-west-1\n")
    return {**os.environ, "HOME": str(home), "AWS_PROFILE": "prod",
            "AWS_ACCESS_KEY_ID": REAL_KEY, "AWS_SECRET_ACCESS_KEY": "s"}  # fmt: skip


def test_a_python_child_is_guarded_and_sees_only_dummy_credentials(tmp_path, files):
    env = offline_env(_user_home(tmp_path), endpoints={}, files=files)
    proc = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["access_key"] == "testing"
    assert out["call"].startswith("OffLoopbackCallError: offline guard: refused"), out["call"]
    assert REAL_KEY not in json.dumps(out["environ"])


def test_the_shadowed_sitecustomize_still_runs(tmp_path, files):
    other = tmp_path / "other"
    other.mkdir()
    marker = tmp_path / "marker"
    (other / "sitecustomize.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    env = offline_env({**os.environ, "PYTHONPATH": str(other)}, endpoints={}, files=files)
    code = "import sys; print(any(type(f).__name__ == '_GuardingFinder' for f in sys.meta_path))"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True"
    assert marker.read_text() == "ran"

"""The Backend contract without servers: per-service endpoints reach botocore through
`AWS_ENDPOINT_URL_<SERVICE>` and Airflow's amazon provider through `service_config`; backend
selection; LocalStack helpers (health, image tokens, loopback check)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from typing import Any

import boto3
import pytest

from harness.backends import BACKENDS, create_backend
from harness.backends.base import Backend, BackendUnavailable, env_service
from harness.backends.localstack import (
    LocalStackBackend,
    image_needs_token,
    read_health,
    served_services,
)
from harness.backends.sockets import listening_addresses, off_loopback
from harness.ports import free_port

S3_URL = "http://127.0.0.1:4001"
EMR_URL = "http://127.0.0.1:4002"
LOGS_URL = "http://127.0.0.1:4003"


class TwoEndpoints(Backend):
    """S3 and Logs on one endpoint, EMR on another (as the LocalStack backend does)."""

    name = "test"

    def start(self):
        return self

    def stop(self) -> None:
        pass

    def endpoints(self) -> dict[str, str]:
        return {"s3": S3_URL, "emr": EMR_URL, "logs": LOGS_URL}

    def default_endpoint(self) -> str | None:
        return S3_URL

    def client(self, service: str, **kwargs: Any) -> Any:
        return boto3.client(service, region_name=self.region, **kwargs)


@pytest.mark.parametrize(("service", "expected"), [
    ("s3", "S3"), ("emr", "EMR"), ("logs", "CLOUDWATCH_LOGS"), ("sts", "STS"),
    ("elbv2", "ELASTIC_LOAD_BALANCING_V2"), ("stepfunctions", "SFN"),
])
def test_env_service_follows_botocores_service_ids(service, expected):
    assert env_service(service) == expected


@pytest.mark.parametrize(("service", "url"), [("s3", S3_URL), ("emr", EMR_URL),
                                              ("logs", LOGS_URL), ("sts", S3_URL)])
def test_env_aims_botocore_at_each_services_endpoint(monkeypatch, service, url):
    backend = TwoEndpoints()
    for key, value in backend.env().items():
        monkeypatch.setenv(key, value)
    client = boto3.session.Session().client(service, region_name="us-east-1")
    assert client.meta.endpoint_url == url


def test_env_of_an_offline_backend_has_dummy_credentials_only():
    env = TwoEndpoints(region="eu-west-1").env()
    assert env["AWS_ACCESS_KEY_ID"] == "testing"
    assert env["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert env["AWS_DEFAULT_REGION"] == env["AWS_REGION"] == "eu-west-1"
    assert "AWS_SESSION_TOKEN" not in env


def test_connection_extra_carries_per_service_endpoints():
    extra = TwoEndpoints().connection_extra()
    assert extra == {
        "region_name": "us-east-1",
        "endpoint_url": S3_URL,
        "service_config": {"s3": {"endpoint_url": S3_URL}, "emr": {"endpoint_url": EMR_URL},
                           "logs": {"endpoint_url": LOGS_URL}},
    }


def test_the_amazon_provider_reads_the_endpoints_from_the_connection(monkeypatch):
    """What run_dag puts in AIRFLOW_CONN_AWS_DEFAULT is what the provider's hooks use."""
    pytest.importorskip("airflow.providers.amazon")
    from airflow.models.connection import Connection
    from airflow.providers.amazon.aws.utils.connection_wrapper import AwsConnectionWrapper

    from harness.airflow.environment import _run_env, _spec

    spec, _, _ = _spec("d", "dags", TwoEndpoints())
    conn_json = _run_env(spec)["AIRFLOW_CONN_AWS_DEFAULT"]
    conn = Connection.from_json(conn_json, conn_id="aws_default")
    wrapper = AwsConnectionWrapper(conn)
    assert wrapper.get_service_endpoint_url("emr") == EMR_URL
    assert wrapper.get_service_endpoint_url("s3") == S3_URL
    assert wrapper.get_service_endpoint_url("logs") == LOGS_URL
    assert wrapper.get_service_endpoint_url("ec2") == S3_URL  # the default endpoint
    assert (conn.login, conn.password) == ("testing", "testing")


def test_an_online_backend_gets_no_dummy_keys():
    from harness.airflow.environment import _run_env, _spec

    class Online(TwoEndpoints):
        offline = False

        def endpoints(self) -> dict[str, str]:
            return {}

        def default_endpoint(self) -> str | None:
            return None

    spec, _, _ = _spec("d", "dags", Online())
    env = _run_env(spec)
    conn = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert "login" not in conn and "password" not in conn
    assert conn["extra"] == {"region_name": "us-east-1"}
    assert "AWS_ACCESS_KEY_ID" not in env


def test_run_dag_refuses_faults_on_a_backend_without_them():
    from harness.airflow.dag_runner import run_dag

    with pytest.raises(TypeError, match="needs a backend that can inject faults.*test has none"):
        run_dag("d", backend=TwoEndpoints(), faults=lambda f: None)


def test_run_dag_takes_aws_or_backend_not_both():
    from harness.airflow.dag_runner import run_dag

    with pytest.raises(TypeError, match="not both"):
        run_dag("d", aws="http://127.0.0.1:1", backend=TwoEndpoints())


def test_create_backend_knows_every_name_and_refuses_others():
    assert set(BACKENDS) == {"embedded", "localstack", "localstack-docker", "aws"}
    assert create_backend("embedded").name == "embedded"
    assert create_backend("localstack").mode == "host"
    assert create_backend("localstack", localstack_url="http://127.0.0.1:4566").mode == "url"
    assert create_backend("localstack-docker").mode == "docker"
    with pytest.raises(ValueError, match="unknown backend 'moto'"):
        create_backend("moto")


def test_localstack_url_must_be_loopback():
    with pytest.raises(ValueError, match="loopback"):
        LocalStackBackend(url="http://10.1.2.3:4566")


@pytest.mark.parametrize(("image", "needs"), [
    ("localstack/localstack:4.13.1", False), ("localstack/localstack:4.14.0", False),
    ("localstack/localstack:4.14.1", True), ("localstack/localstack:2026.3.0", True),
    ("localstack/localstack:latest", True), ("localstack/localstack", True),
    ("registry:5000/localstack/localstack:3.8.1", False),
])
def test_which_images_need_a_token(image, needs):
    assert image_needs_token(image) is needs


@pytest.fixture
def health_server():
    """A tiny HTTP server answering /_localstack/health with `body` (set per test)."""
    state = {"body": b"{}", "status": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(state["status"])
            self.end_headers()
            self.wfile.write(state["body"])

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_read_health_reports_what_it_found(health_server):
    url, state = health_server
    state["body"] = json.dumps({"services": {"s3": "running", "iam": "available",
                                             "emr": "disabled"}, "version": "4.13.1"}).encode()
    health = read_health(url)
    assert served_services(health) == ["iam", "s3"]

    state["body"] = b"<html>not localstack</html>"
    with pytest.raises(BackendUnavailable, match="did not answer JSON"):
        read_health(url)
    state["status"] = 404
    with pytest.raises(BackendUnavailable, match="answered HTTP 404"):
        read_health(url)


def test_read_health_names_an_endpoint_nobody_listens_on():
    port = free_port()  # closed again: nobody listens there
    with pytest.raises(BackendUnavailable, match=f"no LocalStack at http://127.0.0.1:{port}"):
        read_health(f"http://127.0.0.1:{port}")


def test_off_loopback_sees_a_socket_listening_on_every_interface():
    import os

    with socket.socket() as local, socket.socket() as everywhere:
        local.bind(("127.0.0.1", 0))
        local.listen()
        everywhere.bind(("0.0.0.0", 0))
        everywhere.listen()
        mine = listening_addresses(os.getpid())
        assert ("tcp", "127.0.0.1", local.getsockname()[1]) in mine
        assert off_loopback(os.getpid()) == [("tcp", "0.0.0.0", everywhere.getsockname()[1])]

import io

import pytest

from harness.emr.faults import Faults, operation_of
from harness.emr.logs import error_line, step_log_prefix
from harness.guard import EndpointGuard, is_loopback_url

PY_TRACE = """\
25/10/01 12:00:00 INFO SparkContext: Running Spark version 4.3.0
Traceback (most recent call last):
  File "/m/b/job.py", line 3, in <module>
    raise ValueError("coluna 'valor' ausente")
ValueError: coluna 'valor' ausente
25/10/01 12:00:01 INFO ShutdownHookManager: Shutdown hook called
25/10/01 12:00:01 INFO ShutdownHookManager: Deleting directory /tmp/spark-1
"""


def test_error_line_python_traceback():
    assert error_line(PY_TRACE) == "ValueError: coluna 'valor' ausente"


def test_error_line_skips_log_noise():
    text = (
        "doing things\njava.lang.IllegalStateException: bad\n\tat a.b(C.java:1)\n"
        "25/10/01 12:00:01 INFO X: y\n"
    )
    assert error_line(text) == "java.lang.IllegalStateException: bad"
    assert error_line("oops\n") == "oops"
    assert error_line("") is None


def test_step_log_prefix():
    p = step_log_prefix("s3://bucket/logs/", "j-1", "s-2")
    assert str(p) == "s3://bucket/logs/j-1/steps/s-2/"
    assert (
        str(step_log_prefix("s3n://bucket/logs", "j-1", "s-2")) == "s3://bucket/logs/j-1/steps/s-2/"
    )


def test_step_faults_match_by_name_or_index():
    f = Faults().fail_step("load", message="m").hang_step(2)
    assert f.step_fault("load", 0).kind == "fail"
    assert f.step_fault("other", 2).kind == "hang"
    assert f.step_fault("other", 1) is None
    f.clear()
    assert f.step_fault("load", 0) is None


def test_cluster_faults_filter_by_name():
    f = Faults().fail_bootstrap(cluster_name="a")
    assert f.cluster_fault("a").kind == "bootstrap" and f.cluster_fault("b") is None


def test_throttle_counts_down():
    f = Faults().throttle("DescribeStep", times=2)
    assert [f.take_throttle("DescribeStep") for _ in range(3)] == [True, True, False]
    assert not f.take_throttle("ListSteps")
    assert f.throttled == {"DescribeStep": 2}


def test_operation_of():
    assert operation_of({"HTTP_X_AMZ_TARGET": "ElasticMapReduce.DescribeStep"}) == "DescribeStep"
    assert operation_of({"QUERY_STRING": "Action=ListRoles&Version=1"}) == "ListRoles"
    assert operation_of({}) is None


@pytest.mark.parametrize("url,ok", [
    ("http://127.0.0.1:5000", True), ("http://localhost:1", True), ("http://[::1]:80/", True),
    ("http://bucket.localhost:5000", True), ("http://127.5.5.5", True),
    ("https://s3.amazonaws.com", False),
    ("https://elasticmapreduce.us-east-1.amazonaws.com", False),
    ("http://10.0.0.1:5000", False), ("http://0.0.0.0:5000", False),
])  # fmt: skip
def test_is_loopback_url(url, ok):
    assert is_loopback_url(url) is ok


def test_operation_of_reads_form_bodies_and_puts_them_back():
    body = b"Action=CreateRole&Version=2010-05-08&RoleName=r"
    environ = {
        "CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    assert operation_of(environ) == "CreateRole"
    assert environ["wsgi.input"].read() == body  # the application still gets the body
    s3_put = {"CONTENT_TYPE": "application/octet-stream", "CONTENT_LENGTH": "3",
              "wsgi.input": io.BytesIO(b"abc")}  # fmt: skip
    assert operation_of(s3_put) is None


def test_throttle_refuses_s3_rest_operations():
    with pytest.raises(ValueError, match="S3 REST operation"):
        Faults().throttle("PutObject")
    assert Faults().throttle("CreateRole", times=1).take_throttle("CreateRole")


def test_uninstalling_a_never_installed_guard_leaves_the_installed_one_working():
    from botocore.endpoint import Endpoint

    original = Endpoint._send
    installed = EndpointGuard(scrub_credentials=False).install()
    try:
        never = EndpointGuard(scrub_credentials=False)
        never.uninstall()
        never.uninstall()
        assert EndpointGuard.active() and Endpoint._send is not original  # still patched
    finally:
        installed.uninstall()
    assert not EndpointGuard.active() and Endpoint._send is original
    installed.uninstall()  # twice: still a no-op, the count never goes below zero
    with EndpointGuard(scrub_credentials=False):
        assert Endpoint._send is not original  # the next install patches again
    assert Endpoint._send is original

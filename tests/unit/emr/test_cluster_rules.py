"""EMR's input rules the runtime adds (validation) and the bootstrap actions' naming."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from moto.emr.exceptions import ValidationException

from harness.emr.bootstrap import bootstrap_log_prefix, master_instance_id
from harness.emr.records import ClusterRun, LifecycleDelays
from harness.emr.validation import (
    check_auto_termination_policy,
    check_concurrency_level,
    check_security_configuration,
    check_steps_for_concurrency,
)


@pytest.mark.parametrize("level", [1, 2, 256])
def test_concurrency_level_in_bounds(level):
    assert check_concurrency_level(level) == level


@pytest.mark.parametrize("level", [0, 257, -1, "2", True, 1.5])
def test_concurrency_level_out_of_bounds(level):
    with pytest.raises(ValidationException, match="must be an integer from 1 to 256"):
        check_concurrency_level(level)


def test_serial_only_actions_rejected_above_level_one():
    steps = [{"Name": "a", "ActionOnFailure": "CONTINUE"}]
    check_steps_for_concurrency(steps, 5)
    check_steps_for_concurrency([{"Name": "x", "ActionOnFailure": "TERMINATE_CLUSTER"}], 1)
    for action in ("TERMINATE_CLUSTER", "TERMINATE_JOB_FLOW", "CANCEL_AND_WAIT", None):
        bad = {"Name": "x", "ActionOnFailure": action} if action else {"Name": "x"}
        with pytest.raises(ValidationException, match="only CONTINUE is allowed"):
            check_steps_for_concurrency([*steps, bad], 2)


@pytest.mark.parametrize("timeout", [59, 604801, None, "60"])
def test_idle_timeout_bounds(timeout):
    with pytest.raises(ValidationException, match="from 60 to 604800 seconds"):
        check_auto_termination_policy({"IdleTimeout": timeout})
    assert check_auto_termination_policy({"IdleTimeout": 60}) == {"IdleTimeout": 60}


def test_unknown_security_configuration():
    check_security_configuration(None, [])
    check_security_configuration("enc", ["enc"])
    with pytest.raises(ValidationException, match="with name 'x' does not exist"):
        check_security_configuration("x", ["enc"])


def test_master_instance_id_and_log_prefix():
    master = SimpleNamespace(instance_group=SimpleNamespace(role="MASTER"), ec2_instance_id="i-1")
    core = SimpleNamespace(instance_group=SimpleNamespace(role="CORE"), ec2_instance_id="i-2")
    assert master_instance_id(SimpleNamespace(id="j-ABC", ec2_instances=[core, master])) == "i-1"
    assert master_instance_id(SimpleNamespace(id="j-ABC", ec2_instances=[])) == "i-abc"
    prefix = bootstrap_log_prefix("s3n://logs/emr/", "j-ABC", "i-1", 2)
    assert str(prefix) == "s3://logs/emr/j-ABC/node/i-1/bootstrap-actions/2/"


def test_cluster_record_reads_level_and_idle_timeout():
    moto = SimpleNamespace(id="j-1", step_concurrency_level=4, _emu_auto_termination=None)
    run = ClusterRun(moto=moto)
    assert run.concurrency == 4 and run.idle_timeout is None
    moto._emu_auto_termination = {"IdleTimeout": 120}
    assert run.idle_timeout == 120.0
    assert LifecycleDelays().time_factor * 60 < 1  # EMR's minimum idle time is short here

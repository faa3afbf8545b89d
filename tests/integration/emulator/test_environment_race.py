"""Steps and clients never read the live process environment from a cluster thread.

Airflow's in-process supervisor adds and deletes ``__AIRFLOW_SUPERVISOR_FD`` around every task
while the emulator's cluster threads start steps; a step built from ``dict(os.environ)`` at that
moment died in setup with ``KeyError``. A real race only hits now and then, so the test makes
the bad interleaving certain: while it runs, ``os.environ`` is a view of the same variables
whose iteration, *from a cluster thread*, lists a variable that is then deleted before it can be
read (exactly what the supervisor did). On top of that a thread changes the environment in a
tight loop while many cheap steps run. Every step must complete.
"""

from __future__ import annotations

import os
import threading

import pytest

from .conftest import run_cluster, step

STEPS = 32
TORN = "__AIRFLOW_SUPERVISOR_FD"


class _TornEnviron(os._Environ):
    """os.environ over the same data; iterating it in a cluster thread loses TORN mid-way."""

    def __iter__(self):
        keys = list(self._data)
        if threading.current_thread().name.startswith("emr-"):
            value = self._data.pop(self.encodekey(TORN), None)
            try:
                for key in keys:
                    yield self.decodekey(key)
            finally:
                if value is not None:
                    self._data.setdefault(self.encodekey(TORN), value)
        else:
            for key in keys:
                yield self.decodekey(key)


@pytest.fixture
def torn_environ(monkeypatch):
    real = os.environ
    torn = _TornEnviron(real._data, real.encodekey, real.decodekey, real.encodevalue,
                        real.decodevalue)  # fmt: skip
    torn[TORN] = "3"
    monkeypatch.setattr(os, "environ", torn)
    yield
    monkeypatch.undo()
    real.pop(TORN, None)


def _churn(stop: threading.Event) -> None:
    names = [f"__HARNESS_RACE_{i}" for i in range(16)]
    while not stop.is_set():
        for name in names:
            os.environ[name] = "x"
        for name in names:
            del os.environ[name]


def test_steps_survive_a_concurrently_changing_environment(emulated_aws, emr, torn_environ):
    cluster_id = run_cluster(emr)
    emulated_aws.runtime.wait_cluster(cluster_id, "WAITING", timeout=60)
    stop = threading.Event()
    churner = threading.Thread(target=_churn, args=(stop,), daemon=True)
    churner.start()
    try:
        step_ids = emr.add_job_flow_steps(
            JobFlowId=cluster_id,
            Steps=[step(f"s{i}", "bash", "-c", "true") for i in range(STEPS)],
        )["StepIds"]
        runs = [emulated_aws.runtime.wait_step(cluster_id, sid, timeout=300) for sid in step_ids]
    finally:
        stop.set()
        churner.join(10)
    failed = {
        r.name: (r.failure, emulated_aws.step_stderr_tail(cluster_id, r.id))
        for r in runs
        if r.state.value != "COMPLETED"
    }
    assert failed == {}, f"{len(failed)} of {STEPS} steps did not complete: {failed}"


def test_the_runtime_s3_client_exists_before_any_cluster_thread(emulated_aws):
    # botocore builds sessions and clients from the environment: never in a cluster thread.
    assert emulated_aws.runtime._s3 is not None

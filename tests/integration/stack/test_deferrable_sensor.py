"""aguardar_step_spark deferrable, through the stack's real triggerer: a stack started with
`--deferrable` (the cluster policy makes the step sensor defer), one run, the task deferred and
resumed, the run green, no cluster left. Runs before the other stack modules (file order), so
two stacks never run at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .conftest import RunningStack, start_stack

pytestmark = pytest.mark.stack

DAG = "pipeline_emr"


@pytest.fixture(scope="module")
def deferrable_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    yield from start_stack(tmp_path_factory.mktemp("stack-deferrable") / "state", "--deferrable")


def test_step_sensor_defers_to_the_triggerer(deferrable_stack: RunningStack) -> None:
    api = deferrable_stack.api
    run_id = api.trigger(DAG)
    run = api.wait_run(DAG, run_id, timeout=600)
    states = api.task_states(DAG, run_id)
    assert run["state"] == "success", states
    log = api.task_log(DAG, run_id, "aguardar_step_spark")
    # The task handed its wait to the triggerer, and came back when the trigger fired.
    assert "defer" in log.lower(), log[-3000:]
    assert "trigger" in log.lower(), log[-3000:]
    triggerer_log = (deferrable_stack.state_dir / "logs" / "triggerer.log").read_text()
    assert "EmrStepSensorTrigger" in triggerer_log, triggerer_log[-3000:]
    assert deferrable_stack.backend.active_clusters() == []

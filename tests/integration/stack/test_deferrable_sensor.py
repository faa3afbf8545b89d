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
    # The triggerer ran the sensor's trigger: its own log file beside the task's, naming the
    # step it waited on.
    step_id = api.xcom(DAG, run_id, "adicionar_steps_spark")[0]
    folder = (deferrable_stack.state_dir / "home" / "logs" / f"dag_id={DAG}" / f"run_id={run_id}"
              / "task_id=aguardar_step_spark")
    trigger_logs = sorted(folder.glob("attempt=1.log.trigger.*.log"))
    assert trigger_logs, sorted(p.name for p in folder.iterdir())
    trigger_log = "\n".join(p.read_text() for p in trigger_logs)
    assert "starting" in trigger_log and step_id in trigger_log, trigger_log[-2000:]
    assert deferrable_stack.backend.active_clusters() == []

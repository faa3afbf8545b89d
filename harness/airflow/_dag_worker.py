"""Subprocess side of ``run_dag(..., isolation="subprocess")`` and ``prepare_dag_run``.

    python -m harness.airflow._dag_worker PREPARE_JSON RESULT_JSON EVENTS_FD CHANGES_FD

1. Reads PREPARE_JSON (dag id, DAGs folder, Variables) and gets Airflow ready: throw-away home,
   import, Execution API warmed, DAG parsed. This needs no AWS endpoint, so it can overlap with
   the parent starting one.
2. Reads the full run spec as one JSON line on stdin, runs it, writes each progress event as a
   JSON line to EVENTS_FD as it happens and the ``DagRunResult`` to RESULT_JSON.
   CHANGES_FD gets a byte on each EMR state change of the parent's emulator when the spec's
   ``state_changes`` says so (``harness.airflow.state_changes``).

Not a public interface.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.airflow.progress import TaskEvent

#: Generation-0 threshold while Airflow is imported (CPython's default is 700 allocations).
STARTUP_GC_THRESHOLD = 100_000


@contextlib.contextmanager
def start_up_collections() -> Iterator[None]:
    """Fewer garbage collections while Airflow is imported, then its objects frozen.

    Importing Airflow, building its Execution API and parsing a DAG allocate millions of
    objects that live until the process ends; with the default thresholds the collector scans
    them again and again (about a quarter of the worker's start-up CPU here). Frozen
    afterwards (``gc.freeze``), the collections made while the DAG runs skip them too. The
    thresholds are put back on the way out; collection itself stays on."""
    saved = gc.get_threshold()
    gc.set_threshold(STARTUP_GC_THRESHOLD, *saved[1:])
    try:
        yield
    finally:
        gc.freeze()
        gc.set_threshold(*saved)


def main(argv: list[str]) -> int:
    prepare_path, result_path, events_fd, changes_fd = argv
    from harness.offline_env import GUARD_FLAG

    if os.environ.get(GUARD_FLAG) == "1":
        # sitecustomize installed it already, unless this interpreter skipped site (-S/-I).
        from harness.guard import install_import_hook

        install_import_hook()
    from harness.airflow.environment import RunSpec
    from harness.airflow.in_process import _prepare, _run_in_process
    from harness.airflow.state_changes import StateChanges

    prep = json.loads(Path(prepare_path).read_text())
    with start_up_collections():
        dag, timings = _prepare(prep["dag_id"], prep["dags_folder"], prep["variables"])
    line = sys.stdin.readline()
    if not line:  # the parent gave up (closed without a spec)
        return 0
    spec = RunSpec(**json.loads(line))
    if spec.dags_folder != prep["dags_folder"] or spec.dag_id != prep["dag_id"]:
        dag = None  # parse again what was asked for
    with os.fdopen(int(events_fd), "w", buffering=1) as events:

        def forward(event: TaskEvent) -> None:
            events.write(json.dumps(event.to_dict()) + "\n")

        changes = StateChanges(int(changes_fd)) if spec.state_changes else None
        result = _run_in_process(spec, forward, dag=dag, timings=timings, changes=changes)
        # Written before the events pipe closes: the parent takes EOF as "result ready" and
        # does not wait for this interpreter's (slow) shutdown.
        partial = Path(result_path + ".partial")
        partial.write_text(json.dumps(result.to_dict(), default=str))
        os.replace(partial, result_path)
    return 0


if __name__ == "__main__":
    from harness import fast_exit

    # Once the result is written nothing is left to do: no seconds of tearing down Airflow's
    # modules and objects while the parent waits for this process to end.
    fast_exit.install()
    code = main(sys.argv[1:])
    fast_exit.done(code)
    raise SystemExit(code)

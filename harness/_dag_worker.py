"""Subprocess side of ``run_dag(..., isolation="subprocess")``.

    python -m harness._dag_worker SPEC_JSON RESULT_JSON EVENTS_FD

Reads the run spec, runs it in this (fresh) process, writes each progress event as one JSON line
to EVENTS_FD as it happens and the ``DagRunResult`` to RESULT_JSON. Not a public interface.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    spec_path, result_path, events_fd = argv
    from harness.dag_runner import RunSpec, _run_in_process

    spec = RunSpec(**json.loads(Path(spec_path).read_text()))
    with os.fdopen(int(events_fd), "w", buffering=1) as events:

        def forward(event):
            events.write(json.dumps(event.to_dict()) + "\n")

        result = _run_in_process(spec, forward)
    Path(result_path).write_text(json.dumps(result.to_dict(), default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Print how long dags/pipeline_emr.py takes to import and to parse into a DagBag.

A report, not a gate: no thresholds. The scheduler re-parses DAG files continuously (every
30 s by default), so parse time is paid over and over; Airflow warns above dagbag_import_timeout.

    python tests/benchmarks/dag_import.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DAG_FILE = REPO / "dags" / "pipeline_emr.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    # Never touch the user's ~/airflow.
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-home-bench-"))
    sys.path.insert(0, str(REPO))

    t0 = time.perf_counter()
    import airflow.providers.amazon.aws.operators.emr  # noqa: F401
    import airflow.providers.amazon.aws.sensors.s3  # noqa: F401
    import airflow.sdk  # noqa: F401

    deps = time.perf_counter() - t0

    module_times = []
    for i in range(args.repeat):
        name = f"pipeline_emr_bench_{i}"
        spec = importlib.util.spec_from_file_location(name, DAG_FILE)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        t = time.perf_counter()
        spec.loader.exec_module(module)
        module_times.append(time.perf_counter() - t)

    from harness.airflow.dag_testing import load_dagbag

    bag_times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        bag = load_dagbag(DAG_FILE.parent)
        bag_times.append(time.perf_counter() - t)
    assert not bag.import_errors, bag.import_errors

    ms = lambda s: f"{s * 1000:8.1f} ms"  # noqa: E731
    print(f"DAG file: {DAG_FILE.relative_to(REPO)}  (repeat={args.repeat})")
    print(f"  first import of airflow.sdk + amazon provider: {ms(deps)}  (paid once per process)")
    print(f"  exec of the DAG file, median:                  {ms(statistics.median(module_times))}")
    print(f"  DagBag fill of dags/, median:                  {ms(statistics.median(bag_times))}")


if __name__ == "__main__":
    main()

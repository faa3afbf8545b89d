"""The whole DAG run offline vs a bare `spark-submit` of the same job on the same data.

    python tests/benchmarks/pipeline_vs_spark_submit.py [--repeat N]

Measures, in one invocation and alternating (so both see the same machine load):

* **bare**: `spark-submit --master local[2] spark/processar_vendas.py data/dados_vendas.csv OUT`
  (argv and environment from `harness.spark`), wall time of the process;
* **pipeline**: `python -m harness run` (what `nox -s pipeline` runs): interpreter start, the
  emulator, provisioning, Airflow import and DB, the tasks of `dags/pipeline_emr.py` under
  `dag.test()`, the Spark step (a cold `spark-submit`, as EMR's command-runner does), the result
  read-back - wall time of the process;
* **pipeline --warm-spark**: the same, with the step run on a Spark Connect server the command
  starts at once (so its JVM start overlaps Airflow's), like a cluster whose Spark is already up.

Prints both, two ratios - the whole command, and the DAG run itself (`dag.test()` from the first
task to the last; issue 5's target: <= 1.5x) - and where the pipeline's time went (from
`python -m harness run --timings`). Numbers only; nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from harness.spark import spark_submit_argv, spark_submit_env  # noqa: E402

SCRIPT = ROOT / "spark" / "processar_vendas.py"
DATA = ROOT / "data" / "dados_vendas.csv"
TARGET = 1.5


def bare_spark_submit(tmp: Path) -> float:
    out = tmp / f"bare-{time.monotonic_ns()}"
    argv = spark_submit_argv(SCRIPT, str(DATA), str(out))
    t = time.perf_counter()
    proc = subprocess.run(argv, env=spark_submit_env(plain=True), cwd=tmp, capture_output=True,
                          text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"bare spark-submit failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall


def pipeline_run(tmp: Path, *extra: str) -> tuple[float, dict]:
    workdir = tmp / f"run-{time.monotonic_ns()}"
    timings = workdir.with_suffix(".json")
    argv = [sys.executable, "-m", "harness", "run", "--workdir", str(workdir),
            "--timings", str(timings), *extra]
    t = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"python -m harness run failed ({proc.returncode}):\n"
                         f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall, json.loads(timings.read_text())


def breakdown(wall: float, t: dict) -> list[tuple[str, float]]:
    """Rows of (what, seconds). Airflow's start-up runs in a worker process *while* this process
    starts the emulator, so those two groups overlap; the rest is sequential."""
    phases, run, tasks = t["phases"], t["run_dag"], t["tasks"]
    in_main = sum(phases.values())
    spark = sum(t["steps"].values())
    dag_test = run.get("dag_test", 0.0)
    worker_prep = sum(run.get(k, 0.0) for k in (
        "airflow_home", "import_airflow", "warm_execution_api", "parse_dag"))
    parent_prep = sum(phases.get(k, 0.0) for k in (
        "start_spark_connect", "backend_start", "provision"))
    return [
        ("interpreter, harness imports, result read-back and exit", wall - in_main),
        ("[parallel] start the Spark Connect server (--warm-spark)",
         phases.get("start_spark_connect", 0.0)),
        ("[parallel] emulator start (moto import, server)", phases.get("backend_start", 0.0)),
        ("[parallel] provisioning (bucket, data, script, roles)", phases.get("provision", 0.0)),
        ("[parallel] worker: airflow home (cached DB copy)", run.get("airflow_home", 0.0)),
        ("[parallel] worker: import airflow", run.get("import_airflow", 0.0)),
        ("[parallel] worker: build Execution API", run.get("warm_execution_api", 0.0)),
        ("[parallel] worker: parse the DAG", run.get("parse_dag", 0.0)),
        ("waiting for the worker after provisioning", max(0.0, worker_prep - parent_prep)),
        ("dag.test(): the Spark step (EMR timeline)", spark),
        ("dag.test(): everything else (tasks, polling, bookkeeping)", dag_test - spark),
        ("after dag.test (result transfer, EMR inspection)",
         in_main - phases.get("start_airflow_worker", 0.0) - max(worker_prep, parent_prep)
         - dag_test),
        ("  tasks (Airflow's durations): " + ", ".join(
            f"{k} {v:.2f}" for k, v in tasks.items()), 0.0),
        (f"  CPU s: Airflow worker during dag.test() {run.get('dag_test_cpu', 0):.1f}", 0.0),
        (f"  CPU s: harness process {t.get('cpu_self', 0):.1f} (emulator, HTTP), its children "
         f"{t.get('cpu_children', 0):.1f} (Airflow worker, Spark)", 0.0),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="alternating rounds to measure")
    parser.add_argument("--no-warm", action="store_true",
                        help="skip the `run --warm-spark` variant (Spark Connect step executor)")
    args = parser.parse_args()
    variants = {"pipeline": ()} if args.no_warm else {
        "pipeline": (), "pipeline --warm-spark": ("--warm-spark",)}
    bare: list[float] = []
    runs: dict[str, list[tuple[float, dict]]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        for i in range(args.repeat):
            bare.append(bare_spark_submit(Path(tmp)))
            line = f"round {i + 1}: bare spark-submit {bare[-1]:.1f} s"
            for name, extra in variants.items():
                runs[name].append(pipeline_run(Path(tmp), *extra))
                line += f", {name} {runs[name][-1][0]:.1f} s"
            print(line, flush=True)
    b = statistics.median(bare)
    print()
    print(f"bare spark-submit         (median of {len(bare)}): {b:6.1f} s")
    for name, results in runs.items():
        p = statistics.median(w for w, _ in results)
        print(f"{name:<25} (median of {len(results)}): {p:6.1f} s   ratio {p / b:.2f}x "
              f"(whole command: interpreter, emulator, Airflow start-up, DAG run, report)")
        d = statistics.median(t["run_dag"]["dag_test"] for _, t in results)
        print(f"{'  of which the DAG run':<25} (median of {len(results)}): {d:6.1f} s   ratio "
              f"{d / b:.2f}x (dag.test(), first task to last; target <= {TARGET}x)")
    for name, results in runs.items():
        p = statistics.median(w for w, _ in results)
        wall, t = min(results, key=lambda r: abs(r[0] - p))
        print(f"\nwhere `{name}`'s {wall:.1f} s went:")
        for what, seconds in breakdown(wall, t):
            print(f"  {what:<58} {seconds:6.2f} s" if seconds else f"  {what}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The hardened job vs the seed lesson's job: bare `spark-submit`, same data, alternating.

    python tests/benchmarks/job_vs_seed.py [--repeat N] [--data CSV] [--job SCRIPT ...] [--no-seed]

Runs `spark-submit --master local[2]` (argv and environment from `harness.spark`) of
`tests/benchmarks/seed_job.py` (the lesson's job, verbatim) and of `spark/processar_vendas.py`
(or each `--job`), one after the other in each round so all see the same machine load, and prints
per round and as medians: the wall time of the process, its CPU time (user + system, itself and
its children: less sensitive than wall time to what else runs on the machine), the Spark jobs and
stages it ran and the time spent inside them (from Spark's event log, written to a temporary
directory), the ratios job / seed (issue 12's target: <= 1.1x) and the load average. With
`--no-seed` the ratios are to the first `--job` (an older copy, on data the seed's job cannot
read). Numbers only; nothing here asserts a timing."""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from harness.spark import spark_submit_argv, spark_submit_env  # noqa: E402

SEED_JOB = Path(__file__).resolve().parent / "seed_job.py"
HARDENED_JOB = ROOT / "spark" / "processar_vendas.py"
DATA = ROOT / "data" / "dados_vendas.csv"
TARGET = 1.1


@dataclass(frozen=True)
class Run:
    wall: float  # the spark-submit process, start to exit
    cpu: float  # user + system seconds of it and its children (less load-sensitive than wall)
    jobs: int  # SparkListenerJobStart events
    stages: int  # SparkListenerStageCompleted events (stages that ran; skipped ones do not)
    in_jobs: float  # seconds inside jobs (submission to completion, summed)
    first_job: float  # seconds from the application's start to its first job


def event_log_stats(folder: Path) -> tuple[int, int, float, float]:
    """(jobs, stages run, seconds inside jobs, seconds to the first job) from an uncompressed
    event log."""
    logs = [p for p in folder.iterdir() if p.is_file()]
    if len(logs) != 1:
        raise SystemExit(f"expected one event log in {folder}, found {logs}")
    starts: dict[int, int] = {}
    ends: dict[int, int] = {}
    app_start = None
    stages = 0
    with logs[0].open(encoding="utf-8") as lines:
        for line in lines:
            event = json.loads(line)
            kind = event["Event"]
            if kind == "SparkListenerApplicationStart":
                app_start = event["Timestamp"]
            elif kind == "SparkListenerJobStart":
                starts[event["Job ID"]] = event["Submission Time"]
            elif kind == "SparkListenerJobEnd":
                ends[event["Job ID"]] = event["Completion Time"]
            elif kind == "SparkListenerStageCompleted":
                stages += 1
    inside = sum(ends[j] - starts[j] for j in starts if j in ends) / 1000
    first = (min(starts.values()) - app_start) / 1000 if starts and app_start else 0.0
    return len(starts), stages, inside, first


def spark_submit(script: Path, data: Path, tmp: Path, *, event_log: bool = True) -> Run:
    """One bare spark-submit of `script data <out>`; fails loudly if the job does."""
    stamp = time.monotonic_ns()
    out = tmp / f"out-{script.stem}-{stamp}"
    events = tmp / f"events-{script.stem}-{stamp}"
    conf = {}
    if event_log:
        events.mkdir()
        conf = {"spark.eventLog.enabled": "true", "spark.eventLog.dir": events.as_uri(),
                "spark.eventLog.compress": "false", "spark.eventLog.rolling.enabled": "false"}
    argv = spark_submit_argv(script, str(data), str(out), conf=conf)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(argv, env=spark_submit_env(plain=True), cwd=tmp, capture_output=True,
                          text=True, check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"spark-submit {script.name} failed ({proc.returncode}):\n"
                         f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    if not event_log:
        return Run(wall, cpu, 0, 0, 0.0, 0.0)
    return Run(wall, cpu, *event_log_stats(events))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--data", type=Path, default=DATA, help="input CSV (default: the seed's)")
    parser.add_argument("--job", type=Path, action="append", default=None,
                        help="a job to compare with the seed's (repeatable, e.g. an older copy "
                             "of the hardened job as well; default spark/processar_vendas.py)")
    parser.add_argument("--no-seed", action="store_true",
                        help="leave the seed's job out; ratios are to the first --job (for inputs "
                             "the seed's job cannot read, e.g. with bad rows under ANSI mode)")
    parser.add_argument("--no-event-log", action="store_true",
                        help="do not write Spark's event log (no job counts)")
    args = parser.parse_args()
    others = [p.resolve() for p in (args.job or [HARDENED_JOB])]
    jobs = {} if args.no_seed else {"seed": SEED_JOB}
    for path in others:
        jobs[path.stem if path != HARDENED_JOB else "hardened"] = path
    if len(jobs) != len(others) + (0 if args.no_seed else 1):
        raise SystemExit("--job: give the jobs distinct file names (they label the columns)")
    runs: dict[str, list[Run]] = {name: [] for name in jobs}
    with tempfile.TemporaryDirectory(prefix="bench-job-vs-seed-") as tmp:
        for i in range(args.repeat):
            line = f"round {i + 1}:"
            # Alternate the order, so no job always runs first (or on a warmer page cache).
            for name in (list(jobs) if i % 2 == 0 else list(jobs)[::-1]):
                run = spark_submit(jobs[name], args.data.resolve(), Path(tmp),
                                   event_log=not args.no_event_log)
                runs[name].append(run)
                line += (f"  {name} {run.wall:.1f} s (cpu {run.cpu:.1f} s, {run.jobs} jobs, "
                         f"{run.stages} stages, {run.in_jobs:.1f} s in "
                         f"jobs, first job at {run.first_job:.1f} s)")
            print(line, flush=True)
    print(f"\nload average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"data: {args.data} ({args.data.stat().st_size} bytes); medians of {args.repeat}:")
    med = {name: statistics.median(r.wall for r in rs) for name, rs in runs.items()}
    for name, rs in runs.items():
        jobs_ = statistics.median(r.jobs for r in rs)
        stages = statistics.median(r.stages for r in rs)
        cpu = statistics.median(r.cpu for r in rs)
        print(f"  {name:<12} {med[name]:7.1f} s wall  {cpu:6.1f} s cpu   jobs {jobs_:4.0f}"
              f"   stages {stages:4.0f}"
              f"   in jobs {statistics.median(r.in_jobs for r in rs):6.1f} s"
              f"   first job at {statistics.median(r.first_job for r in rs):5.1f} s")
    base = list(jobs)[0]
    base_cpu = statistics.median(r.cpu for r in runs[base])
    for name in list(jobs)[1:]:
        ratios = [h.wall / s.wall for h, s in zip(runs[name], runs[base], strict=True)]
        cpu = statistics.median(r.cpu for r in runs[name]) / base_cpu
        print(f"  ratio {name} / {base}: {med[name] / med[base]:.2f}x of the medians "
              f"(per round: {', '.join(f'{r:.2f}' for r in ratios)}; target <= {TARGET}x); "
              f"cpu {cpu:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

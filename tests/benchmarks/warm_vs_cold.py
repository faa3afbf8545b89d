"""Warm loop vs cold: `python -m harness run` on warm services vs a cold one vs a bare spark-submit.

    python tests/benchmarks/warm_vs_cold.py [--rounds N]

In one invocation, on the seed's data (`data/dados_vendas.csv`):

1. `python -m harness up` (its own state folder; timed, not part of the ratios), then one warm
   `run` that is not counted (the first run after `up` imports the EMR code paths);
2. N alternating rounds (so all three see the same machine load), each:
   * **bare**: a cold `spark-submit --master local[2] spark/processar_vendas.py IN OUT`;
   * **cold**: `python -m harness run --no-warm` (the whole command, as today);
   * **warm**: `python -m harness run` delegating to the warm services (the whole command:
     interpreter start, request, provisioning, the DAG under `dag.test()`, the Spark step on
     the warm Spark Connect server, the report);
3. `python -m harness down`.

Prints each round, the medians and the ratios; issue 12's target is warm <= 0.5x bare.
Numbers only: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import os
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
TARGET = 0.5


def timed(argv: list[str], *, env: dict[str, str], cwd: Path, what: str) -> tuple[float, str]:
    t = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                         f"{proc.stderr[-3000:]}")
    return wall, proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-warm-") as tmp_name:
        tmp = Path(tmp_name)
        env = {k: v for k, v in os.environ.items() if k != "HARNESS_NO_WARM"}
        env["HARNESS_WARM_DIR"] = str(tmp / "warm")
        harness = [sys.executable, "-m", "harness"]
        up, _ = timed([*harness, "up"], env=env, cwd=ROOT, what="harness up")
        print(f"harness up: {up:.1f} s (once)", flush=True)
        try:
            first, out = timed([*harness, "run", "--workdir", str(tmp / "run-0")], env=env,
                               cwd=ROOT, what="first warm run")  # fmt: skip
            if "using warm services" not in out:
                raise SystemExit(f"the run did not use the warm services:\n{out}")
            print(f"first warm run after up (not counted): {first:.1f} s", flush=True)
            bare: list[float] = []
            cold: list[float] = []
            warm: list[float] = []
            for i in range(args.rounds):
                out_dir = tmp / f"bare-{i}"
                bare.append(timed(spark_submit_argv(SCRIPT, str(DATA), str(out_dir)),
                                  env=spark_submit_env(plain=True), cwd=tmp,
                                  what="bare spark-submit")[0])
                cold.append(timed([*harness, "run", "--no-warm", "--workdir",
                                   str(tmp / f"cold-{i}")], env=env, cwd=ROOT,
                                  what="cold run")[0])  # fmt: skip
                wall, out = timed([*harness, "run", "--workdir", str(tmp / f"warm-{i}")],
                                  env=env, cwd=ROOT, what="warm run")  # fmt: skip
                if "using warm services" not in out:
                    raise SystemExit(f"the run did not use the warm services:\n{out}")
                warm.append(wall)
                print(f"round {i + 1}: bare spark-submit {bare[-1]:.1f} s, cold run "
                      f"{cold[-1]:.1f} s, warm run {warm[-1]:.1f} s; warm/bare "
                      f"{warm[-1] / bare[-1]:.2f}x, cold/bare {cold[-1] / bare[-1]:.2f}x",
                      flush=True)  # fmt: skip
        finally:
            subprocess.run([*harness, "down"], env=env, cwd=ROOT, check=False)
    b, c, w = (statistics.median(x) for x in (bare, cold, warm))
    n = args.rounds
    print()
    print(f"bare spark-submit (median of {n}): {b:6.1f} s")
    print(f"cold harness run  (median of {n}): {c:6.1f} s   {c / b:.2f}x bare")
    print(f"warm harness run  (median of {n}): {w:6.1f} s   {w / b:.2f}x bare "
          f"(target <= {TARGET}x), {w / c:.2f}x cold")
    worst = max(wr / br for wr, br in zip(warm, bare, strict=True))
    print(f"worst round: warm {worst:.2f}x bare (rounds compare runs under the same load; "
          "medians mix rounds whose load differed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

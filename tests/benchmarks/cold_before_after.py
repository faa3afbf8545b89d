"""A cold `python -m harness run` of two trees side by side, against a bare spark-submit.

    python tests/benchmarks/cold_before_after.py [--before-ref REF | --before DIR] [--rounds N]

The older tree: ``--before DIR`` (a checkout), else ``git archive REF`` of this repository
unpacked into a temporary folder (REF default ``main``; bytecode compiled there first, as an
installed tree has it).

Each round runs, one after the other on the same machine load: a bare cold `spark-submit` of
the job on the seed's data, then the whole cold command (`run --no-warm`, its own workdir) of
the older tree and of this one (their order alternates between rounds). Both trees run with
this environment's interpreter; only the ratios within a round mean something on a shared
machine. Prints each round, the load average around it and the medians. Numbers only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from harness.spark import spark_submit_argv, spark_submit_env  # noqa: E402
from tests.benchmarks.warm_vs_cold import timed  # noqa: E402

SCRIPT = ROOT / "spark" / "processar_vendas.py"
DATA = ROOT / "data" / "dados_vendas.csv"


def export(ref: str, dest: Path) -> Path:
    """``git archive ref`` of this repository, unpacked into ``dest`` and byte-compiled."""
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], capture_output=True,
                             check=False)  # fmt: skip
    if archive.returncode != 0:
        raise SystemExit(f"git archive {ref} failed: {archive.stderr.decode(errors='replace')}")
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(dest / "harness"),
                    str(dest / "dags")], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    return dest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, default=None,
                        help="the older tree (a checkout holding harness/ and pyproject.toml)")
    parser.add_argument("--before-ref", default="main",
                        help="without --before: the git ref to export as the older tree "
                             "(default main)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    args = parser.parse_args()
    walls: dict[str, list[float]] = {"bare": [], "before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp_name:
        tmp = Path(tmp_name)
        before = args.before.resolve() if args.before else export(args.before_ref, tmp / "before")
        if not (before / "harness" / "__main__.py").exists():
            raise SystemExit(f"the older tree {before}: no harness/__main__.py there")
        print(f"before: {before}; after: {ROOT}", flush=True)
        trees = {"before": before, "after": ROOT}
        env = {k: v for k, v in os.environ.items() if k != "HARNESS_NO_WARM"}
        env["HARNESS_WARM_DIR"] = str(tmp / "no-warm")  # never a warm loop someone started
        for i in range(args.rounds):
            load = os.getloadavg()[0]
            walls["bare"].append(timed(
                spark_submit_argv(SCRIPT, str(DATA), str(tmp / f"bare-{i}")),
                env=spark_submit_env(plain=True), cwd=tmp, what="bare spark-submit")[0])
            for name in (("before", "after") if i % 2 == 0 else ("after", "before")):
                walls[name].append(timed(
                    [sys.executable, "-m", "harness", "run", "--no-warm", "--workdir",
                     str(tmp / f"{name}-{i}")], env=env, cwd=trees[name], what=f"{name} run")[0])
            bare, old, new = (walls[k][-1] for k in ("bare", "before", "after"))
            print(f"round {i + 1} (load {load:.1f} -> {os.getloadavg()[0]:.1f}): bare {bare:.1f} s"
                  f", cold before {old:.1f} s ({old / bare:.2f}x), cold after {new:.1f} s "
                  f"({new / bare:.2f}x)", flush=True)
    med = {k: statistics.median(v) for k, v in walls.items()}
    print(f"median: bare {med['bare']:.1f} s, cold before {med['before']:.1f} s "
          f"({med['before'] / med['bare']:.2f}x), cold after {med['after']:.1f} s "
          f"({med['after'] / med['bare']:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Per-step overhead of the EMR emulator (state machine + S3 staging + logs), Spark excluded.

    python tests/benchmarks/emulator_overhead.py [--steps 20]

Runs no-op command-runner steps (`true`) on one cluster and reports, per step:
  - api-to-done: AddJobFlowSteps returned -> step COMPLETED seen by the runtime;
  - process: time inside the executor (the `true` process itself);
  - overhead = api-to-done - process (planning, staging in/out, state changes, log upload);
both without S3 arguments and with a step staging an input prefix (10 small objects) and an
output folder, with a LogUri. Also: endpoint start time and cluster STARTING -> WAITING.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import warnings


class TimedExecutor:
    """The default executor, timing only the process."""

    def __init__(self) -> None:
        from harness.emr.executors import SubprocessExecutor

        self.inner = SubprocessExecutor()
        self.last = 0.0

    def run(self, argv, env, cwd, stdout_path, stderr_path, cancel_event: threading.Event) -> int:
        t = time.perf_counter()
        rc = self.inner.run(argv, env, cwd, stdout_path, stderr_path, cancel_event)
        self.last = time.perf_counter() - t
        return rc


def measure(aws, emr, cid, executor, steps, args) -> tuple[list[float], list[float]]:
    totals, procs = [], []
    for i in range(steps):
        step = {"Name": f"noop-{i}", "ActionOnFailure": "CONTINUE",
                "HadoopJarStep": {"Jar": "command-runner.jar", "Args": args}}  # fmt: skip
        t = time.perf_counter()
        (sid,) = emr.add_job_flow_steps(JobFlowId=cid, Steps=[step])["StepIds"]
        done = aws.runtime.wait_step(cid, sid, timeout=60)
        totals.append(time.perf_counter() - t)
        procs.append(executor.last)
        assert done.state.value == "COMPLETED", aws.step_stderr_tail(cid, sid)
    return totals, procs


def fmt(xs: list[float]) -> str:
    ms = sorted(x * 1000 for x in xs)
    return f"median {statistics.median(ms):7.1f} ms   p90 {ms[int(len(ms) * 0.9) - 1]:7.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    opts = parser.parse_args()
    warnings.simplefilter("ignore")
    from harness.endpoint import EmulatedAWS

    executor = TimedExecutor()
    t0 = time.perf_counter()
    with EmulatedAWS(executor=executor) as aws:
        started = time.perf_counter() - t0
        emr, s3 = aws.client("emr"), aws.client("s3")
        s3.create_bucket(Bucket="bench")
        for i in range(10):
            s3.put_object(Bucket="bench", Key=f"in/part-{i}.csv", Body=b"a,b\n1,2\n" * 50)
        t = time.perf_counter()
        cid = emr.run_job_flow(
            Name="bench", ReleaseLabel="emr-6.15.0", LogUri="s3://bench/logs/",
            Instances={"MasterInstanceType": "m5.xlarge", "SlaveInstanceType": "m5.xlarge",
                       "InstanceCount": 2, "KeepJobFlowAliveWhenNoSteps": True},
        )["JobFlowId"]  # fmt: skip
        aws.runtime.wait_cluster(cid, "WAITING", timeout=30)
        ready = time.perf_counter() - t

        measure(aws, emr, cid, executor, 2, ["true"])  # warm-up
        plain_total, plain_proc = measure(aws, emr, cid, executor, opts.steps, ["true"])
        staged_args = ["bash", "-c", 'cp -r "$0" "$1"', "s3://bench/in/", "s3://bench/out/"]
        staged_total, staged_proc = measure(aws, emr, cid, executor, opts.steps, staged_args)

    over_plain = [a - b for a, b in zip(plain_total, plain_proc, strict=True)]
    over_staged = [a - b for a, b in zip(staged_total, staged_proc, strict=True)]
    print(f"endpoint start (incl. imports):  {started * 1000:7.1f} ms")
    print(f"RunJobFlow -> WAITING:           {ready * 1000:7.1f} ms")
    print(f"no-op step, no S3 args ({opts.steps} steps, LogUri set):")
    print(f"  AddJobFlowSteps -> COMPLETED   {fmt(plain_total)}")
    print(f"  process (`true`)               {fmt(plain_proc)}")
    print(f"  emulator overhead              {fmt(over_plain)}")
    print(f"step staging 10 objects in + out ({opts.steps} steps):")
    print(f"  AddJobFlowSteps -> COMPLETED   {fmt(staged_total)}")
    print(f"  process (`bash cp -r`)         {fmt(staged_proc)}")
    print(f"  emulator overhead              {fmt(over_staged)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

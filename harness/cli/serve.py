"""`python -m harness serve`: the embedded AWS endpoint in the foreground.

Prints one ready line with the endpoint URL, then serves until Ctrl-C, SIGTERM or SIGHUP, when
it terminates live clusters (killing running steps), removes its temporary workdir and exits 0.
If it is killed outright (SIGKILL), each step's reaper ends that step's process tree. Imports no
Airflow.
"""

from __future__ import annotations

import argparse
import signal
import threading


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: a free one)"
    )
    p.add_argument("--region", default="us-east-1", help="region clients use (default us-east-1)")
    p.add_argument(
        "--workdir",
        default=None,
        help="folder for the S3 staging mirror and step logs (default: temp dir, removed on exit)",
    )
    p.add_argument(
        "--strict-versions",
        action="store_true",
        help="fail clusters whose EMR release runs another Spark minor than the local pyspark",
    )


def run(args: argparse.Namespace) -> int:
    from harness.endpoint import EmulatedAWS, console_reports

    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set())
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    try:
        with console_reports(), EmulatedAWS(
            region=args.region,
            port=args.port,
            workdir=args.workdir,
            strict_versions=args.strict_versions,
        ) as aws:
            runtime = aws.runtime  # its cluster records outlive the endpoint: reported below
            print(
                f"emulated AWS ready at {aws.url} (region {aws.region}, workdir {aws.workdir}); "
                f"export AWS_ENDPOINT_URL={aws.url} - Ctrl-C to stop",
                flush=True,
            )
            from harness.processes import wait_for

            wait_for(stop)  # not stop.wait(): a signal may land in another thread
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for cluster in runtime.clusters():
        print(f"cluster {cluster.id}: {cluster.state.value}", flush=True)
    print("emulated AWS stopped", flush=True)
    return 0

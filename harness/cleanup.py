"""`python -m harness cleanup --older-than 2h [--yes]`: end what crashed real-AWS runs left.

Lists the active EMR clusters and the S3 buckets that carry the harness's run-id tag and were
created more than `--older-than` ago (creation times from the AWS APIs), then - only with
`--yes` - terminates the clusters and empties and deletes the buckets. A dry run by default.
Untagged resources are never touched. No Airflow imports.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["add_arguments", "main", "parse_age"]

_AGE_RE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> timedelta:
    """'2h', '90m', '1.5d', '0s' -> timedelta (argparse type; a bad value says what is wanted)."""
    match = _AGE_RE.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a number and a unit s, m, h or d (e.g. 2h, 90m)"
        )
    return timedelta(seconds=float(match.group(1)) * _UNIT_S[match.group(2)])


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--older-than", type=parse_age, default=parse_age("2h"), metavar="AGE",
                   help="only resources created more than AGE ago (default 2h; e.g. 90m, 1d)")
    p.add_argument("--yes", action="store_true",
                   help="really terminate / delete (default: dry run, list only)")
    p.add_argument("--profile", default=None, help="AWS profile (default: AWS_PROFILE / chain)")
    p.add_argument("--region", default=None, help="region (default: the profile's)")
    p.add_argument("--terminate-wait", type=float, default=0, metavar="SECONDS",
                   help="wait for clusters to be TERMINATED before deleting buckets")
    p.add_argument("--endpoint-url", default=None, help=argparse.SUPPRESS)  # tests only


def main(args: argparse.Namespace, out: Callable[[str], Any] = print) -> int:
    from harness.backends.aws import AwsBackend
    from harness.backends.aws_cleanup import RUN_ID_TAG, end_orphans, find_orphans
    from harness.backends.base import BackendUnavailable

    # The backend only for its session, identity and clients: nothing is started or created.
    aws = AwsBackend(profile=args.profile, region=args.region, endpoint_url=args.endpoint_url)
    try:
        ident = aws.whoami()
    except BackendUnavailable as e:
        out(f"cleanup: {e}")
        return 1
    now = datetime.now(UTC)
    out(f"AWS account {ident.account}, region {aws.region}: looking for active clusters and "
        f"buckets tagged {RUN_ID_TAG} created before {(now - args.older_than):%Y-%m-%d %H:%M} "
        "UTC")  # fmt: skip
    emr, s3 = aws.client("emr"), aws.client("s3")
    orphans = find_orphans(emr, s3, older_than=args.older_than, now=now)
    if not orphans:
        out("nothing to clean up")
        return 0
    for orphan in orphans:
        out(f"  {orphan.describe(now)}")
    if not args.yes:
        out(f"dry run: {len(orphans)} resource(s) would be ended; re-run with --yes to do it")
        return 0
    errors = end_orphans(emr, s3, orphans, out=out, wait_s=args.terminate_wait)
    for error in errors:
        out(f"FAILED: {error}")
    return 1 if errors else 0

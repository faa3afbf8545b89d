"""`python -m harness.stack.provision --endpoint-url URL`: a repository's ``[tool.harness]``
setup (buckets, uploads, the EMR default roles: ``harness.provisioning``) against any offline
endpoint (the compose overlay's LocalStack), with plain boto3 clients and dummy keys. The URL
must be given explicitly.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from harness.config import ConfigError, load_config
from harness.provisioning import provision


class _Clients:
    def __init__(self, endpoint_url: str, region: str) -> None:
        self.endpoint_url = endpoint_url
        self.region = region

    def client(self, service: str, **kwargs: Any) -> Any:
        import boto3

        # types-boto3 types client() for literal service names only; this one is any name.
        return boto3.client(service,  # type: ignore[call-overload]
                            endpoint_url=self.endpoint_url, region_name=self.region,
                            aws_access_key_id="testing", aws_secret_access_key="testing",
                            **kwargs)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.stack.provision")
    p.add_argument("--endpoint-url", required=True, help="the offline AWS endpoint (S3, IAM)")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="TOML file with a [tool.harness] table; default ./pyproject.toml")
    args = p.parse_args(argv)
    try:
        config = load_config(args.config)
        uploaded = provision(_Clients(args.endpoint_url, args.region), config)
    except ConfigError as exc:
        print(f"harness.stack.provision: {exc}", file=sys.stderr)
        return 2
    print(f"provisioned {', '.join(config.all_buckets()) or 'no bucket'} "
          f"({', '.join(uploaded) or 'no upload'})"
          + (" and the EMR default roles" if config.emr_default_roles else "")
          + f" at {args.endpoint_url}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

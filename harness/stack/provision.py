"""`python -m harness.stack.provision --endpoint-url URL`: the lesson's setup against any
offline endpoint (the compose overlay's LocalStack): bucket, input CSV, job script, EMR default
roles — `harness.pipeline_run.provision` with plain boto3 clients and dummy keys. Refuses a
non-offline target: the URL must be given explicitly.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness.pipeline_run import PipelineLayout, provision


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
    p.add_argument("--data", default="data/dados_vendas.csv")
    p.add_argument("--script", default="spark/processar_vendas.py")
    args = p.parse_args(argv)
    layout = PipelineLayout()
    provision(_Clients(args.endpoint_url, args.region), layout, data=Path(args.data),
              script=Path(args.script))
    print(f"provisioned s3://{layout.bucket}/ ({layout.input_key}, {layout.script_key}) and "
          f"the EMR default roles at {args.endpoint_url}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

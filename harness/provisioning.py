"""Put a run's setup into an AWS endpoint: buckets, uploads, the EMR default roles.

    provision(aws, load_config())      # what [tool.harness] of ./pyproject.toml asks for

``aws`` is anything with ``client(service)`` (an ``EmulatedAWS``, a backend, plain clients).
One that also has ``put_file(path, bucket, key) -> bool`` (``EmulatedAWS``: its S3 is in this
process) gets files that way, a kernel copy instead of an HTTP upload; when it returns False
the file is uploaded. Airflow-free.
"""

from __future__ import annotations

from typing import Any

from harness.config import HarnessConfig
from harness.transfer import transfer_config

__all__ = ["provision"]


def provision(aws: Any, config: HarnessConfig) -> list[str]:
    """Create the config's buckets (existing ones are kept), upload its files and folders, and
    create the EMR default roles if it asks for them. Uploads keep a bounded number of parts
    in flight (`harness.transfer`); an ``aws`` with ``put_file`` is given the files that
    way. Returns the ``s3://`` URIs uploaded."""
    s3 = aws.client("s3")
    for bucket in config.all_buckets():
        try:
            s3.create_bucket(Bucket=bucket)
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
    uploaded = []
    put_file = getattr(aws, "put_file", None)
    for upload in config.uploads:
        for path, key in upload.files():
            if put_file is None or not put_file(path, upload.dest.bucket, key):
                s3.upload_file(str(path), upload.dest.bucket, key, Config=transfer_config())
            uploaded.append(f"s3://{upload.dest.bucket}/{key}")
    if config.emr_default_roles:
        from harness.emr.roles import create_default_roles

        create_default_roles(aws.client("iam"))
    return uploaded

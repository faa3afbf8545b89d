"""A stand-in for the part of a boto3 S3 client that `harness.provisioning.provision` uses."""

from __future__ import annotations

from pathlib import Path


class FakeS3:
    """Buckets (creating one twice raises BucketAlreadyOwnedByYou, as S3 does for its owner)
    and the text of each uploaded file by (bucket, key), in upload order."""

    class exceptions:  # noqa: N801  (boto3's shape)
        class BucketAlreadyOwnedByYou(Exception):
            pass

    def __init__(self) -> None:
        self.buckets: list[str] = []
        self.objects: dict[tuple[str, str], str] = {}

    def create_bucket(self, Bucket):  # noqa: N803
        if Bucket in self.buckets:
            raise self.exceptions.BucketAlreadyOwnedByYou()
        self.buckets.append(Bucket)

    def upload_file(self, path, bucket, key, Config=None):  # noqa: N803
        self.objects[(bucket, key)] = Path(path).read_text()

    @property
    def keys(self) -> list[str]:
        return [f"s3://{bucket}/{key}" for bucket, key in self.objects]

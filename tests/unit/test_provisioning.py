"""provision(): the config's uploads go through the harness's bounded TransferConfig."""

from __future__ import annotations

from harness.config import HarnessConfig, S3Uri, Upload
from harness.provisioning import provision
from harness.transfer import MAX_CONCURRENCY, transfer_config


class Client:
    class exceptions:
        class BucketAlreadyOwnedByYou(Exception):
            pass

    def __init__(self):
        self.buckets, self.uploads = [], []

    def create_bucket(self, Bucket):
        self.buckets.append(Bucket)

    def upload_file(self, filename, bucket, key, Config=None):
        self.uploads.append((bucket, key, Config))


def test_uploads_use_the_bounded_transfer_config(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("a\n")
    s3 = Client()
    aws = type("Aws", (), {"client": lambda self, service: s3})()
    config = HarnessConfig(uploads=(Upload(data, S3Uri("bkt", "in/data.csv")),))
    assert provision(aws, config) == ["s3://bkt/in/data.csv"]
    assert s3.uploads == [("bkt", "in/data.csv", transfer_config())]
    assert transfer_config().max_concurrency == MAX_CONCURRENCY

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


def test_an_endpoint_that_takes_files_gets_them_and_a_refusal_falls_back_to_upload(tmp_path):
    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    small.write_text("a\n")
    big.write_text("b\n")
    s3 = Client()
    taken = []

    class Aws:
        def client(self, service):
            return s3

        def put_file(self, path, bucket, key):  # takes big.csv only
            taken.append((path.name, bucket, key))
            return path.name == "big.csv"

    config = HarnessConfig(uploads=(Upload(small, S3Uri("bkt", "in/small.csv")),
                                    Upload(big, S3Uri("bkt", "in/big.csv"))))
    assert provision(Aws(), config) == ["s3://bkt/in/small.csv", "s3://bkt/in/big.csv"]
    assert taken == [("small.csv", "bkt", "in/small.csv"), ("big.csv", "bkt", "in/big.csv")]
    assert s3.uploads == [("bkt", "in/small.csv", transfer_config())]

"""Staging on a mirror shared by several live steps (moto's in-process S3, no server)."""

from __future__ import annotations

from harness.emr.staging import SharedMirror, Stager
from harness.emr.steps import S3Uri


def keys(s3):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket="bkt").get("Contents", []))


def write(path, text="x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_siblings_are_names_that_extend_the_output_and_never_temporary(s3, tmp_path):
    stager = Stager(s3, tmp_path)
    snap = stager.stage_in([S3Uri("bkt", "res/out/")])
    root = tmp_path / "bkt" / "res"
    write(root / "out" / "part-0")
    write(root / "out" / "_temporary" / "0" / "part-1")
    write(root / "out_rejeitados" / "part-0")
    write(root / "out_rejeitados" / "_temporary" / "0" / "part-1")
    write(root / "unrelated" / "part-0")  # not a name extending `out`: not this step's
    report = stager.stage_out(snap)
    expected = ["res/out/part-0", "res/out_rejeitados/part-0"]
    assert keys(s3) == expected
    assert sorted(report.uploaded) == [f"s3://bkt/{k}" for k in expected]


def test_a_broad_claim_leaves_a_more_specific_live_claim_alone(s3, tmp_path):
    s3.put_object(Bucket="bkt", Key="res/in.csv", Body=b"in")
    mirror = SharedMirror(tmp_path)
    writer = Stager(s3, tmp_path, shared=mirror, owner="writer")
    reader = Stager(s3, tmp_path, shared=mirror, owner="reader")
    snap_w = writer.stage_in([S3Uri("bkt", "res/b/")])
    write(tmp_path / "bkt/res/b/_temporary/0/part-0", "half")  # the writer is mid-write
    snap_r = reader.stage_in([S3Uri("bkt", "res/")])  # must not wipe the writer's files
    assert (tmp_path / "bkt/res/b/_temporary/0/part-0").read_text() == "half"
    # the writer commits and stages out while the reader (claiming all of res/) is live
    (tmp_path / "bkt/res/b/_temporary/0/part-0").rename(tmp_path / "bkt/res/b/part-0")
    write(tmp_path / "bkt/res/b_rejeitados/part-0")
    assert sorted(writer.stage_out(snap_w).uploaded) == [
        "s3://bkt/res/b/part-0", "s3://bkt/res/b_rejeitados/part-0"]  # fmt: skip
    write(tmp_path / "bkt/res/summary.txt")
    # the reader uploads its own file only: the writer's are in S3 already
    assert reader.stage_out(snap_r).uploaded == ["s3://bkt/res/summary.txt"]
    assert keys(s3) == ["res/b/part-0", "res/b_rejeitados/part-0", "res/in.csv",
                        "res/summary.txt"]  # fmt: skip
    assert mirror.others("nobody") == []  # both claims released


def test_release_without_stage_out_frees_the_claim(tmp_path):
    mirror = SharedMirror(tmp_path)
    mirror.claim("a", [tmp_path / "x"])
    assert mirror.others("b") == [tmp_path / "x"]
    mirror.release("a")
    mirror.release("a")  # idempotent
    assert mirror.others("b") == []


class Recording:
    """An S3 client that records the transfers the stager makes, passing them on."""

    def __init__(self, s3):
        self.s3, self.configs = s3, []

    def download_file(self, *args, Config=None):
        self.configs.append(Config)
        return self.s3.download_file(*args, Config=Config)

    def upload_file(self, *args, Config=None):
        self.configs.append(Config)
        return self.s3.upload_file(*args, Config=Config)

    def __getattr__(self, name):
        return getattr(self.s3, name)


def test_stage_in_copies_through_copy_object_and_downloads_what_it_declines(s3, tmp_path):
    from harness.s3_streaming import copy_object_to_file

    s3.put_object(Bucket="bkt", Key="in/a.csv", Body=b"a")
    s3.put_object(Bucket="bkt", Key="in/b.csv", Body=b"b")
    calls = []

    def copy_object(bucket, key, path, *, size, etag):
        calls.append(key)
        return key != "in/b.csv" and copy_object_to_file(bucket, key, path, size=size, etag=etag)

    client = Recording(s3)
    snap = Stager(client, tmp_path, copy_object=copy_object).stage_in([S3Uri("bkt", "in/")])
    assert snap.downloaded == 2 and sorted(calls) == ["in/a.csv", "in/b.csv"]
    assert (tmp_path / "bkt/in/a.csv").read_bytes() == b"a"
    assert (tmp_path / "bkt/in/b.csv").read_bytes() == b"b"  # declined: downloaded
    assert len(client.configs) == 1  # only b.csv went through the client


def test_transfers_keep_a_bounded_number_of_parts_in_flight(s3, tmp_path):
    from harness.transfer import MAX_CONCURRENCY, PART_BYTES

    s3.put_object(Bucket="bkt", Key="in/a.csv", Body=b"a")
    client = Recording(s3)
    stager = Stager(client, tmp_path)
    snap = stager.stage_in([S3Uri("bkt", "in/a.csv"), S3Uri("bkt", "out/")])
    write(tmp_path / "bkt/out/part-0")
    write(tmp_path / "bkt/out_rejeitados/part-0")  # a sibling: uploaded by its own branch
    stager.stage_out(snap)
    assert len(client.configs) == 3
    for config in client.configs:
        assert config is not None and config.max_concurrency == MAX_CONCURRENCY
        assert config.multipart_chunksize == PART_BYTES


def test_stage_out_puts_through_put_object_and_uploads_what_it_declines(s3, tmp_path):
    from harness import s3_streaming

    s3_streaming.install()  # put_file_as_object needs the patched moto (idempotent)
    calls = []

    def put_object(path, bucket, key):
        calls.append(key)
        return key != "out_rejeitados/part-0" and s3_streaming.put_file_as_object(path, bucket,
                                                                                 key)  # fmt: skip

    client = Recording(s3)
    stager = Stager(client, tmp_path, put_object=put_object)
    snap = stager.stage_in([S3Uri("bkt", "out/")])
    write(tmp_path / "bkt/out/part-0", "ok rows")
    write(tmp_path / "bkt/out_rejeitados/part-0", "bad rows")  # declined: uploaded
    report = stager.stage_out(snap)
    assert sorted(calls) == ["out/part-0", "out_rejeitados/part-0"]
    assert sorted(report.uploaded) == ["s3://bkt/out/part-0", "s3://bkt/out_rejeitados/part-0"]
    assert s3.get_object(Bucket="bkt", Key="out/part-0")["Body"].read() == b"ok rows"
    assert s3.get_object(Bucket="bkt", Key="out_rejeitados/part-0")["Body"].read() == b"bad rows"
    assert len(client.configs) == 1  # only the declined file went through the client

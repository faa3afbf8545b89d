"""copy_object_to_file: an object of this process's moto S3 copied to a local file (the EMR
runtime's stage-in), exact bytes, bounded memory, and False whenever moto does not hold the
object as the caller listed it. In-process moto (mock_aws), no server."""

from __future__ import annotations

import hashlib
import os
import tracemalloc

import pytest
from moto import mock_aws

from harness.s3_streaming import copy_object_to_file

MIB = 1024 * 1024


def listed(s3, key):
    head = s3.head_object(Bucket="bkt", Key=key)
    return {"size": head["ContentLength"], "etag": head["ETag"].strip('"')}


@pytest.mark.parametrize("size", [10, 12 * MIB + 3], ids=["in memory", "on disk"])
def test_the_copy_has_the_objects_bytes(s3, tmp_path, size):
    data = os.urandom(size)
    s3.put_object(Bucket="bkt", Key="in/data.bin", Body=data)
    dest = tmp_path / "data.bin"
    dest.write_bytes(b"stale")
    assert copy_object_to_file("bkt", "in/data.bin", dest, **listed(s3, "in/data.bin"))
    assert dest.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin"]  # no partial file left


def test_a_multipart_object_is_copied_too(s3, tmp_path):
    parts = [os.urandom(5 * MIB), os.urandom(MIB + 1)]
    upload = s3.create_multipart_upload(Bucket="bkt", Key="mp")
    done = []
    for n, body in enumerate(parts, 1):
        part = s3.upload_part(Bucket="bkt", Key="mp", PartNumber=n, UploadId=upload["UploadId"],
                              Body=body)  # fmt: skip
        done.append({"PartNumber": n, "ETag": part["ETag"]})
    s3.complete_multipart_upload(Bucket="bkt", Key="mp", UploadId=upload["UploadId"],
                                 MultipartUpload={"Parts": done})  # fmt: skip
    meta = listed(s3, "mp")
    assert meta["etag"].endswith("-2")
    assert copy_object_to_file("bkt", "mp", tmp_path / "mp", **meta)
    assert (tmp_path / "mp").read_bytes() == b"".join(parts)


def test_not_as_listed_is_false_and_leaves_the_file_alone(s3, tmp_path):
    s3.put_object(Bucket="bkt", Key="k", Body=b"new bytes")
    dest = tmp_path / "k"
    dest.write_bytes(b"old")
    meta = listed(s3, "k")
    stale_etag = hashlib.md5(b"old bytes!").hexdigest()
    assert not copy_object_to_file("bkt", "k", dest, size=meta["size"], etag=stale_etag)
    assert not copy_object_to_file("bkt", "k", dest, size=meta["size"] + 1, etag=meta["etag"])
    assert not copy_object_to_file("bkt", "missing", dest, **meta)
    assert not copy_object_to_file("no-such-bucket", "k", dest, **meta)
    assert dest.read_bytes() == b"old"


def test_copying_a_large_object_does_not_read_it_into_memory(s3, tmp_path):
    size = 24 * MIB
    s3.put_object(Bucket="bkt", Key="big", Body=os.urandom(size))
    meta = listed(s3, "big")  # moto computes and caches the ETag here, not in the copy
    tracemalloc.start()
    try:
        assert copy_object_to_file("bkt", "big", tmp_path / "big", **meta)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (tmp_path / "big").stat().st_size == size
    assert peak < 2 * MIB, f"{peak / MIB:.1f} MiB of Python allocations copying {size // MIB} MiB"


@pytest.mark.parametrize("release", [True, False], ids=["released", "moto as is"])
def test_request_bodies_are_freed_when_the_request_ends(monkeypatch, release):
    """Three 8 MiB PUTs through moto's S3 app, the cyclic GC off: with the wrapper, no body
    outlives its request; without it (moto as is) the bodies stay until a GC (the control)."""
    import gc

    from moto.moto_server.werkzeug_app import create_backend_app

    from harness.s3_streaming import releasing_request_bodies

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)
    factory = releasing_request_bodies(create_backend_app) if release else create_backend_app
    with mock_aws():
        client = factory("s3").test_client()
        assert client.put("/bodies-bucket", base_url="http://localhost").status_code == 200
        body = os.urandom(8 * MIB)
        gc.collect()
        gc.disable()
        tracemalloc.start()
        try:
            for n in range(3):
                put = client.put(f"/bodies-bucket/k{n}", data=body, base_url="http://localhost")
                assert put.status_code == 200
            left = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
            gc.enable()
            gc.collect()
    if release:
        assert left < 4 * MIB, f"{left / MIB:.1f} MiB still allocated after three 8 MiB PUTs"
    else:
        assert left > 16 * MIB  # the control: moto keeps them until the cyclic GC runs


def test_staging_out_a_large_file_does_not_read_it_into_memory(s3, tmp_path):
    """The EMR runtime's stage-out into this process's moto: the file goes into the key by a
    kernel copy (an upload held parts of it in memory), and its ETag is the file's MD5."""
    from harness import s3_streaming
    from harness.emr.staging import Stager
    from harness.emr.steps import S3Uri

    s3_streaming.install()
    size = 24 * MIB
    stager = Stager(s3, tmp_path / "mirror", put_object=s3_streaming.put_file_as_object)
    snap = stager.stage_in([S3Uri("bkt", "out/")])
    local = tmp_path / "mirror/bkt/out/part-0.csv"
    local.parent.mkdir(parents=True, exist_ok=True)
    data = os.urandom(size)
    local.write_bytes(data)
    tracemalloc.start()
    try:
        assert stager.stage_out(snap).uploaded == ["s3://bkt/out/part-0.csv"]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * MIB, f"{peak / MIB:.1f} MiB allocated staging out {size // MIB} MiB"
    meta = listed(s3, "out/part-0.csv")
    assert meta == {"size": size, "etag": hashlib.md5(data).hexdigest()}
    copied = tmp_path / "copied"
    assert copy_object_to_file("bkt", "out/part-0.csv", copied, **meta)
    assert copied.read_bytes() == data


def test_an_objects_etag_is_computed_in_small_blocks(s3, tmp_path):
    """moto hashes a key's body when it is first listed; it read 16 MiB blocks."""
    from harness import s3_streaming

    s3_streaming.install()
    data = os.urandom(40 * MIB)
    (tmp_path / "big").write_bytes(data)
    assert s3_streaming.put_file_as_object(tmp_path / "big", "bkt", "big")
    tracemalloc.start()
    try:
        etag = s3.list_objects_v2(Bucket="bkt")["Contents"][0]["ETag"]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert etag.strip('"') == hashlib.md5(data).hexdigest()
    assert peak < 2 * s3_streaming.CHUNK_BYTES + MIB, f"{peak / MIB:.1f} MiB hashing 40 MiB"

"""Large objects through the emulated S3 (harness.s3_streaming): the same bytes, ETags and
checksums as moto's own code gives, without holding whole objects in memory.

Memory is measured with tracemalloc (every Python allocation of the process, the server's
threads included): a byte count, not a timing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import tracemalloc

import pytest

MIB = 1024 * 1024
BUCKET = "streaming-bucket"


@pytest.fixture
def s3(emulated_aws):
    client = emulated_aws.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def _payload(size: int) -> bytes:
    return os.urandom(size)


def _peak_during(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_ranged_gets_return_exact_bytes(s3):
    data = _payload(3 * MIB + 17)
    s3.put_object(Bucket=BUCKET, Key="big", Body=data)
    size = len(data)
    for spec, expected in [
        ("bytes=0-0", data[:1]),
        ("bytes=5-1048580", data[5:1048581]),
        (f"bytes={size - 10}-", data[-10:]),
        ("bytes=-100", data[-100:]),
        (f"bytes=1000-{size + 50}", data[1000:]),  # past the end: up to the end
    ]:
        got = s3.get_object(Bucket=BUCKET, Key="big", Range=spec)
        assert got["Body"].read() == expected, spec
        assert got["ContentLength"] == len(expected), spec
        assert got["ContentRange"].endswith(f"/{size}"), spec
    whole = s3.get_object(Bucket=BUCKET, Key="big")
    assert whole["Body"].read() == data
    assert whole["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    with pytest.raises(s3.exceptions.ClientError, match="InvalidRange"):
        s3.get_object(Bucket=BUCKET, Key="big", Range=f"bytes={size}-")
    # Conditional requests are still moto's: a matching ETag answers 304.
    with pytest.raises(s3.exceptions.ClientError, match="304"):
        s3.get_object(Bucket=BUCKET, Key="big", IfNoneMatch=whole["ETag"])


def test_a_ranged_get_of_a_large_object_does_not_read_it_whole(s3):
    s3.put_object(Bucket=BUCKET, Key="big", Body=_payload(48 * MIB))
    s3.get_object(Bucket=BUCKET, Key="big", Range="bytes=0-0")["Body"].read()  # warm paths

    peak = _peak_during(
        lambda: s3.get_object(Bucket=BUCKET, Key="big", Range=f"bytes={MIB}-{2 * MIB - 1}")
        ["Body"].read())
    # moto alone reads the whole object (48 MiB) for any range; streamed, about 10 MiB of
    # fixed per-request cost (server and client buffers) that does not grow with the object.
    assert peak < 24 * MIB, f"a 1 MiB range of a 48 MiB object allocated {peak / MIB:.1f} MiB"


def test_download_file_of_a_large_object(s3, tmp_path):
    data = _payload(20 * MIB + 3)
    s3.put_object(Bucket=BUCKET, Key="big", Body=data)
    target = tmp_path / "big.bin"
    s3.download_file(BUCKET, "big", str(target))  # ranged GETs from several threads
    assert target.read_bytes() == data


def _multipart(s3, key: str, parts: list[bytes], **create) -> dict:
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key, **create)["UploadId"]
    done = []
    for number, part in enumerate(parts, start=1):
        extra = {}
        if create.get("ChecksumAlgorithm") == "CRC32":
            extra["ChecksumCRC32"] = base64.b64encode(
                binascii.crc32(part).to_bytes(4, "big")).decode()
        etag = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=number,
                              Body=part, **extra)["ETag"]  # fmt: skip
        done.append({"PartNumber": number, "ETag": etag, **extra})
    return s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload,
                                        MultipartUpload={"Parts": done})  # fmt: skip


def test_multipart_upload_joins_on_disk_with_moto_etag_and_checksum(s3):
    parts = [_payload(6 * MIB), _payload(6 * MIB), _payload(MIB + 5)]
    data = b"".join(parts)
    md5s = b"".join(hashlib.md5(p).digest() for p in parts)
    expected_etag = f'"{hashlib.md5(md5s).hexdigest()}-3"'

    answer = _multipart(s3, "plain", parts)
    assert answer["ETag"] == expected_etag
    got = s3.get_object(Bucket=BUCKET, Key="plain")
    assert got["Body"].read() == data and got["ContentLength"] == len(data)

    _multipart(s3, "full", parts, ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    head = s3.head_object(Bucket=BUCKET, Key="full", ChecksumMode="ENABLED")
    full_crc = base64.b64encode(binascii.crc32(data).to_bytes(4, "big")).decode()
    assert head["ChecksumCRC32"] == full_crc
    assert s3.get_object(Bucket=BUCKET, Key="full")["Body"].read() == data


def test_completing_a_large_multipart_upload_does_not_join_in_memory(s3):
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="joined")["UploadId"]
    done = []
    for number in (1, 2, 3):
        etag = s3.upload_part(Bucket=BUCKET, Key="joined", UploadId=upload, PartNumber=number,
                              Body=_payload(8 * MIB))["ETag"]  # fmt: skip
        done.append({"PartNumber": number, "ETag": etag})

    peak = _peak_during(lambda: s3.complete_multipart_upload(
        Bucket=BUCKET, Key="joined", UploadId=upload, MultipartUpload={"Parts": done}))
    # moto alone joins the parts in memory and copies the join (48 MiB and more).
    assert peak < 12 * MIB, f"completing 3 x 8 MiB parts allocated {peak / MIB:.1f} MiB"
    assert s3.head_object(Bucket=BUCKET, Key="joined")["ContentLength"] == 24 * MIB


@pytest.mark.parametrize("size", [100, 24 * MIB + 5], ids=["small", "large"])
def test_put_file_gives_the_object_the_files_bytes_and_md5_etag(emulated_aws, s3, tmp_path,
                                                                 size):  # fmt: skip
    data = _payload(size)
    path = tmp_path / "input.csv"
    path.write_bytes(data)
    peak = _peak_during(lambda: emulated_aws.put_file(path, BUCKET, "in/input.csv"))
    head = s3.head_object(Bucket=BUCKET, Key="in/input.csv")
    assert head["ContentLength"] == size
    assert head["ETag"].strip('"') == hashlib.md5(data).hexdigest()
    assert s3.get_object(Bucket=BUCKET, Key="in/input.csv")["Body"].read() == data
    if size > MIB:  # a kernel copy: the file's bytes never pass through Python
        assert peak < 2 * MIB, f"putting {size / MIB:.0f} MiB allocated {peak / MIB:.1f} MiB"
    path.write_bytes(b"changed")  # the object is a copy, not the file
    assert s3.get_object(Bucket=BUCKET, Key="in/input.csv")["Body"].read() == data


def test_put_file_refuses_a_bucket_it_does_not_hold(emulated_aws, tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"x")
    assert emulated_aws.put_file(path, "no-such-bucket-here", "k") is False


def test_a_steps_staging_and_the_reports_read_back_stay_bounded(emulated_aws, s3, tmp_path):
    """What the endpoint's process does with a step's data around the Spark command, as the
    runtime wires it: the input provisioned, staged in, a large output and its sibling (the
    rejects) staged out, then read back as `python -m harness run` reports them. Every step
    streams: the peak does not grow with the files (an upload of the outputs over HTTP held
    up to four 8 MiB parts several times over; moto's ETag read 16 MiB blocks)."""
    from harness.emr.staging import Stager
    from harness.emr.steps import S3Uri
    from harness.run_report import head_csv_prefix

    runner = emulated_aws.runtime.step_runner
    assert runner.put_object is not None and runner.copy_object is not None
    source = tmp_path / "input.csv"
    source.write_bytes(_payload(48 * MIB))
    emulated_aws.put_file(source, BUCKET, "input/vendas.csv")
    mirror = tmp_path / "mirror"
    stager = Stager(s3, mirror, copy_object=runner.copy_object, put_object=runner.put_object)
    row = b"2024-01-01,produto,3,19.99,vendedor\n"
    rows = (32 * MIB) // len(row)

    def step() -> None:
        snap = stager.stage_in([S3Uri(BUCKET, "input/vendas.csv"), S3Uri(BUCKET, "out/")])
        for name in ("out", "out_rejeitados"):
            part = mirror / BUCKET / name / "part-00000.csv"
            part.parent.mkdir(parents=True, exist_ok=True)
            with part.open("wb") as f:
                f.write(b"data,produto,quantidade,preco_unitario,vendedor\n")
                for _ in range(rows // 4096):
                    f.write(row * 4096)
        uploaded = stager.stage_out(snap).uploaded
        assert sorted(uploaded) == [f"s3://{BUCKET}/out/part-00000.csv",
                                    f"s3://{BUCKET}/out_rejeitados/part-00000.csv"]
        for prefix in ("out/", "out_rejeitados/"):
            header, shown, count = head_csv_prefix(s3, BUCKET, prefix, limit=50)
            assert header[0] == "data" and len(shown) == 50 and count == rows // 4096 * 4096

    peak = _peak_during(step)
    # Before: 89 MiB (the uploads' parts in flight, the 16 MiB ETag blocks).
    assert peak < 12 * MIB, f"staging 48 MiB in and 2 x 32 MiB out allocated {peak / MIB:.1f} MiB"

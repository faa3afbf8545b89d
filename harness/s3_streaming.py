"""Large S3 objects served from disk in chunks, and multipart uploads joined on disk.

moto keeps an object's bytes in a `SpooledTemporaryFile` (on disk above ~5 MiB), but
`FakeKey.value` reads the whole object into memory, and moto uses it for every GET: a ranged
GET (boto3's `download_file` sends 8 MiB ranges from 10 threads) reads the whole object and
slices it, so staging a 400 MiB input held up to ten copies at once. Completing a multipart
upload joins every part into one `bytearray`, then copies it.

`install()` (process-wide, idempotent; moto's state is process-global) changes three things:

- In `S3Response.get_object` only, a key larger than `STREAM_MIN_BYTES` is handed on as a
  `KeyBody`: a view of the key's buffer that moto's range handling slices (it only needs `len`
  and slicing) and that the WSGI server iterates, reading `CHUNK_BYTES` at a time under the
  key's lock. Everything else (auth, conditional requests, headers, 304/412/416, errors) is
  still moto's own code; smaller objects are served exactly as before.
- `FakeMultipart.complete` joins the parts into a temporary file instead of memory, computes
  the same ETag and checksum from the parts' buffers chunk by chunk, and the new key takes
  that file as its buffer (`KeyBody` write path below).
- `FakeKey.etag` (an object's MD5, computed when first listed) reads `CHUNK_BYTES` blocks,
  not moto's 16 MiB ones.

`releasing_request_bodies` wraps moto's backend app factory: a request ends in a reference cycle
(Flask's debug helper gives `request.files` a class whose method closes over the request), so
every request, and the 8 MiB body of an `UploadPart` with it, was freed only by a later cyclic
garbage collection; bodies piled up in proportion to the upload's size. The apps now drop the
body when the request ends.

`copy_object_to_file` is the EMR runtime's stage-in when the step's S3 is this process's moto:
the key's file is copied to the mirror by the kernel (`os.copy_file_range`), with no HTTP,
no Python-level reads and no part buffers. `put_file_as_object` is the way in (provisioning a
run's inputs into `EmulatedAWS`), the same way.

A key overwritten or deleted while a GET streams it: moto closes the old buffer and the
response ends short (the client sees an incomplete read and retries, getting the new object).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["CHUNK_BYTES", "STREAM_MIN_BYTES", "KeyBody", "copy_object_to_file", "install",
           "releasing_request_bodies"]

#: Objects at least this large are streamed (below it, moto's in-memory path is cheap).
STREAM_MIN_BYTES = 1024 * 1024
#: Read size while streaming.
CHUNK_BYTES = 1024 * 1024

_lock = threading.Lock()
_installed = False
_in_get = threading.local()


class KeyBody:
    """Bytes ``[start, stop)`` of a moto `FakeKey`, read from its buffer when iterated."""

    def __init__(self, key: Any, start: int = 0, stop: int | None = None) -> None:
        self.key = key  # a reference keeps the key (and its buffer) alive while served
        self.start = start
        self.stop = key.size if stop is None else stop

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __getitem__(self, item: slice) -> KeyBody:
        if not isinstance(item, slice) or item.step not in (None, 1):
            raise TypeError("KeyBody supports contiguous slices only")
        begin, end, _ = item.indices(len(self))
        return KeyBody(self.key, self.start + begin, self.start + max(begin, end))

    def __iter__(self) -> Iterator[bytes]:
        pos = self.start
        while pos < self.stop:
            with self.key.lock:
                buffer = self.key._value_buffer
                buffer.seek(pos)
                chunk = buffer.read(min(CHUNK_BYTES, self.stop - pos))
            if not chunk:  # the object shrank under us: end short, never loop
                return
            pos += len(chunk)
            yield chunk

    def __bytes__(self) -> bytes:
        return b"".join(self)


def releasing_request_bodies(create_app: Any) -> Any:
    """Wrap moto's `create_backend_app`: each backend's Flask app drops the request's body when
    the request ends (see the module docstring: the request is part of a reference cycle)."""

    def create(*args: Any, **kwargs: Any) -> Any:
        app = create_app(*args, **kwargs)

        @app.teardown_request
        def release(_exc: BaseException | None) -> None:
            from flask import request

            current: Any = request._get_current_object()  # type: ignore[attr-defined]  # a proxy
            state: dict[str, Any] = current.__dict__
            for name in _REQUEST_CACHES:
                state.pop(name, None)

        return app

    return create


#: Where werkzeug / moto / Flask cache a request's body and its parsed forms.
_REQUEST_CACHES = ("_cached_data", "data", "form", "files", "stream")


def copy_object_to_file(bucket: str, key: str, path: Path, *, size: int, etag: str) -> bool:
    """Copy object ``key`` of ``bucket`` from this process's moto S3 to ``path``, if moto holds
    it with this size and ETag (what the caller listed). False, and ``path`` untouched, when it
    does not: the caller downloads it instead. ``path`` is replaced atomically."""
    from moto.s3.models import s3_backends

    located = s3_backends.bucket_accounts.get(bucket)
    if located is None:
        return False
    partition, account = located
    found = s3_backends[account][partition].buckets.get(bucket)
    fake = found.keys.get(key) if found is not None else None
    if fake is None or not hasattr(fake, "_value_buffer"):  # absent, or a delete marker
        return False
    partial = path.with_name(f".{path.name}.harness-copy")
    try:
        with fake.lock:
            if fake.size != size or fake.etag.strip('"') != etag:
                return False  # changed since it was listed
            with partial.open("wb") as out:
                copied = _copy_buffer(fake._value_buffer, out, size)
        if copied != size:
            raise OSError(f"copied {copied} of {size} bytes of s3://{bucket}/{key} to {path}")
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return True


def put_file_as_object(path: Path, bucket: str, key: str) -> bool:
    """Put the local file ``path`` into this process's moto S3 as object ``key`` of ``bucket``:
    copied by the kernel into the key's own temporary file (no HTTP, no parts, no Python-level
    reads; the ETag is the file's MD5, computed by moto when first asked). False, and nothing
    written, when the bucket is not in this process's moto or `install()` has not run: the
    caller uploads instead. Objects under `STREAM_MIN_BYTES` go in as bytes, as a PUT would."""
    from moto.s3.models import s3_backends

    located = s3_backends.bucket_accounts.get(bucket)
    if located is None or not _installed:
        return False
    partition, account = located
    backend = s3_backends[account][partition]
    size = path.stat().st_size
    if size < STREAM_MIN_BYTES:
        backend.put_object(bucket, key, path.read_bytes())
        return True
    joined = tempfile.TemporaryFile()
    try:
        with path.open("rb") as src:
            copied = _copy_buffer(src, joined, size)
        if copied != size:
            raise OSError(f"copied {copied} of {size} bytes of {path} (did it change?)")
        backend.put_object(bucket, key, _JoinedFile(joined, size))  # type: ignore[arg-type]  # adopted by the key (see _complete_on_disk)
    except BaseException:
        joined.close()
        raise
    return True


def _copy_buffer(buffer: Any, out: Any, size: int) -> int:
    """Bytes [0, size) of a moto key's buffer into the open file ``out``; returns the count.
    On disk (a rolled-over `SpooledTemporaryFile`, or a joined multipart file): kernel-side.
    In memory (small objects only): through Python, ``CHUNK_BYTES`` at a time."""
    raw = buffer._file if isinstance(buffer, tempfile.SpooledTemporaryFile) else buffer
    try:
        raw.flush()  # moto's last write may still sit in the file object's buffer
        src = raw.fileno()
    except (AttributeError, io.UnsupportedOperation):
        buffer.seek(0)
        copied = 0
        while copied < size and (block := buffer.read(min(CHUNK_BYTES, size - copied))):
            out.write(block)
            copied += len(block)
        return copied
    out.flush()
    dst, pos = out.fileno(), 0
    while pos < size:
        try:
            n = os.copy_file_range(src, dst, size - pos, pos)
        except OSError:  # across filesystems on some kernels, or not supported: sendfile
            n = os.sendfile(dst, src, pos, size - pos)
        if n == 0:  # the file is shorter than moto says: report it, never loop
            break
        pos += n
    return pos


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        from moto.s3 import models, responses

        value: Any = vars(models.FakeKey)["value"]  # the property object itself

        def streamed_value(key: Any) -> Any:
            if getattr(_in_get, "active", False) and key.size >= STREAM_MIN_BYTES:
                return KeyBody(key)
            return value.fget(key)


        get_object = responses.S3Response.get_object

        def get_object_streamed(self: Any) -> Any:
            # Only the body moto returns is a view; nothing else reads FakeKey.value here.
            _in_get.active = True
            try:
                return get_object(self)
            finally:
                _in_get.active = False

        # moto's classes, patched for the process. In this order: `_complete_on_disk` wraps the
        # setter of the (already patched) FakeKey.value.
        models.FakeKey.value = property(streamed_value, value.fset)  # type: ignore[method-assign,assignment]  # a patch
        responses.S3Response.get_object = get_object_streamed  # type: ignore[method-assign]  # a patch
        models.FakeMultipart.complete = _complete_on_disk(models)  # type: ignore[method-assign]  # a patch
        models.FakeKey.etag = property(_chunked_etag(models))  # type: ignore[method-assign,assignment]  # a patch
        _installed = True


def _chunked_etag(models: Any) -> Any:
    """moto's `FakeKey.etag` (the MD5 of the body, computed when first asked: a listing, a
    HEAD), reading `CHUNK_BYTES` at a time where moto reads 16 MiB blocks: every object of
    16 MiB or more cost this process a 16 MiB buffer (and the allocator's copy of it) at the
    first listing after its put."""

    def etag(key: Any) -> str:
        if key._etag is None:
            digest = models.md5_hash()
            key._value_buffer.seek(0)
            while block := key._value_buffer.read(CHUNK_BYTES):
                digest.update(block)
            key._etag = digest.hexdigest()
        return f'"{key._etag}"'

    return etag


class _JoinedFile:
    """A multipart upload's joined bytes in a temporary file: what `FakeKey(value=...)` gets.
    moto's value setter writes it (buffer protocol) and takes its length; both are served
    from the file (`__buffer__` is not available before Python 3.12, hence `_adopt`)."""

    def __init__(self, file: Any, size: int) -> None:
        self.file = file
        self.size = size

    def __len__(self) -> int:
        return self.size


def _complete_on_disk(models: Any) -> Any:
    """moto's `FakeMultipart.complete`, with the joined object in a temporary file."""
    original = models.FakeMultipart.complete
    value_property = models.FakeKey.value

    def set_value(key: Any, new_value: Any) -> None:
        if isinstance(new_value, _JoinedFile):
            key._value_buffer.close()
            new_value.file.seek(0)
            key._value_buffer = new_value.file  # adopt the file: no copy, no memory
            key.contentsize = new_value.size
            return
        value_property.fset(key, new_value)

    models.FakeKey.value = property(models.FakeKey.value.fget, set_value)

    def complete(self: Any, body: Any) -> Any:
        parts = list(body)
        sizes = [self.parts[pn].size for pn, _ in parts if pn in self.parts]
        if sum(sizes) < STREAM_MIN_BYTES:
            return original(self, iter(parts))
        checksum_algo = self.metadata.get("x-amz-checksum-algorithm")
        checksum_type = self.metadata.get("x-amz-checksum-type")
        md5s = bytearray()
        checksum = _ChecksumBuilder(models, checksum_algo, checksum_type)
        joined = tempfile.TemporaryFile()
        size = 0
        last = None
        try:
            for pn, etag in parts:
                part = self.parts.get(pn)
                part_etag = None
                if part is not None:
                    part_etag = part.etag.replace('"', "")
                    etag = etag.replace('"', "")
                if part is None or part_etag != etag:
                    raise models.InvalidPart()
                if last is not None and last.contentsize < models.S3_UPLOAD_PART_MIN_SIZE:
                    raise models.EntityTooSmall()
                md5s.extend(bytes.fromhex(part_etag))
                with part.lock:
                    part._value_buffer.seek(0)
                    shutil.copyfileobj(part._value_buffer, joined, CHUNK_BYTES)
                checksum.add_part(part)
                size += part.contentsize
                last = part
            if last is None:
                raise models.MalformedXML
        except BaseException:
            joined.close()
            raise
        full_etag = models.md5_hash()
        full_etag.update(bytes(md5s))
        return _JoinedFile(joined, size), f"{full_etag.hexdigest()}-{len(parts)}", checksum.build()

    return complete


class _ChecksumBuilder:
    """moto's `MultipartChecksumBuilder`, fed from part buffers instead of joined bytes."""

    def __init__(self, models: Any, algorithm: str | None, checksum_type: str | None) -> None:
        self.models = models
        self.inner = models.MultipartChecksumBuilder(algorithm, checksum_type)

    def add_part(self, part: Any) -> None:
        inner = self.inner
        if inner.checksum_type == "COMPOSITE":
            inner.addPart(part.value)  # one part at a time (bounded by the part size)
            return
        # FULL_OBJECT: moto needs the whole object's checksum; computed incrementally.
        if not hasattr(self, "_full"):
            self._full = _incremental_checksum(inner.checksum_algorithm)
        with part.lock:
            part._value_buffer.seek(0)
            while block := part._value_buffer.read(CHUNK_BYTES):
                self._full.update(block)
        inner.part_count += 1

    def build(self) -> Any:
        inner = self.inner
        if inner.checksum_type == "COMPOSITE":
            return inner.build()
        import base64

        digest = self._full.digest() if hasattr(self, "_full") else b""
        return inner.checksum_type, base64.b64encode(digest).decode(), 1


def _incremental_checksum(algorithm: str) -> Any:
    """update()/digest() giving what moto's `compute_checksum(body, algorithm)` gives for the
    concatenated blocks (same algorithms, same fallbacks when an optional library is missing)."""
    from moto.s3 import utils

    return _Checksum(algorithm, getattr(utils, "HAS_CRT", False))


class _Checksum:
    def __init__(self, algorithm: str, has_crt: bool) -> None:
        import binascii
        import hashlib

        self.value = 0
        self.width = 4
        self.hash: Any = None
        self.crc: Any = binascii.crc32
        if algorithm == "SHA1":
            self.hash = hashlib.sha1(usedforsecurity=False)
        elif algorithm == "CRC32C":
            try:
                import crc32c

                self.crc = crc32c.crc32c
            except ImportError:
                pass  # moto falls back to CRC32 too
        elif algorithm == "CRC64NVME":
            if has_crt:
                from awscrt import checksums

                self.crc, self.width = checksums.crc64nvme, 8
        elif algorithm != "CRC32":
            self.hash = hashlib.sha256(usedforsecurity=False)

    def update(self, block: bytes) -> None:
        if self.hash is not None:
            self.hash.update(block)
        else:
            self.value = self.crc(block, self.value)

    def digest(self) -> bytes:
        if self.hash is not None:
            return self.hash.digest()
        return self.value.to_bytes(self.width, "big")

"""Mirror S3 objects to local files around a step, and sync what the step wrote back.

Local Spark cannot read `s3a://` here (no hadoop-aws jars), so a step reads and writes a local
mirror `<root>/<bucket>/<key>` instead, and the emulated S3 is made to match it afterwards:

- before: every referenced URI is made identical locally: the object itself, or every object
  under it as a prefix (local files that S3 no longer has are removed from the mirror);
- after: under each referenced URI, new or changed files are uploaded and objects whose local
  file vanished are deleted. That deletion is what makes Spark's `mode("overwrite")` behave:
  it replaces `part-*` files with new uuid names, and without it a rerun duplicates output.

Spark's local checksum files (`.part-*.crc`, `._SUCCESS.crc`) never go to S3, as on EMR.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.emr.steps import S3Uri, local_path_for

__all__ = ["Snapshot", "Stager", "SyncReport", "is_local_only"]


def is_local_only(path: Path) -> bool:
    """Files a local filesystem writer leaves that EMR's S3 writer would not."""
    return path.name.startswith(".") and path.name.endswith(".crc")


@dataclass
class Snapshot:
    """Local files (path -> (size, mtime_ns)) under each staged URI right before the step."""

    uris: list[S3Uri]
    files: dict[Path, tuple[int, int]] = field(default_factory=dict)
    downloaded: int = 0
    #: files next to the staged URIs (in their parent folders) before the step: a job that
    #: writes a sibling of its output (`out` + `out_rejeitados`) gets the sibling uploaded too
    siblings: dict[Path, tuple[int, int]] = field(default_factory=dict)
    parents: list[Path] = field(default_factory=list)


@dataclass
class SyncReport:
    uploaded: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


class Stager:
    """Stage S3 URIs between an S3 client (the emulated endpoint) and a local mirror."""

    def __init__(self, s3_client: Any, mirror_root: str | Path) -> None:
        self.s3 = s3_client
        self.root = Path(mirror_root)

    def local(self, uri: S3Uri) -> Path:
        return local_path_for(self.root, uri)

    # -- before the step ----------------------------------------------------------------------
    def stage_in(self, uris: Iterable[S3Uri]) -> Snapshot:
        uris = _outermost(list(uris))
        snap = Snapshot(uris)
        for uri in uris:
            snap.downloaded += self._pull(uri)
        for uri in uris:
            snap.files.update(_scan(self.local(uri)))
        for uri in uris:
            if uri.key.strip("/"):
                parent = self.local(uri).parent
                if parent not in snap.parents:
                    snap.parents.append(parent)
                    snap.siblings.update(_scan(parent))
        return snap

    def _pull(self, uri: S3Uri) -> int:
        local = self.local(uri)
        remote = self._list(uri)
        if not remote:
            # Nothing in S3: an output location. Make sure a stale mirror does not leak in.
            if local.is_dir():
                shutil.rmtree(local)
            elif local.exists():
                local.unlink()
            local.parent.mkdir(parents=True, exist_ok=True)
            return 0
        if uri.key and not uri.key.endswith("/") and uri.key in remote and len(remote) == 1:
            self._get(uri.bucket, uri.key, local, remote[uri.key])  # a single object
            return 1
        n = 0
        wanted = set()
        for key, meta in remote.items():
            if key == uri.key or key.endswith("/"):
                continue  # folder markers
            path = local_path_for(self.root, S3Uri(uri.bucket, key))
            wanted.add(path)
            n += self._get(uri.bucket, key, path, meta)
        if local.is_dir():  # remove local files S3 no longer has
            for path in list(_scan(local)):
                if path not in wanted and not is_local_only(path):
                    path.unlink()
        return n

    def _get(self, bucket: str, key: str, path: Path, meta: tuple[int, str]) -> int:
        size, etag = meta
        if path.is_file() and path.stat().st_size == size and _same_etag(path, etag):
            return 0  # already mirrored
        if path.is_dir():
            shutil.rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.s3.download_file(bucket, key, str(path))
        return 1

    def _list(self, uri: S3Uri) -> dict[str, tuple[int, str]]:
        """Objects equal to the key or under it as a prefix: key -> (size, etag)."""
        out: dict[str, tuple[int, str]] = {}
        paginator = self.s3.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=uri.bucket, Prefix=uri.key):
                for obj in page.get("Contents", []):
                    key = obj["Key"]
                    if key == uri.key or key.startswith(uri.prefix):  # 'out' != 'outside.csv'
                        out[key] = (obj["Size"], obj.get("ETag", "").strip('"'))
        except self.s3.exceptions.NoSuchBucket:
            return {}
        return out

    # -- after the step -----------------------------------------------------------------------
    def stage_out(self, snap: Snapshot) -> SyncReport:
        report = SyncReport()
        for uri in snap.uris:
            local = self.local(uri)
            after = _scan(local)
            before = {p: m for p, m in snap.files.items() if _is_under(p, local)}
            for path, meta in after.items():
                if is_local_only(path) or before.get(path) == meta:
                    continue
                key = self._key_for(uri.bucket, path)
                self.s3.upload_file(str(path), uri.bucket, key)
                report.uploaded.append(f"s3://{uri.bucket}/{key}")
            for path in before:
                if path not in after and not is_local_only(path):
                    key = self._key_for(uri.bucket, path)
                    self.s3.delete_object(Bucket=uri.bucket, Key=key)
                    report.deleted.append(f"s3://{uri.bucket}/{key}")
        staged = [self.local(u) for u in snap.uris]
        for parent in snap.parents:
            for path, meta in _scan(parent).items():
                if is_local_only(path) or any(_is_under(path, s) for s in staged):
                    continue
                if snap.siblings.get(path) != meta:  # new or changed during the step
                    bucket = path.relative_to(self.root).parts[0]
                    key = self._key_for(bucket, path)
                    self.s3.upload_file(str(path), bucket, key)
                    report.uploaded.append(f"s3://{bucket}/{key}")
        return report

    def _key_for(self, bucket: str, path: Path) -> str:
        return path.relative_to(self.root / bucket).as_posix()


def _same_etag(path: Path, etag: str) -> bool:
    """True if the local file's MD5 equals a simple (non-multipart) S3 ETag."""
    if not etag or "-" in etag:
        return False
    import hashlib

    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest() == etag


def _scan(root: Path) -> dict[Path, tuple[int, int]]:
    if root.is_file():
        st = root.stat()
        return {root: (st.st_size, st.st_mtime_ns)}
    out: dict[Path, tuple[int, int]] = {}
    if root.is_dir():
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                p = Path(dirpath, name)
                st = p.stat()
                out[p] = (st.st_size, st.st_mtime_ns)
    return out


def _is_under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _outermost(uris: list[S3Uri]) -> list[S3Uri]:
    """Drop URIs nested in another referenced prefix (staged with it), keep order."""
    out: list[S3Uri] = []
    for u in uris:
        if any(
            o.bucket == u.bucket and o != u and (not o.key or u.key.startswith(o.prefix))
            for o in uris
        ):
            continue
        if u not in out:
            out.append(u)
    return out

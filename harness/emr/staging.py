"""Mirror S3 objects to local files around a step, and sync what the step wrote back.

Local Spark cannot read `s3a://` here (no hadoop-aws jars), so a step reads and writes a local
mirror `<root>/<bucket>/<key>` instead, and the emulated S3 is made to match it afterwards:

- before: every referenced URI is made identical locally: the object itself, or every object
  under it as a prefix (local files that S3 no longer has are removed from the mirror);
- after: under each referenced URI, new or changed files are uploaded and objects whose local
  file vanished are deleted. That deletion is what makes Spark's `mode("overwrite")` behave:
  it replaces `part-*` files with new uuid names, and without it a rerun duplicates output.

Spark's local checksum files (`.part-*.crc`, `._SUCCESS.crc`) never go to S3, as on EMR, nor
does anything under a `_temporary` folder (a Spark/Hadoop writer's uncommitted attempt files).

Steps of several clusters run at the same time on one mirror. A `SharedMirror` serialises
stage-in and stage-out, and knows which local paths each live step has staged: one step's
staging never deletes, downloads over or uploads files under another live step's URIs. A
staged output's siblings (files the job writes next to it) are only names that extend the
output's own (`out` -> `out_rejeitados`), never the whole parent folder.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.emr.steps import S3Uri, local_path_for
from harness.transfer import transfer_config

__all__ = ["SharedMirror", "Snapshot", "Stager", "SyncReport", "is_local_only"]

#: The folder where Spark's (Hadoop's) file committer keeps a write's uncommitted files.
IN_PROGRESS_DIR = "_temporary"


def is_local_only(path: Path) -> bool:
    """Files a local filesystem writer leaves that EMR's S3 writer would not."""
    return path.name.startswith(".") and path.name.endswith(".crc")


def _never_uploaded(path: Path, root: Path) -> bool:
    return is_local_only(path) or IN_PROGRESS_DIR in path.relative_to(root).parts[:-1]


class SharedMirror:
    """The local mirror shared by every step of a runtime: a lock for staging, and the local
    paths each live step (an owner key) has staged."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.lock = threading.RLock()
        self._live: dict[str, list[Path]] = {}

    def claim(self, owner: str, paths: Iterable[Path]) -> None:
        with self.lock:
            self._live[owner] = list(paths)

    def release(self, owner: str) -> None:
        """Forget what `owner` staged (idempotent: also for steps that never staged out)."""
        with self.lock:
            self._live.pop(owner, None)

    def others(self, owner: str) -> list[Path]:
        """Local paths other live steps have staged."""
        with self.lock:
            return [p for o, paths in self._live.items() if o != owner for p in paths]


@dataclass
class Snapshot:
    """Local files (path -> (size, mtime_ns)) under each staged URI right before the step."""

    uris: list[S3Uri]
    files: dict[Path, tuple[int, int]] = field(default_factory=dict)
    downloaded: int = 0
    #: files next to the staged URIs whose names extend theirs, before the step: a job that
    #: writes a sibling of its output (`out` + `out_rejeitados`) gets the sibling uploaded too
    siblings: dict[Path, tuple[int, int]] = field(default_factory=dict)


@dataclass
class SyncReport:
    uploaded: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


class Stager:
    """Stage S3 URIs between an S3 client (the emulated endpoint) and a local mirror.

    `shared`/`owner`: the mirror other steps use at the same time, and this step's key in it
    (default: a mirror of its own). `copy_object(bucket, key, path, size=, etag=) -> bool`:
    a faster way to mirror one listed object, tried before a download (the runtime passes
    `harness.s3_streaming.copy_object_to_file` when the S3 is its own process's moto).
    `put_object(path, bucket, key) -> bool`: the same for stage-out, tried before an upload
    (`harness.s3_streaming.put_file_as_object`: the file copied into moto's key by the kernel,
    where an upload held up to `MAX_CONCURRENCY` parts several times over in this process).
    Transfers through the client keep a bounded number of parts in flight
    (`harness.transfer`)."""

    def __init__(self, s3_client: Any, mirror_root: str | Path, *,
                 shared: SharedMirror | None = None, owner: str = "step",
                 copy_object: Callable[..., bool] | None = None,
                 put_object: Callable[[Path, str, str], bool] | None = None) -> None:  # fmt: skip
        self.s3 = s3_client
        self.copy_object = copy_object
        self.put_object = put_object
        self.root = Path(mirror_root)
        self.shared = shared or SharedMirror(self.root)
        if self.shared.root != self.root:
            raise ValueError(f"shared mirror {self.shared.root} is not {self.root}")
        self.owner = owner

    def local(self, uri: S3Uri) -> Path:
        return local_path_for(self.root, uri)

    # -- before the step ----------------------------------------------------------------------
    def stage_in(self, uris: Iterable[S3Uri]) -> Snapshot:
        uris = _outermost(list(uris))
        snap = Snapshot(uris)
        with self.shared.lock:
            self.shared.claim(self.owner, [self.local(u) for u in uris])
            others = self.shared.others(self.owner)
            for uri in uris:
                snap.downloaded += self._pull(uri, others)
            for uri in uris:
                snap.files.update(_scan(self.local(uri), others))
            snap.siblings = self._siblings(uris, others)
        return snap

    def _siblings(self, uris: list[S3Uri], others: list[Path]) -> dict[Path, tuple[int, int]]:
        """Files whose top-level name extends a staged URI's name (`out` -> `out_rejeitados`)."""
        staged = [self.local(u) for u in uris]
        out: dict[Path, tuple[int, int]] = {}
        for uri in uris:
            local = self.local(uri)
            if not uri.key.strip("/") or not local.parent.is_dir():
                continue
            for entry in local.parent.iterdir():
                if (
                    entry.name != local.name
                    and entry.name.startswith(local.name)
                    and not any(_is_under(entry, s) or _is_under(s, entry) for s in staged)
                    and entry not in others  # another live step's own output
                ):
                    out.update(_scan(entry, others))
        return out

    def _pull(self, uri: S3Uri, others: list[Path]) -> int:
        local = self.local(uri)
        remote = self._list(uri)
        if not remote:
            # Nothing in S3: an output location. Make sure a stale mirror does not leak in.
            if local.is_dir() and _nested(others, local):
                for path in _scan(local, others):  # keep what other live steps staged
                    path.unlink()
            elif local.is_dir():
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
            if any(_is_under(path, o) for o in _nested(others, local)):
                continue  # another live step's files: theirs to stage
            wanted.add(path)
            n += self._get(uri.bucket, key, path, meta)
        if local.is_dir():  # remove local files S3 no longer has
            for path in list(_scan(local, others)):
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
        if self.copy_object is None or not self.copy_object(bucket, key, path, size=size,
                                                            etag=etag):  # fmt: skip
            self.s3.download_file(bucket, key, str(path), Config=transfer_config())
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
        """Sync the step's changes back to S3, then release its claim on the mirror."""
        try:
            with self.shared.lock:
                return self._stage_out(snap, self.shared.others(self.owner))
        finally:
            self.shared.release(self.owner)

    def release(self) -> None:
        """Give up the claim without syncing (a step cancelled or failed before stage-out)."""
        self.shared.release(self.owner)

    def _stage_out(self, snap: Snapshot, others: list[Path]) -> SyncReport:
        report = SyncReport()
        for uri in snap.uris:
            local = self.local(uri)
            after = _scan(local, others)
            before = {p: m for p, m in snap.files.items() if _is_under(p, local)}
            remote: dict[str, tuple[int, str]] | None = None
            for path, meta in after.items():
                if _never_uploaded(path, self.root) or before.get(path) == meta:
                    continue
                key = self._key_for(uri.bucket, path)
                remote = self._list(uri) if remote is None else remote
                if key in remote and remote[key][0] == meta[0] and _same_etag(path, remote[key][1]):
                    continue  # S3 has it already (another step that finished wrote it)
                self._put(path, uri.bucket, key)
                report.uploaded.append(f"s3://{uri.bucket}/{key}")
            for path in before:
                if path not in after and not _never_uploaded(path, self.root):
                    key = self._key_for(uri.bucket, path)
                    self.s3.delete_object(Bucket=uri.bucket, Key=key)
                    report.deleted.append(f"s3://{uri.bucket}/{key}")
        for path, meta in self._siblings(snap.uris, others).items():
            if _never_uploaded(path, self.root) or snap.siblings.get(path) == meta:
                continue  # unchanged during the step
            bucket = path.relative_to(self.root).parts[0]
            key = self._key_for(bucket, path)
            self._put(path, bucket, key)
            report.uploaded.append(f"s3://{bucket}/{key}")
        return report

    def _put(self, path: Path, bucket: str, key: str) -> None:
        if self.put_object is None or not self.put_object(path, bucket, key):
            self.s3.upload_file(str(path), bucket, key, Config=transfer_config())

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


def _scan(root: Path, skip: Iterable[Path] = ()) -> dict[Path, tuple[int, int]]:
    """Files under `root` (or `root` itself) -> (size, mtime_ns), leaving out the trees in
    `skip` (other live steps' staged paths) and files that vanish while scanning."""
    skip = _nested(skip, root)
    if root.is_file():
        st = root.stat()
        return {root: (st.st_size, st.st_mtime_ns)}
    out: dict[Path, tuple[int, int]] = {}
    if root.is_dir():
        for dirpath, dirs, files in os.walk(root):
            here = Path(dirpath)
            dirs[:] = [d for d in dirs if here / d not in skip]
            for name in files:
                p = here / name
                if p in skip:
                    continue
                try:
                    st = p.stat()
                except FileNotFoundError:  # a writer's temporary file, gone meanwhile
                    continue
                out[p] = (st.st_size, st.st_mtime_ns)
    return out


def _is_under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _nested(claims: Iterable[Path], root: Path) -> list[Path]:
    """The claims strictly inside `root`: the most specific claim owns a file (a step that
    staged `res/` leaves `res/b/`, which another live step staged, alone)."""
    return [c for c in claims if c != root and root in c.parents]


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

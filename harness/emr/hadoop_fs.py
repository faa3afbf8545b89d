"""`hadoop fs` / `hdfs dfs` and `s3-dist-cp` on s3:// paths, straight against the emulated S3.

A step's `hadoop fs -ls s3://bucket/prefix/` reaches the same S3 as the step's boto3 and AWS
CLI (AWS_ENDPOINT_URL): no local mirror is involved, so these commands never touch the mirror
other steps stage through. Messages and exit codes follow Hadoop's FsShell (`ls: `s3://b/x':
No such file or directory`, exit 1; `-test` exits 0 or 1). S3 folders are prefixes (and the
`key/` / `key_$folder$` markers EMRFS writes).

The cluster's HDFS is not emulated: `hdfs://` paths and bare paths fail with that message.
On the local side, `-put`/`-get`/`-copyFromLocal`/`-copyToLocal`/`-getmerge` use local files.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import fnmatch
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

__all__ = ["FsShell", "S3DistCp", "hadoop_main", "s3_dist_cp_main"]

_S3 = re.compile(r"^s3[an]?://([^/]+)/?(.*)$")
_FOLDER_SUFFIX = "_$folder$"
_GLOB = re.compile(r"[*?\[]")  # Hadoop's {a,b} alternation is not supported


class FsError(Exception):
    """One failed path: printed as `<cmd>: <message>`, exit code 1."""


@dataclass(frozen=True)
class Entry:
    bucket: str
    key: str  # no trailing "/"; "" is the bucket itself
    is_dir: bool
    size: int = 0
    mtime: _dt.datetime | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket}/"


def parse_s3(path: str) -> tuple[str, str]:
    """(bucket, key without leading/trailing '/') of an s3://, s3a:// or s3n:// path."""
    m = _S3.match(path)
    if not m:
        if path.startswith("hdfs://") or not re.match(r"^[a-z0-9]+://", path):
            raise FsError(
                f"`{path}': HDFS is not emulated (no Hadoop cluster here): use s3:// paths"
            )
        raise FsError(f"`{path}': unsupported file system (use s3:// paths)")
    return m.group(1), m.group(2).strip("/")


class S3Fs:
    """S3 seen as a file system: files are objects, folders are prefixes or markers."""

    def __init__(self, client: Any) -> None:
        self.s3 = client

    def _objects(self, bucket: str, prefix: str) -> Iterator[dict]:
        paginator = self.s3.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                yield from page.get("Contents", [])
        except self.s3.exceptions.NoSuchBucket:
            raise FsError(f"`s3://{bucket}/': No such bucket") from None

    def stat(self, bucket: str, key: str) -> Entry | None:
        """The file or folder at bucket/key, or None."""
        from botocore.exceptions import ClientError

        try:
            if not key:
                self.s3.head_bucket(Bucket=bucket)
                return Entry(bucket, "", True)
            head = self.s3.head_object(Bucket=bucket, Key=key)
            return Entry(bucket, key, False, head["ContentLength"], head["LastModified"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
            if not key:
                return None
        try:
            page = self.s3.list_objects_v2(Bucket=bucket, Prefix=key + "/", MaxKeys=1)
        except self.s3.exceptions.NoSuchBucket:
            return None
        for obj in page.get("Contents", []):
            return Entry(bucket, key, True, 0, obj["LastModified"])
        page = self.s3.list_objects_v2(Bucket=bucket, Prefix=key + _FOLDER_SUFFIX, MaxKeys=1)
        for obj in page.get("Contents", []):
            if obj["Key"] == key + _FOLDER_SUFFIX:
                return Entry(bucket, key, True, 0, obj["LastModified"])
        return None

    def children(self, d: Entry) -> list[Entry]:
        prefix = f"{d.key}/" if d.key else ""
        out: dict[str, Entry] = {}
        for obj in self._objects(d.bucket, prefix):
            rest = obj["Key"][len(prefix) :]
            if not rest:
                continue  # the folder's own marker
            name, sep, _ = rest.partition("/")
            if not sep and name.endswith(_FOLDER_SUFFIX):
                name, sep = name[: -len(_FOLDER_SUFFIX)], "/"
            key = prefix + name
            if sep:
                out.setdefault(key, Entry(d.bucket, key, True, 0, obj["LastModified"]))
            else:
                out[key] = Entry(d.bucket, key, False, obj["Size"], obj["LastModified"])
        return [out[k] for k in sorted(out)]

    def files_under(self, d: Entry) -> list[Entry]:
        """Every object under a folder (markers left out), or the file itself."""
        if not d.is_dir:
            return [d]
        prefix = f"{d.key}/" if d.key else ""
        return [
            Entry(d.bucket, o["Key"], False, o["Size"], o["LastModified"])
            for o in self._objects(d.bucket, prefix)
            if not o["Key"].endswith("/") and not o["Key"].endswith(_FOLDER_SUFFIX)
        ]

    def glob(self, path: str) -> list[Entry]:
        """The entries `path` names: itself, or what its glob (`*`, `?`, `[..]`) matches."""
        bucket, key = parse_s3(path)
        if not _GLOB.search(key):
            e = self.stat(bucket, key)
            return [e] if e else []
        parts = key.split("/")
        level = [Entry(bucket, "", True)]
        for part in parts:
            nxt: list[Entry] = []
            for d in level:
                if not d.is_dir:
                    continue
                if _GLOB.search(part):
                    nxt += [c for c in self.children(d)
                            if fnmatch.fnmatchcase(c.key.rsplit("/", 1)[-1], part)]  # fmt: skip
                else:
                    e = self.stat(bucket, f"{d.key}/{part}" if d.key else part)
                    nxt += [e] if e else []
            level = nxt
        return level

    def read(self, e: Entry) -> bytes:
        return self.s3.get_object(Bucket=e.bucket, Key=e.key)["Body"].read()

    def write(self, bucket: str, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=bucket, Key=key, Body=body)

    def copy(self, src: Entry, bucket: str, key: str) -> None:
        self.s3.copy_object(Bucket=bucket, Key=key,
                            CopySource={"Bucket": src.bucket, "Key": src.key})  # fmt: skip

    def delete_tree(self, e: Entry) -> None:
        keys = [e.key] if not e.is_dir else [
            o["Key"] for o in self._objects(e.bucket, f"{e.key}/" if e.key else "")
        ]  # fmt: skip
        if e.is_dir and e.key:
            keys.append(e.key + _FOLDER_SUFFIX)
        for i in range(0, len(keys), 1000):
            self.s3.delete_objects(Bucket=e.bucket, Delete={
                "Objects": [{"Key": k} for k in keys[i : i + 1000]], "Quiet": True})  # fmt: skip


def _human(n: float) -> str:
    for unit in ("", "K", "M", "G", "T"):
        if n < 1024 or unit == "T":
            return f"{n:.0f}" if not unit else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


class FsShell:
    """Hadoop's `hadoop fs` command set on S3 (see the module docstring)."""

    COMMANDS = (
        "ls", "cat", "text", "put", "copyFromLocal", "moveFromLocal", "get", "copyToLocal",
        "getmerge", "cp", "mv", "rm", "rmr", "rmdir", "mkdir", "test", "du", "dus", "touchz",
    )  # fmt: skip

    #: accepted and without effect on S3 (there is no trash, no replication)
    LONG_FLAGS = ("-skipTrash", "-ignore-fail-on-non-empty", "-safely")

    def __init__(self, client: Any, *, out: IO[bytes] | None = None,
                 err: IO[str] | None = None) -> None:  # fmt: skip
        self.fs = S3Fs(client)
        self.out = out or sys.stdout.buffer
        self.err = err or sys.stderr

    def run(self, argv: Sequence[str]) -> int:
        if not argv or not argv[0].startswith("-"):
            return self._usage("no command given" if not argv else f"{argv[0]}: Unknown command")
        name, args = argv[0][1:], list(argv[1:])
        if name not in self.COMMANDS:
            return self._usage(f"-{name}: Unknown command")
        flags: set[str] = set()
        while args and args[0].startswith("-") and len(args[0]) > 1:
            opt = args.pop(0)
            if opt not in self.LONG_FLAGS:  # -skipTrash is one flag, not nine letters
                flags.update(opt[1:])
        handler = getattr(self, f"_{name.lower()}")
        try:
            return handler(flags, args)
        except FsError as exc:
            self.err.write(f"{name}: {exc}\n")
            return 1

    def _usage(self, problem: str) -> int:
        self.err.write(
            f"{problem}\nSupported here (on s3:// paths): "
            + " ".join(f"-{c}" for c in self.COMMANDS) + "\n"
        )  # fmt: skip
        return 255 if "Unknown command" in problem else 1

    # -- helpers ------------------------------------------------------------------------------
    def _expand(self, path: str) -> list[Entry]:
        found = self.fs.glob(path)
        if not found:
            raise FsError(f"`{path}': No such file or directory")
        return found

    def _each(self, name: str, paths: list[str], fn: Callable[[str], object]) -> int:
        """Run fn on every path; report each failure like FsShell, exit 1 if any failed."""
        rc = 0
        for p in paths:
            try:
                fn(p)
            except FsError as exc:
                self.err.write(f"{name}: {exc}\n")
                rc = 1
        return rc

    def _need(self, args: list[str], n: int, usage: str) -> None:
        if len(args) < n:
            raise FsError(f"Not enough arguments: expected {usage}")

    # -- commands -----------------------------------------------------------------------------
    def _ls(self, flags: set[str], args: list[str]) -> int:
        self._need(args, 1, "-ls [-R] [-d] [-h] <path> ...")

        def line(e: Entry) -> str:
            size = _human(e.size) if "h" in flags else str(e.size)
            when = (e.mtime or _dt.datetime(1970, 1, 1)).strftime("%Y-%m-%d %H:%M")
            perms, rep = ("drwxrwxrwx", "-") if e.is_dir else ("-rw-rw-rw-", "1")
            return f"{perms}   {rep} hadoop hadoop {size:>10} {when} {e.uri}\n"

        def walk(e: Entry) -> list[Entry]:
            out = []
            for c in self.fs.children(e):
                out.append(c)
                if c.is_dir and "R" in flags:
                    out += walk(c)
            return out

        def one(p: str) -> None:
            for e in self._expand(p):
                if e.is_dir and "d" not in flags:
                    items = walk(e)
                    if "R" not in flags:
                        self.out.write(f"Found {len(items)} items\n".encode())
                    self.out.write("".join(line(c) for c in items).encode())
                else:
                    self.out.write(line(e).encode())

        return self._each("ls", args, one)

    def _cat(self, flags: set[str], args: list[str]) -> int:
        self._need(args, 1, "-cat <src> ...")

        def one(p: str) -> None:
            for e in self._expand(p):
                if e.is_dir:
                    raise FsError(f"`{e.uri}': Is a directory")
                self.out.write(self.fs.read(e))
                self.out.flush()

        return self._each("cat", args, one)

    _text = _cat

    def _put(self, flags: set[str], args: list[str], *, move: bool = False) -> int:
        self._need(args, 2, "-put [-f] <localsrc> ... <dst>")
        *sources, dst = args
        bucket, key = parse_s3(dst)
        target = self.fs.stat(bucket, key)
        into = (target is not None and target.is_dir) or len(sources) > 1 or dst.endswith("/")

        def one(src: str) -> None:
            if src == "-":
                data = sys.stdin.buffer.read()
                self._put_file(data, bucket, key, flags)
                return
            local = Path(src.removeprefix("file://"))
            if not local.exists():
                raise FsError(f"`{src}': No such file or directory")
            base = f"{key}/{local.name}".lstrip("/") if into else key
            files = (
                [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
            )
            for f in files:
                rel = f.name if f == local else f.relative_to(local).as_posix()
                k = base if f == local else f"{base}/{rel}"
                self._put_file(f.read_bytes(), bucket, k, flags)
            if move:
                import shutil

                shutil.rmtree(local) if local.is_dir() else local.unlink()

        return self._each("put", sources, one)

    def _put_file(self, data: bytes, bucket: str, key: str, flags: set[str]) -> None:
        existing = self.fs.stat(bucket, key)
        if existing is not None and "f" not in flags:
            raise FsError(f"`{Entry(bucket, key, False).uri}': File exists")
        if existing is not None and existing.is_dir:
            raise FsError(f"`{existing.uri}': Is a directory")
        self.fs.write(bucket, key, data)

    _copyfromlocal = _put

    def _movefromlocal(self, flags: set[str], args: list[str]) -> int:
        return self._put(flags, args, move=True)

    def _get(self, flags: set[str], args: list[str]) -> int:
        self._need(args, 2, "-get [-f] <src> ... <localdst>")
        *sources, dst = args
        local = Path(dst.removeprefix("file://"))

        def one(src: str) -> None:
            entries = self._expand(src)
            into = local.is_dir() or len(entries) > 1 or len(sources) > 1
            for e in entries:
                base = local / e.key.rsplit("/", 1)[-1] if into else local
                for f in self.fs.files_under(e):
                    rel = f.key[len(e.key) :].lstrip("/") if e.is_dir else ""
                    path = base / rel if rel else base
                    if path.exists() and "f" not in flags:
                        raise FsError(f"`{path}': File exists")
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(self.fs.read(f))
                if e.is_dir:
                    base.mkdir(parents=True, exist_ok=True)

        return self._each("get", sources, one)

    _copytolocal = _get

    def _getmerge(self, flags: set[str], args: list[str]) -> int:
        self._need(args, 2, "-getmerge [-nl] <src> <localdst>")
        src, dst = args[0], args[1]
        files = [f for e in self._expand(src) for f in self.fs.files_under(e)]
        with open(dst, "wb") as fh:
            for f in sorted(files, key=lambda x: x.key):
                fh.write(self.fs.read(f))
                if "n" in flags:
                    fh.write(b"\n")
        return 0

    def _cp(self, flags: set[str], args: list[str], *, name: str = "cp") -> int:
        self._need(args, 2, f"-{name} [-f] <src> ... <dst>")
        *sources, dst = args
        bucket, key = parse_s3(dst)
        target = self.fs.stat(bucket, key)
        into = (target is not None and target.is_dir) or len(sources) > 1

        def one(src: str) -> None:
            for e in self._expand(src):
                base = (f"{key}/" if key else "") + e.key.rsplit("/", 1)[-1] if into else key
                if (e.bucket, e.key) == (bucket, base):
                    raise FsError(f"`{e.uri}' and `{dst}' are the same")
                if e.is_dir and (bucket == e.bucket and (base + "/").startswith(e.key + "/")):
                    raise FsError(f"`{dst}' is inside `{e.uri}'")
                for f in self.fs.files_under(e):
                    rel = f.key[len(e.key) :].lstrip("/") if e.is_dir else ""
                    k = f"{base}/{rel}" if rel else base
                    if self.fs.stat(bucket, k) is not None and "f" not in flags:
                        raise FsError(f"`{Entry(bucket, k, False).uri}': File exists")
                    self.fs.copy(f, bucket, k)
                if name == "mv":
                    self.fs.delete_tree(e)

        return self._each(name, sources, one)

    def _mv(self, flags: set[str], args: list[str]) -> int:
        return self._cp(flags, args, name="mv")

    def _rm(self, flags: set[str], args: list[str]) -> int:
        self._need(args, 1, "-rm [-f] [-r|-R] [-skipTrash] <src> ...")
        recursive = bool(flags & {"r", "R"})

        def one(p: str) -> None:
            try:
                entries = self._expand(p)
            except FsError:
                if "f" in flags:
                    return
                raise
            for e in entries:
                if e.is_dir and not recursive:
                    raise FsError(f"`{e.uri}': Is a directory")
                if not e.key:
                    raise FsError(f"`{e.uri}': refusing to delete a whole bucket")
                self.fs.delete_tree(e)
                self.out.write(f"Deleted {e.uri}\n".encode())

        return self._each("rm", args, one)

    def _rmr(self, flags: set[str], args: list[str]) -> int:
        return self._rm(flags | {"r"}, args)

    def _rmdir(self, flags: set[str], args: list[str]) -> int:
        self._need(args, 1, "-rmdir <dir> ...")

        def one(p: str) -> None:
            for e in self._expand(p):
                if not e.is_dir:
                    raise FsError(f"`{e.uri}': Is not a directory")
                if self.fs.children(e):
                    raise FsError(f"`{e.uri}': Directory is not empty")
                self.fs.delete_tree(e)

        return self._each("rmdir", args, one)

    def _mkdir(self, flags: set[str], args: list[str]) -> int:
        self._need(args, 1, "-mkdir [-p] <path> ...")

        def one(p: str) -> None:
            bucket, key = parse_s3(p)
            existing = self.fs.stat(bucket, key)
            if existing is not None:
                if "p" in flags and existing.is_dir:
                    return
                raise FsError(f"`{p}': File exists")
            if self.fs.stat(bucket, "") is None:
                raise FsError(f"`s3://{bucket}/': No such bucket")
            self.fs.write(bucket, key + "/", b"")

        return self._each("mkdir", args, one)

    def _test(self, flags: set[str], args: list[str]) -> int:
        if len(flags) != 1 or not flags <= set("edfsz") or len(args) != 1:
            raise FsError("Usage: -test -[defsz] <path>")
        (flag,) = flags
        entries = self.fs.glob(args[0])
        if not entries:
            return 1
        e = entries[0]
        ok = {
            "e": True,
            "d": e.is_dir,
            "f": not e.is_dir,
            "s": e.is_dir or e.size > 0,
            "z": not e.is_dir and e.size == 0,
        }[flag]
        return 0 if ok else 1

    def _du(self, flags: set[str], args: list[str]) -> int:
        self._need(args, 1, "-du [-s] [-h] <path> ...")

        def fmt(n: int) -> str:
            return _human(n) if "h" in flags else str(n)

        def total(e: Entry) -> int:
            return sum(f.size for f in self.fs.files_under(e))

        def one(p: str) -> None:
            for e in self._expand(p):
                items = [e] if "s" in flags or not e.is_dir else self.fs.children(e)
                for c in items:
                    n = total(c)
                    self.out.write(f"{fmt(n)}  {fmt(n)}  {c.uri}\n".encode())

        return self._each("du", args, one)

    def _dus(self, flags: set[str], args: list[str]) -> int:
        return self._du(flags | {"s"}, args)

    def _touchz(self, flags: set[str], args: list[str]) -> int:
        self._need(args, 1, "-touchz <path> ...")

        def one(p: str) -> None:
            bucket, key = parse_s3(p)
            e = self.fs.stat(bucket, key)
            if e is not None and (e.is_dir or e.size):
                raise FsError(f"`{p}': Not a zero-length file")
            self.fs.write(bucket, key, b"")

        return self._each("touchz", args, one)


class S3DistCp:
    """`s3-dist-cp --src --dest [--srcPattern RE] [--groupBy RE] [--deleteOnSuccess]` between
    S3 locations: each file under --src whose full path matches --srcPattern is copied to the
    same relative path under --dest; with --groupBy, files whose path matches are concatenated
    into one file per distinct value of the pattern's capture groups (named by them), the
    others are left out, as S3DistCp does."""

    #: options accepted and ignored, with why
    IGNORED = {"--targetSize": "files are not split or resized here",
               "--s3ServerSideEncryption": "the emulated S3 does not encrypt",
               "--storageClass": "the emulated S3 has one storage class",
               "--s3Endpoint": "the emulated S3 is always used",
               "--numberFiles": "not emulated",
               "--multipartUploadChunkSize": "not needed"}  # fmt: skip

    def __init__(self, client: Any, *, out: IO[str] | None = None,
                 err: IO[str] | None = None) -> None:  # fmt: skip
        self.fs = S3Fs(client)
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def run(self, argv: Sequence[str]) -> int:
        parser = argparse.ArgumentParser(prog="s3-dist-cp", add_help=False, allow_abbrev=False)
        parser.add_argument("--src", required=True)
        parser.add_argument("--dest", required=True)
        parser.add_argument("--srcPattern")
        parser.add_argument("--groupBy")
        parser.add_argument("--outputCodec", default="keep")
        parser.add_argument("--deleteOnSuccess", action="store_true")
        for opt in self.IGNORED:
            parser.add_argument(opt, nargs="?" if opt == "--numberFiles" else None)
        try:
            ns = parser.parse_args(list(argv))
        except SystemExit:
            self.err.write("s3-dist-cp: supported options: --src --dest --srcPattern --groupBy "
                           "--outputCodec none|keep --deleteOnSuccess\n")  # fmt: skip
            return 1
        try:
            return self._copy(ns)
        except (FsError, re.error) as exc:
            self.err.write(f"s3-dist-cp: {exc}\n")
            return 1

    def _copy(self, ns: argparse.Namespace) -> int:
        if ns.outputCodec.lower() not in ("keep", "none"):
            raise FsError(f"--outputCodec {ns.outputCodec} is not emulated (use none or keep)")
        for opt in self.IGNORED:
            if getattr(ns, opt[2:]) is not None:
                self.out.write(f"s3-dist-cp: ignoring {opt} ({self.IGNORED[opt]})\n")
        sb, sk = parse_s3(ns.src)
        db, dk = parse_s3(ns.dest)
        src = self.fs.stat(sb, sk)
        if src is None:
            raise FsError(f"source `{ns.src}' does not exist")
        pattern = re.compile(ns.srcPattern) if ns.srcPattern else None
        files = [f for f in self.fs.files_under(src) if not pattern or pattern.fullmatch(f.uri)]
        base = f"{src.key}/" if src.is_dir and src.key else ""
        copied: list[Entry] = []
        if ns.groupBy:
            group = re.compile(ns.groupBy)
            if group.groups == 0:
                raise FsError(f"--groupBy {ns.groupBy!r} has no capture group (...)")
            groups: dict[str, list[Entry]] = {}
            for f in files:
                m = group.fullmatch(f.uri)
                if m:
                    groups.setdefault("".join(g or "" for g in m.groups()), []).append(f)
            for name, members in sorted(groups.items()):
                body = b"".join(self.fs.read(f) for f in sorted(members, key=lambda x: x.key))
                self.fs.write(db, f"{dk}/{name}" if dk else name, body)
                copied += members
        else:
            for f in files:
                rel = f.key[len(base) :] if src.is_dir else f.key.rsplit("/", 1)[-1]
                self.fs.copy(f, db, f"{dk}/{rel}" if dk else rel)
                copied.append(f)
        if ns.deleteOnSuccess:
            for f in copied:
                self.fs.delete_tree(f)
        self.out.write(f"s3-dist-cp: copied {len(copied)} file(s) from {ns.src} to {ns.dest}\n")
        return 0


def _client() -> Any:
    """An S3 client from the environment (the step's: the emulator's endpoint, dummy keys)."""
    import boto3

    return boto3.session.Session().client("s3")


def hadoop_main(command: str, argv: Sequence[str], client: Any = None) -> int:
    """`hadoop fs ...` / `hadoop dfs ...` / `hdfs dfs ...` / `hadoop version`."""
    if argv and argv[0] == "version":
        sys.stdout.write("Hadoop (emulated by airflow-emr's harness: `fs` on s3:// paths only)\n")
        return 0
    return FsShell(client or _client()).run(list(argv[1:]))


def s3_dist_cp_main(argv: Sequence[str], client: Any = None) -> int:
    return S3DistCp(client or _client()).run(list(argv))

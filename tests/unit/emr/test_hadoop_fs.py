"""`hadoop fs` and `s3-dist-cp` on S3 (moto in-process): output, messages, exit codes."""

from __future__ import annotations

import io

import pytest

from harness.emr.hadoop_fs import FsShell, S3DistCp


@pytest.fixture
def s3(s3):
    objects = {"in/a.csv": b"1\n", "in/b.csv": b"22\n", "in/sub/c.txt": b"333\n",
               "empty": b"", "logs/x-2026-01.log": b"a\n", "logs/x-2026-02.log": b"b\n",
               "logs/y-2026-01.log": b"c\n"}  # fmt: skip
    for key, body in objects.items():
        s3.put_object(Bucket="bkt", Key=key, Body=body)
    return s3


def fs(s3, *argv):
    out, err = io.BytesIO(), io.StringIO()
    rc = FsShell(s3, out=out, err=err).run(list(argv))
    return rc, out.getvalue().decode(), err.getvalue()


def keys(s3, prefix=""):
    return sorted(
        o["Key"] for o in s3.list_objects_v2(Bucket="bkt", Prefix=prefix).get("Contents", [])
    )


def test_ls_lists_files_and_folders(s3):
    rc, out, _ = fs(s3, "-ls", "s3://bkt/in/")
    lines = out.splitlines()
    assert rc == 0 and lines[0] == "Found 3 items"
    assert [ln.split()[-1] for ln in lines[1:]] == ["s3://bkt/in/a.csv", "s3://bkt/in/b.csv",
                                                    "s3://bkt/in/sub"]  # fmt: skip
    assert lines[1].startswith("-rw-rw-rw-   1 hadoop hadoop          2 ")
    assert lines[3].startswith("drwxrwxrwx   - hadoop hadoop          0 ")
    rc, out, _ = fs(s3, "-ls", "-R", "s3a://bkt/in")
    assert out.split()[-1] == "s3://bkt/in/sub/c.txt" and "Found" not in out


def test_missing_paths_fail_like_hadoop(s3):
    assert fs(s3, "-ls", "s3://bkt/nope") == (
        1,
        "",
        "ls: `s3://bkt/nope': No such file or directory\n",
    )
    assert fs(s3, "-cat", "s3://bkt/in") == (1, "", "cat: `s3://bkt/in': Is a directory\n")
    assert fs(s3, "-test", "-e", "s3://bkt/nope")[0] == 1
    assert fs(s3, "-test", "-e", "s3://bkt/in/a.csv")[0] == 0
    assert fs(s3, "-test", "-d", "s3://bkt/in")[0] == 0
    assert fs(s3, "-test", "-f", "s3://bkt/in")[0] == 1
    assert fs(s3, "-test", "-z", "s3://bkt/empty")[0] == 0
    assert fs(s3, "-frob", "s3://bkt/")[0] == 255
    rc, _, err = fs(s3, "-ls", "hdfs:///user/hadoop")
    assert rc == 1 and "HDFS is not emulated (no Hadoop cluster here): use s3:// paths" in err


def test_cat_with_a_glob(s3):
    assert fs(s3, "-cat", "s3://bkt/in/*.csv") == (0, "1\n22\n", "")


def test_put_get_and_file_exists(s3, tmp_path):
    local = tmp_path / "f.txt"
    local.write_text("hello\n")
    assert fs(s3, "-put", str(local), "s3://bkt/up/f.txt")[0] == 0
    assert fs(s3, "-put", str(local), "s3://bkt/up/f.txt") == (
        1, "", "put: `s3://bkt/up/f.txt': File exists\n")  # fmt: skip
    assert fs(s3, "-put", "-f", str(local), "s3://bkt/up/")[0] == 0  # into the folder
    assert s3.get_object(Bucket="bkt", Key="up/f.txt")["Body"].read() == b"hello\n"
    assert fs(s3, "-get", "s3://bkt/in", str(tmp_path / "got"))[0] == 0
    assert (tmp_path / "got" / "sub" / "c.txt").read_text() == "333\n"
    (tmp_path / "dl").mkdir()
    assert fs(s3, "-get", "s3://bkt/in/a.csv", str(tmp_path / "dl"))[0] == 0  # into a folder
    assert (tmp_path / "dl" / "a.csv").read_text() == "1\n"
    rc, _, err = fs(s3, "-get", "s3://bkt/in/a.csv", str(tmp_path / "dl"))
    assert rc == 1 and "File exists" in err


def test_cp_mv_rm(s3):
    assert fs(s3, "-cp", "s3://bkt/in", "s3://bkt/copy")[0] == 0
    assert keys(s3, "copy/") == ["copy/a.csv", "copy/b.csv", "copy/sub/c.txt"]
    assert fs(s3, "-mv", "s3://bkt/copy/a.csv", "s3://bkt/moved.csv")[0] == 0
    assert "copy/a.csv" not in keys(s3) and "moved.csv" in keys(s3)
    assert fs(s3, "-rm", "s3://bkt/copy") == (1, "", "rm: `s3://bkt/copy': Is a directory\n")
    assert fs(s3, "-rm", "-r", "-skipTrash", "s3://bkt/copy") == (0, "Deleted s3://bkt/copy\n", "")
    assert keys(s3, "copy") == []
    assert fs(s3, "-rm", "s3://bkt/nope")[0] == 1
    assert fs(s3, "-rm", "-f", "s3://bkt/nope")[0] == 0


def test_mkdir_du_touchz(s3):
    assert fs(s3, "-mkdir", "-p", "s3://bkt/new/deep")[0] == 0
    assert fs(s3, "-test", "-d", "s3://bkt/new/deep")[0] == 0
    assert fs(s3, "-mkdir", "s3://bkt/new/deep") == (
        1,
        "",
        "mkdir: `s3://bkt/new/deep': File exists\n",
    )
    assert fs(s3, "-mkdir", "-p", "s3://bkt/new/deep")[0] == 0
    assert fs(s3, "-du", "-s", "s3://bkt/in") == (0, "9  9  s3://bkt/in\n", "")
    assert fs(s3, "-du", "s3://bkt/in")[1].splitlines()[-1] == "4  4  s3://bkt/in/sub"
    assert fs(s3, "-touchz", "s3://bkt/marker")[0] == 0
    assert fs(s3, "-test", "-z", "s3://bkt/marker")[0] == 0


def dist_cp(s3, *argv):
    out, err = io.StringIO(), io.StringIO()
    return S3DistCp(s3, out=out, err=err).run(list(argv)), out.getvalue(), err.getvalue()


def test_s3_dist_cp_copies_with_a_pattern(s3):
    rc, out, _ = dist_cp(s3, "--src", "s3://bkt/in/", "--dest", "s3://bkt/dst/",
                         "--srcPattern", r".*\.csv")  # fmt: skip
    assert rc == 0 and "copied 2 file(s)" in out
    assert keys(s3, "dst/") == ["dst/a.csv", "dst/b.csv"]


def test_s3_dist_cp_groups_by_the_capture_groups(s3):
    rc, _, _ = dist_cp(s3, "--src", "s3://bkt/logs/", "--dest", "s3://bkt/merged",
                       "--groupBy", r".*/(\w+)-2026-\d+\.log")  # fmt: skip
    assert rc == 0
    assert keys(s3, "merged/") == ["merged/x", "merged/y"]
    assert s3.get_object(Bucket="bkt", Key="merged/x")["Body"].read() == b"a\nb\n"


def test_s3_dist_cp_errors(s3):
    assert dist_cp(s3, "--src", "s3://bkt/none/", "--dest", "s3://bkt/d/")[2] == (
        "s3-dist-cp: source `s3://bkt/none/' does not exist\n")  # fmt: skip
    rc, _, err = dist_cp(s3, "--src", "s3://bkt/in/", "--dest", "s3://bkt/d/", "--groupBy", ".*")
    assert rc == 1 and "has no capture group" in err
    rc, _, err = dist_cp(s3, "--src", "s3://bkt/in/")
    assert rc == 1 and "supported options: --src --dest" in err

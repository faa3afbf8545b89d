"""S3 staging around steps (download, upload, overwrite deletes) and EMR-layout logs."""

from __future__ import annotations

import gzip

from harness.emr.states import StepState as S

from .conftest import PY, run_cluster, step

# A tiny "job": concatenates the input folder's files into <out>/part-<tag>.txt (+ a .crc and a
# sibling folder <out>_extra), removing what was in <out> before: Spark's overwrite, in small.
JOB = """\
import os, shutil, sys
src, out, tag = sys.argv[1], sys.argv[2].rstrip("/"), sys.argv[3]
text = "".join(open(os.path.join(src, f)).read() for f in sorted(os.listdir(src)))
shutil.rmtree(out, ignore_errors=True)
os.makedirs(out)
open(os.path.join(out, "part-%s.txt" % tag), "w").write(text.upper())
open(os.path.join(out, ".part-%s.txt.crc" % tag), "w").write("crc")
open(os.path.join(out, "_SUCCESS"), "w").close()
os.makedirs(out + "_extra", exist_ok=True)
open(os.path.join(out + "_extra", "count.txt"), "w").write(str(len(text)))
print("processed", len(text), "chars")
"""


def keys(s3, bucket, prefix=""):
    return sorted(
        o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    )


def run_job(aws, emr, cid, tag):
    args = ["python3", "s3://data/jobs/job.py", "s3://data/in/", "s3://data/out/", tag]
    (sid,) = emr.add_job_flow_steps(JobFlowId=cid, Steps=[step(f"job-{tag}", *args)])["StepIds"]
    done = aws.runtime.wait_step(cid, sid, timeout=30)
    assert done.state is S.COMPLETED, aws.step_stderr_tail(cid, sid)
    return sid


def test_staging_roundtrip_overwrite_and_logs(emulated_aws, emr, s3):
    s3.create_bucket(Bucket="data")
    s3.put_object(Bucket="data", Key="jobs/job.py", Body=JOB.encode())
    s3.put_object(Bucket="data", Key="in/a.csv", Body=b"a,1\n")
    s3.put_object(Bucket="data", Key="in/b.csv", Body=b"b,2\n")
    s3.put_object(Bucket="data", Key="inside.csv", Body=b"not under in/\n")
    cid = run_cluster(emr, LogUri="s3://data/logs/")

    sid = run_job(emulated_aws, emr, cid, "one")
    assert keys(s3, "data", "out") == ["out/_SUCCESS", "out/part-one.txt", "out_extra/count.txt"]
    body = s3.get_object(Bucket="data", Key="out/part-one.txt")["Body"].read()
    assert body == b"A,1\nB,2\n"  # read back with boto3, as a user would

    # logs in EMR's layout, gzipped
    prefix = f"logs/{cid}/steps/{sid}/"
    assert keys(s3, "data", prefix) == [
        prefix + n for n in ("controller.gz", "stderr.gz", "stdout.gz")
    ]
    stdout = gzip.decompress(s3.get_object(Bucket="data", Key=prefix + "stdout.gz")["Body"].read())
    assert stdout == b"processed 8 chars\n"
    controller = gzip.decompress(
        s3.get_object(Bucket="data", Key=prefix + "controller.gz")["Body"].read()
    )
    assert b"finished with exit code 0" in controller

    # input changed in S3 between runs -> the next step sees it; the rerun replaces the output
    s3.delete_object(Bucket="data", Key="in/b.csv")
    s3.put_object(Bucket="data", Key="in/c.csv", Body=b"c,3\n")
    run_job(emulated_aws, emr, cid, "two")
    assert keys(s3, "data", "out/") == ["out/_SUCCESS", "out/part-two.txt"]  # part-one deleted
    body = s3.get_object(Bucket="data", Key="out/part-two.txt")["Body"].read()
    assert body == b"A,1\nC,3\n"
    assert s3.get_object(Bucket="data", Key="out_extra/count.txt")["Body"].read() == b"8"
    assert keys(s3, "data", "in") == ["in/a.csv", "in/c.csv", "inside.csv"]  # inputs untouched


def test_stderr_tail_and_local_log_dir(emulated_aws, emr):
    code = "import sys\nfor i in range(50): print('line', i, file=sys.stderr)\nraise SystemExit(2)"
    cid = run_cluster(emr, steps=[step("noisy", PY, "-c", code)])
    (sid,) = [s["Id"] for s in emr.list_steps(ClusterId=cid)["Steps"]]
    assert emulated_aws.runtime.wait_step(cid, sid, timeout=20).state is S.FAILED
    tail = emulated_aws.step_stderr_tail(cid, sid, lines=3)
    assert tail.splitlines() == ["line 47", "line 48", "line 49"]
    step_dir = emulated_aws.step_dir(cid, sid)
    assert step_dir == emulated_aws.workdir / "logs" / cid / "steps" / sid
    assert {p.name for p in step_dir.iterdir()} >= {"stdout", "stderr", "controller"}
    failure = emr.describe_step(ClusterId=cid, StepId=sid)["Step"]["Status"]["FailureDetails"]
    assert failure["Message"] == "line 49" and failure["LogFile"].endswith("/stderr")

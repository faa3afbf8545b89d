"""Steps of two clusters writing sibling prefixes (`res/a`, `res/b`) of one bucket at the same
time share the local S3 mirror: each must upload only its own output, and never a writer's
uncommitted `_temporary` files."""

from __future__ import annotations

from harness.emr.states import StepState as S

from .conftest import run_cluster, step
from .test_staging_logs import keys

# Writes <out>/_temporary/0/part-00000 (uncommitted), says it started, waits until the other
# step started too (and, if given, for a go file), then commits like Spark's file committer:
# part-00000 moved into <out>, _temporary removed, _SUCCESS, plus a sibling <out>_rejeitados.
JOB = """\
import os, shutil, sys, time
out, coord, me, other = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3], sys.argv[4]
go = sys.argv[5] if len(sys.argv) > 5 else None

def wait_for(path):
    deadline = time.monotonic() + 120
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            sys.exit("timed out waiting for " + path)
        time.sleep(0.02)

tmp = os.path.join(out, "_temporary", "0")
os.makedirs(tmp)
with open(os.path.join(tmp, "part-00000"), "w") as f:
    f.write(me + " (half written)")
open(os.path.join(coord, me + ".started"), "w").close()
wait_for(os.path.join(coord, other + ".started"))
if go:
    wait_for(go)
os.replace(os.path.join(tmp, "part-00000"), os.path.join(out, "part-00000"))
shutil.rmtree(os.path.join(out, "_temporary"))
open(os.path.join(out, "_SUCCESS"), "w").close()
os.makedirs(out + "_rejeitados")
with open(os.path.join(out + "_rejeitados", "part-00000"), "w") as f:
    f.write(me + " rejects")
"""


def _controller(aws, cid, sid):
    return (aws.step_dir(cid, sid) / "controller").read_text()


def test_concurrent_steps_upload_only_their_own_output(emulated_aws, emr, s3, tmp_path):
    coord = tmp_path / "coord"
    coord.mkdir()
    go_b = coord / "b.go"
    s3.create_bucket(Bucket="bkt")
    s3.put_object(Bucket="bkt", Key="jobs/job.py", Body=JOB.encode())
    job = "s3://bkt/jobs/job.py"
    cid_a = run_cluster(emr, name="a")
    cid_b = run_cluster(emr, name="b")
    (sid_a,) = emr.add_job_flow_steps(JobFlowId=cid_a, Steps=[
        step("write-a", "python3", job, "s3://bkt/res/a", str(coord), "a", "b")])["StepIds"]
    (sid_b,) = emr.add_job_flow_steps(JobFlowId=cid_b, Steps=[
        step("write-b", "python3", job, "s3://bkt/res/b", str(coord), "b", "a", str(go_b))
    ])["StepIds"]  # fmt: skip

    # a commits and stages out while b is still writing (its _temporary/ exists) ...
    done_a = emulated_aws.runtime.wait_step(cid_a, sid_a, timeout=120)
    assert done_a.state is S.COMPLETED, emulated_aws.step_stderr_tail(cid_a, sid_a)
    assert (emulated_aws.workdir / "s3/bkt/res/b/_temporary/0/part-00000").exists()
    assert keys(s3, "bkt", "res") == ["res/a/_SUCCESS", "res/a/part-00000",
                                    "res/a_rejeitados/part-00000"]  # fmt: skip
    # ... then b finishes
    go_b.touch()
    done_b = emulated_aws.runtime.wait_step(cid_b, sid_b, timeout=120)
    assert done_b.state is S.COMPLETED, emulated_aws.step_stderr_tail(cid_b, sid_b)

    assert keys(s3, "bkt", "res") == [
        "res/a/_SUCCESS", "res/a/part-00000", "res/a_rejeitados/part-00000",
        "res/b/_SUCCESS", "res/b/part-00000", "res/b_rejeitados/part-00000",
    ]  # fmt: skip
    for cid, sid, me in ((cid_a, sid_a, "a"), (cid_b, sid_b, "b")):
        uploaded = sorted(line.split("Uploaded ", 1)[1]
                          for line in _controller(emulated_aws, cid, sid).splitlines()
                          if " Uploaded " in line)  # fmt: skip
        assert uploaded == [f"s3://bkt/res/{me}/_SUCCESS", f"s3://bkt/res/{me}/part-00000",
                            f"s3://bkt/res/{me}_rejeitados/part-00000"], (me, uploaded)  # fmt: skip
        body = s3.get_object(Bucket="bkt", Key=f"res/{me}/part-00000")["Body"].read()
        assert body == f"{me} (half written)".encode()

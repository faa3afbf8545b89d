"""Run moto's own EMR API tests (tests/test_emr/test_emr_boto3.py) against the emulator.

    python tests/conformance/moto_emr_suite.py [-k EXPR] [--keep]

The module comes from moto's source distribution at the locked version (URL and sha256 read
from uv.lock, verified, cached under .harness/cache/). It runs in moto's *server mode*
(`TEST_SERVER_MODE=true`) against `python -m harness serve`, so every call crosses HTTP into the
emulator, as a DAG's calls do.

The emulator diverges from moto on purpose (a cluster boots through STARTING/BOOTSTRAPPING, a
step really runs): those tests are listed in `DIVERGENCES` with the reason. The script exits 1
when a test fails that is not listed (an API-shape regression) or when a listed one passes (the
list is stale), and prints a table either way.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tarfile
import tomllib
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULE = "tests/test_emr/test_emr_boto3.py"

#: test name -> why the emulator answers differently from moto (intentional divergences).
DIVERGENCES: dict[str, str] = {
    "test_describe_cluster": (
        "RunJobFlow names SecurityConfiguration 'my-security-configuration', which was never "
        "created: EMR refuses that (ValidationException: Security configuration with name ... "
        "does not exist.), and so does the emulator; moto accepts any name"
    ),
    "test_list_clusters": (
        "a cluster terminated while still STARTING never became ready, so its Timeline has no "
        "ReadyDateTime (as on EMR); moto marks every cluster ready at creation"
    ),
}
#: A cluster boots asynchronously (STARTING -> BOOTSTRAPPING -> WAITING in a few ms here,
#: minutes on EMR); moto makes it WAITING inside RunJobFlow. Tests that look at a cluster right
#: after creating it pass or fail by timing.
_BOOTS_ASYNC = (
    "checks WAITING right after RunJobFlow: on EMR (and here) a new cluster is STARTING first; "
    "the emulator's boot takes milliseconds, so this passes or fails by timing"
)
for _name in ("test_describe_job_flows", "test_describe_job_flow", "test_run_job_flow",
              "test_run_job_flow_with_step_concurrency", "test_modify_cluster",
              "test_terminate_job_flows"):
    DIVERGENCES[_name] = _BOOTS_ASYNC
DIVERGENCES["test_steps"] = (
    "expects its first step RUNNING right after AddJobFlowSteps; the step is a `hadoop-streaming` "
    "command, which the emulator does not run (it fails the step with what to do instead) and "
    "the cluster may still be booting: RUNNING, PENDING or FAILED by timing"
)
# Every message a cluster caught mid-transition can give in those tests (read from moto's test
# module at the locked version): each cluster boots and terminates on its own thread, so any
# of them may still be STARTING/BOOTSTRAPPING (no ReadyDateTime yet) or TERMINATING (no
# EndDateTime yet) when the test looks, and a listing filtered by state may then count fewer.
_EARLY_STATE = r"assert '(STARTING|BOOTSTRAPPING)' == 'WAITING'"
_NOT_READY = r"KeyError: 'ReadyDateTime'"
_STILL_TERMINATING = r"assert 'TERMINATING' == 'TERMINATED'"
_NO_END_YET = r"KeyError: 'EndDateTime'"


def _fewer_than(n: int) -> str:
    """`assert k == n` for k < n: a state-filtered listing that missed a cluster in transit."""
    return rf"^assert ({'|'.join(str(k) for k in range(n))}) == {n}$"


#: Divergences that depend on timing: passing is not a stale entry, and a failure counts as the
#: divergence only when its message is one of the expected ones (anything else is unexpected).
TIMING_DEPENDENT: dict[str, str] = {
    # 40 clusters left to boot, then 15 terminated at once: listed with ClusterStates=TERMINATED
    "test_list_clusters": "|".join((_NOT_READY, _EARLY_STATE, _STILL_TERMINATING, _NO_END_YET,
                                    _fewer_than(15))),
    # 4 left to boot (listed with JobFlowStates=WAITING), 2 terminated at once
    "test_describe_job_flows": "|".join((_EARLY_STATE, _fewer_than(4))),
    "test_describe_job_flow": "|".join((_NOT_READY, _EARLY_STATE)),
    "test_run_job_flow": _EARLY_STATE,
    "test_run_job_flow_with_step_concurrency": _EARLY_STATE,
    "test_modify_cluster": _EARLY_STATE,
    # WAITING right after RunJobFlow, then TERMINATED right after TerminateJobFlows
    "test_terminate_job_flows": "|".join((_EARLY_STATE, _STILL_TERMINATING)),
    # moto's `assert (state == "RUNNING" if idx == 0 else "PENDING")` reports only this
    "test_steps": r"^assert False$",
}


def moto_sdist() -> tuple[str, str, str]:
    """(version, url, sha256) of moto's sdist as locked in uv.lock."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    for pkg in lock["package"]:
        if pkg["name"] == "moto":
            sdist = pkg["sdist"]
            return pkg["version"], sdist["url"], sdist["hash"].removeprefix("sha256:")
    raise SystemExit("moto is not in uv.lock")


def fetch_tests(cache: Path) -> Path:
    version, url, sha256 = moto_sdist()
    target = cache / f"moto-{version}-tests"
    if (target / MODULE).exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    archive = cache / url.rsplit("/", 1)[-1]
    if not archive.exists():
        print(f"downloading {url}", flush=True)
        partial = archive.with_suffix(".partial")
        with urllib.request.urlopen(url, timeout=120) as resp, partial.open("wb") as out:
            while chunk := resp.read(1 << 20):
                out.write(chunk)
        partial.replace(archive)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if digest != sha256:
        archive.unlink()
        raise SystemExit(f"{archive.name}: sha256 {digest} != {sha256} (uv.lock)")
    prefix = f"moto-{version}/"
    wanted = ("tests/__init__.py", "tests/test_emr/__init__.py", MODULE)
    with tarfile.open(archive) as tar:
        for name in wanted:
            member = tar.getmember(prefix + name)
            data = tar.extractfile(member)
            assert data is not None
            path = target / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data.read())
    return target


def start_emulator(workdir: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "serve", "--workdir", str(workdir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # the ready line carries the URL; EOF means it died
        if "emulated AWS ready at " in line:
            return proc, line.split("ready at ", 1)[1].split()[0]
        print(line, end="")
    raise SystemExit(f"`python -m harness serve` exited {proc.wait()} before it was ready")


def results(junit: Path) -> dict[str, tuple[str, str]]:
    """test name -> (outcome, first line of the failure)."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "?")
        outcome, detail = "passed", ""
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                outcome = "skipped" if tag == "skipped" else "failed"
                detail = (el.get("message") or el.text or "").strip().splitlines()[0][:160]
        out[name] = (outcome, detail)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default=None, help="pytest -k expression")
    args = parser.parse_args()
    cache = Path(os.environ.get("HARNESS_CACHE_DIR") or ROOT / ".harness" / "cache")
    tests_root = fetch_tests(cache)
    workdir = cache.parent / "moto-emr-suite"
    proc, url = start_emulator(workdir)
    junit = workdir / "junit.xml"
    try:
        env = {**os.environ, "TEST_SERVER_MODE": "true", "TEST_SERVER_MODE_ENDPOINT": url,
               "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}
        env.pop("AWS_PROFILE", None)
        argv = [sys.executable, "-m", "pytest", MODULE, "-q", "-p", "no:cacheprovider",
                "-p", "no:harness", "--junitxml", str(junit), "-o", "addopts=",
                "--rootdir", str(tests_root)]
        if args.k:
            argv += ["-k", args.k]
        subprocess.run(argv, cwd=tests_root, env=env, check=False)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    seen = results(junit)
    unexpected = {
        n: d for n, (o, d) in seen.items()
        if o == "failed" and (n not in DIVERGENCES
                              or (n in TIMING_DEPENDENT and not re.search(TIMING_DEPENDENT[n], d)))
    }
    stale = [n for n in DIVERGENCES
             if seen.get(n, ("",))[0] == "passed" and n not in TIMING_DEPENDENT]
    counts = {o: sum(1 for v in seen.values() if v[0] == o) for o in ("passed", "failed",
                                                                       "skipped")}
    print(f"\nmoto {moto_sdist()[0]} {MODULE} against the emulator: {counts}")
    for name, (outcome, detail) in sorted(seen.items()):
        if outcome != "passed":
            why = ("UNEXPECTED: " + detail) if name in unexpected else DIVERGENCES[name]
            print(f"  {outcome:7} {name}: {why}")
    for name in stale:
        print(f"  STALE   {name}: listed as a divergence but passes")
    return 1 if unexpected or stale else 0


if __name__ == "__main__":
    sys.exit(main())

"""Run the project's pinned nox without installing anything globally.

    python3 .ci/nox.py -s pipeline     # README command 1
    python3 .ci/nox.py                 # README command 2 (what CI runs)

On first use it creates .nox/_tools, a virtualenv holding nox and uv at the versions in
.ci/tools.txt; later runs reuse it (it is rebuilt when tools.txt changes). Any arguments go
to nox, e.g. `python3 .ci/nox.py -R -s unit` for a fast re-run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".nox" / "_tools"
REQUIREMENTS = ROOT / ".ci" / "tools.txt"
BIN = TOOLS / ("Scripts" if os.name == "nt" else "bin")


def ensure_tools() -> None:
    wanted = REQUIREMENTS.read_text(encoding="utf-8")
    stamp = TOOLS / "installed-from.txt"
    if stamp.exists() and stamp.read_text(encoding="utf-8") == wanted:
        return
    print(f"[bootstrap] installing nox and uv into {TOOLS.relative_to(ROOT)}", flush=True)
    venv.create(TOOLS, with_pip=True, clear=True)
    subprocess.run(
        [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-r", str(REQUIREMENTS)],
        check=True,
    )
    stamp.write_text(wanted, encoding="utf-8")


def main() -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file may run on an older python3
        sys.exit(f"airflow-emr needs Python 3.11+, this is {sys.version.split()[0]}")
    ensure_tools()
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    cmd = [str(BIN / "nox"), "--noxfile", str(ROOT / "noxfile.py"), *sys.argv[1:]]
    return subprocess.run(cmd, env=env, cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())

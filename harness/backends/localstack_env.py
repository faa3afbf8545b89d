"""LocalStack's own virtual environment, created from a pinned, hashed requirements file.

`localstack-core[runtime]` pins boto3/botocore exactly, so it cannot share the project's
environment. The environment lives at `.harness/localstack-venv-<hash of the pinned file>` under
the repository (a changed pin makes a new one) and is created with `uv`:

    python -m harness.backends.localstack_env          # create (or reuse), print its python

The nox `localstack` session calls the same function; `LocalStackBackend` uses it and, unless
told `install=True`, says how to create it when it is missing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

__all__ = [
    "LOCALSTACK_VERSION",
    "REQUIREMENTS",
    "ensure_venv",
    "venv_path",
    "venv_python",
]

#: The localstack-core the pinned file installs (the newest that runs on Python 3.11).
LOCALSTACK_VERSION = "4.13.1"
REQUIREMENTS = Path(__file__).with_name("localstack-requirements.txt")
_REPO_ROOT = Path(__file__).resolve().parents[2]
#: Written last: a venv without it was interrupted half-way and is rebuilt.
_DONE = "harness-complete"


def venv_path(root: str | os.PathLike[str] | None = None) -> Path:
    """Where the environment for the current pinned file lives."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    base = Path(root) if root is not None else Path(
        os.environ.get("HARNESS_LOCALSTACK_VENV_ROOT") or _REPO_ROOT / ".harness")
    return base / f"localstack-venv-{digest}"


def venv_python(root: str | os.PathLike[str] | None = None) -> Path | None:
    """The environment's python when it is complete, else None."""
    path = venv_path(root)
    python = path / "bin" / "python"
    return python if (path / _DONE).exists() and python.exists() else None


def ensure_venv(*, root: str | os.PathLike[str] | None = None, python: str = "3.11",
                quiet: bool = True) -> Path:
    """Create the environment unless it exists; return its python. Raises with uv's output."""
    ready = venv_python(root)
    if ready is not None:
        return ready
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError("uv is not on PATH: it creates LocalStack's virtual environment "
                           "(https://docs.astral.sh/uv/)")
    path = venv_path(root)
    shutil.rmtree(path, ignore_errors=True)  # an interrupted earlier attempt
    path.parent.mkdir(parents=True, exist_ok=True)
    commands = [
        [uv, "venv", "--quiet", "--python", python, str(path)],
        [uv, "pip", "install", "--quiet", "--require-hashes", "--compile-bytecode",
         "--python", str(path / "bin" / "python"), "-r", str(REQUIREMENTS)],
    ]
    for argv in commands:
        proc = subprocess.run(argv, capture_output=quiet, text=True)
        if proc.returncode != 0:
            shutil.rmtree(path, ignore_errors=True)
            raise RuntimeError(f"creating LocalStack's environment failed: {' '.join(argv)} "
                               f"exited {proc.returncode}\n{proc.stderr or ''}".rstrip())
    (path / _DONE).write_text(LOCALSTACK_VERSION + "\n")
    return path / "bin" / "python"


def main() -> int:
    t0 = time.perf_counter()
    existed = venv_python() is not None
    python = ensure_venv(quiet=False)
    took = "reused" if existed else f"created in {time.perf_counter() - t0:.1f} s"
    print(f"{python} ({took})", file=sys.stderr)
    print(python)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

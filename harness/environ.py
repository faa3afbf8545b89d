"""Setting environment variables of this process for the length of a block, then putting back
exactly what was there (set, changed or absent). Imports nothing of the harness or Airflow."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping

__all__ = ["patched_environ"]


@contextlib.contextmanager
def patched_environ(values: Mapping[str, str], drop: Iterable[str] = ()) -> Iterator[None]:
    """`values` set and `drop` removed in os.environ within the block; afterwards each of those
    names has the value it had before, or is absent again if it was."""
    saved = {k: os.environ.get(k) for k in [*values, *drop]}
    for k in drop:
        os.environ.pop(k, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

"""One botocore model loader per process, shared by every session (ours and Airflow's hooks).

Each new botocore session gets a fresh `Loader` and parses again every service model, endpoint
ruleset and partition file its first client needs: 0.5-2.4 s per new session + client on this
loaded 2-core machine (S3's model alone is several MB of JSON), 0.04 s with a loader that has
them. The emulator's own clients, the EMR runtime's and each Airflow AWS hook's (a new session
per hook) all paid it. The models are read-only data, so sharing the loader changes nothing but
the time: `install()` makes `botocore.session` create one loader per data-path setting and
hand the same one to every later session of the process.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["install"]

_lock = threading.Lock()
_loaders: dict[str | None, Any] = {}
_installed = False


def install() -> None:
    """Patch `botocore.session`'s loader factory (process-wide, idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        import botocore.session

        create_loader = botocore.session.create_loader

        def shared_loader(search_path_string: str | None = None) -> Any:
            with _lock:
                loader = _loaders.get(search_path_string)
                if loader is None:
                    loader = _loaders[search_path_string] = create_loader(search_path_string)
                return loader

        botocore.session.create_loader = shared_loader
        _installed = True

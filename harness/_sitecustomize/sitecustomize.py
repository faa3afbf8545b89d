"""Run by every Python child of an offline harness run (this folder heads its PYTHONPATH, see
harness.offline_env) before any user code: installs the off-loopback guard as a lazy import
hook, then runs the sitecustomize this one shadows, if there is one.

With HARNESS_OFFLINE_GUARD=1 and no importable harness, the process stops: running a user's
code unguarded is worse than not running it.
"""

import importlib.machinery
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def _install_guard() -> None:
    if os.environ.get("HARNESS_OFFLINE_GUARD") != "1":
        return
    try:
        from harness.guard import install_import_hook
    except ImportError:
        # A Python whose site-packages lacks the harness: use the copy this file belongs to.
        sys.path.append(os.path.dirname(os.path.dirname(_HERE)))
        try:
            from harness.guard import install_import_hook
        except ImportError as exc:
            sys.stderr.write(f"harness offline guard: cannot be installed ({exc}); exiting\n")
            raise SystemExit(70) from None
    install_import_hook()


def _chain_shadowed_sitecustomize() -> None:
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["_harness_shadowed_sitecustomize"] = module
    spec.loader.exec_module(module)


_install_guard()
_chain_shadowed_sitecustomize()

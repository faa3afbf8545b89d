"""Speed hooks for the moto that `EmulatedAWS` hosts: same behaviour, less work per account.

moto builds an IAM backend with ~1,600 AWS-managed policies (a multi-MB JSON parsed, one
object per policy) whenever `load_aws_managed_policies` is on, and it builds one per partition
(6) on the *first request of any service* of a fresh account: `get_account_id_from` (every
request, S3 included) walks the access keys of every partition's IAM backend. A fresh account
(every `EmulatedAWS` start and `reset()`) so cost seconds before its first answer.

`install()` makes the managed policies of an IAM backend materialise on first use instead (the
first time anything reads `aws_managed_policies` or `managed_policies`: listing, attaching,
getting a policy ...), from a JSON parse shared by the process. Every backend still gets its
own policy objects (attachment counts, versions and ids are per account), so accounts and
resets stay isolated exactly as before; only *when* the work is done changes.
"""

from __future__ import annotations

import json
import threading
from typing import Any

__all__ = ["install", "managed_policies_loaded"]

_AWS_KEY = "_harness_aws_managed_policies"
_MANAGED_KEY = "_harness_managed_policies"
_LAZY = object()  # "not built yet": what the patched _init_* methods return
_lock = threading.Lock()
_build_lock = threading.Lock()  # one build per backend when threads race for it
_installed = False
_parsed: list[tuple[str, dict[str, Any], str]] | None = None  # (name, data, document JSON)


def install() -> None:
    """Patch moto's IAMBackend (idempotent, process-wide; moto's state is process-global)."""
    global _installed
    with _lock:
        if _installed:
            return
        from moto.iam import models

        backend = models.IAMBackend
        original_init_aws = backend._init_aws_policies

        def init_lazily(self: Any) -> Any:
            return _LAZY

        def build(self: Any) -> None:
            # Same condition as moto's own _init_aws_policies (settings or environment).
            if not models.load_iam_aws_managed_policies():
                policies = original_init_aws(self)  # [] when off
            else:
                policies = [
                    models.AWSManagedPolicy(  # type: ignore[abstract]  # moto's CloudFormation mixin's abstract hooks; moto builds these objects the same way
                        name, account_id=self.account_id, region=self.region_name,
                        default_version_id=data.get("DefaultVersionId"), path=data.get("Path"),
                        document=document, create_date=_date(data["CreateDate"]),
                        update_date=_date(data["UpdateDate"]),
                    )  # fmt: skip
                    for name, data, document in _parsed_policies(models.aws_managed_policies_data)
                ]
            self.__dict__[_AWS_KEY] = policies
            if self.__dict__.get(_MANAGED_KEY, _LAZY) is _LAZY:
                self.__dict__[_MANAGED_KEY] = {p.arn: p for p in policies}

        def lazy_attribute(key: str) -> property:
            def get(self: Any) -> Any:
                if self.__dict__.get(key, _LAZY) is _LAZY:
                    with _build_lock:
                        if self.__dict__.get(key, _LAZY) is _LAZY:
                            build(self)
                return self.__dict__[key]

            def set_(self: Any, value: Any) -> None:
                self.__dict__[key] = value

            return property(get, set_)

        patches = {  # moto's class, patched for the process (a table: no per-line ignores)
            "_init_aws_policies": init_lazily,
            "_init_managed_policies": init_lazily,
            "aws_managed_policies": lazy_attribute(_AWS_KEY),
            "managed_policies": lazy_attribute(_MANAGED_KEY),
        }
        for name, value in patches.items():
            setattr(backend, name, value)
        _installed = True


def managed_policies_loaded(iam_backend: Any) -> bool:
    """Whether this IAM backend has built its managed policies yet (for tests; moto without
    `install()` builds them in the backend's constructor)."""
    state = iam_backend.__dict__
    return state.get(_AWS_KEY, state.get("aws_managed_policies", _LAZY)) is not _LAZY


def _date(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text)


def _parsed_policies(raw: str) -> list[tuple[str, dict[str, Any], str]]:
    """moto's policy data, parsed once per process; each document serialised as moto does."""
    global _parsed
    if _parsed is None:
        _parsed = [(name, data, json.dumps(data.get("Document")))
                   for name, data in json.loads(raw).items()]  # fmt: skip
    return _parsed

"""Bootstrap actions, run as EMR's script-runner runs them on a node.

Each `ScriptBootstrapAction` runs in order while its cluster is BOOTSTRAPPING: the script at
`Path` (`s3://` objects are downloaded from the emulated S3; a local absolute path or
`file:/...` is used as is) is made executable and run with its `Args` from a node-like
folder of its own, `<workdir>/nodes/<cluster-id>/<instance-id>/bootstrap-actions/<n>/`
(the script is copied there, as EMR puts it in `/mnt/var/lib/bootstrap-actions/<n>/`). The
environment is the one steps get (offline: the emulator's endpoint, dummy credentials, the
harness's Python and `aws` first on PATH) plus `HOME` in the node's folder (`home/hadoop`).

The first action that exits non-zero stops the rest; its stdout/stderr stay in
`<workdir>/logs/<cluster-id>/node/<instance-id>/bootstrap-actions/<n>/` and, with a LogUri,
go gzipped to `<LogUri>/<cluster-id>/node/<instance-id>/bootstrap-actions/<n>/`.

What a bootstrap action cannot do here: change the machine (`sudo`, `yum`/`dnf` installs,
writes under `/usr/lib` or `/etc`), install into the cluster's Python (`pip install` goes to
the harness's interpreter unless it uses `--user`, which lands in the node's HOME), start
daemons that steps rely on (nothing is kept between the action and the steps except files),
or see per-node differences: one "master" node runs every action once.
"""

from __future__ import annotations

import gzip
import logging
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.emr.executors import SubprocessExecutor
from harness.emr.logs import tail
from harness.emr.node_cli import local_node_tools
from harness.emr.node_commands import node_env
from harness.emr.steps import S3Uri, plain_configurations
from harness.transfer import transfer_config

__all__ = ["BootstrapFailure", "BootstrapRunner", "bootstrap_log_prefix", "master_instance_id"]


@dataclass(frozen=True)
class BootstrapFailure:
    index: int  # 1-based, as EMR numbers them
    name: str
    path: str
    exit_code: int
    message: str


def master_instance_id(cluster: Any) -> str:
    """The EC2 id of the cluster's master instance in moto (a stable stand-in if moto made
    none, e.g. for an `InstanceCount`-only request)."""
    for inst in getattr(cluster, "ec2_instances", []):
        if getattr(inst.instance_group, "role", None) == "MASTER":
            return str(inst.ec2_instance_id)
    return "i-" + cluster.id.split("-", 1)[-1].lower()[:17]


def bootstrap_log_prefix(log_uri: str, cluster_id: str, instance_id: str, index: int) -> S3Uri:
    base = S3Uri.parse(log_uri.replace("s3n://", "s3://").replace("s3a://", "s3://"))
    return S3Uri(
        base.bucket, f"{base.prefix}{cluster_id}/node/{instance_id}/bootstrap-actions/{index}/"
    )


class BootstrapRunner:
    def __init__(self, *, s3client: Any, base_env: dict[str, str], step_env: dict[str, str],
                 executor: SubprocessExecutor | None = None) -> None:  # fmt: skip
        self._s3client = s3client
        self.base_env = base_env
        self.step_env = step_env
        # Always a local process: a custom step executor (warm Spark) is for steps only.
        self.executor = executor or SubprocessExecutor()

    def run_all(self, cluster: Any, *, workdir: Path, logs_root: Path,
                cancel: threading.Event) -> BootstrapFailure | None:  # fmt: skip
        """Run every bootstrap action of moto's `cluster` in order; the first failure, or
        None. Stops early (returning None) once `cancel` is set."""
        instance = master_instance_id(cluster)
        node = workdir / "nodes" / cluster.id / instance
        home = node / "home" / "hadoop"
        for n, action in enumerate(cluster.bootstrap_actions, start=1):
            if cancel.is_set():
                return None
            run_dir = node / "bootstrap-actions" / str(n)
            log_dir = logs_root / cluster.id / "node" / instance / "bootstrap-actions" / str(n)
            for d in (run_dir, log_dir, home):
                d.mkdir(parents=True, exist_ok=True)
            stdout, stderr = log_dir / "stdout", log_dir / "stderr"
            stdout.touch()
            stderr.touch()
            path = action.script_path or ""
            try:
                script = self._fetch(path, run_dir)
                argv = [str(script), *[str(a) for a in action.args]]
                rc = self.executor.run(argv, self._env(home, cluster, node), run_dir, stdout,
                                       stderr, cancel)
            except Exception as exc:  # a script that cannot be fetched fails the action
                with stderr.open("a", encoding="utf-8") as err:
                    err.write(f"{type(exc).__name__}: {exc}\n")
                rc = 1
            self._upload(cluster, instance, n, log_dir)
            if cancel.is_set():
                return None
            if rc != 0:
                last = tail(stderr, 5).strip().splitlines()
                return BootstrapFailure(
                    index=n,
                    name=action.name,
                    path=path,
                    exit_code=rc,
                    message=(
                        f"On the master instance ({instance}), bootstrap action {n} returned a "
                        f"non-zero return code: {action.name!r} ({path}) exited with code {rc}"
                        + (f"; stderr: {last[-1]}" if last else "")
                    ),
                )
        return None

    def _fetch(self, path: str, run_dir: Path) -> Path:
        if path.startswith(("s3://", "s3n://", "s3a://")):
            uri = S3Uri.parse(path.replace("s3n://", "s3://").replace("s3a://", "s3://"))
            local = run_dir / (Path(uri.key).name or "bootstrap-action")
            self._s3client().download_file(uri.bucket, uri.key, str(local),
                                            Config=transfer_config())
        else:
            source = Path(path[len("file:"):] if path.startswith("file:") else path)
            if not source.is_absolute() or not source.is_file():
                raise FileNotFoundError(
                    f"bootstrap action script {path!r} not found: use an s3:// URI in the "
                    "emulated S3, or an absolute path to a local file"
                )
            local = run_dir / source.name
            local.write_bytes(source.read_bytes())
        local.chmod(local.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return local

    def _env(self, home: Path, cluster: Any, node: Path) -> dict[str, str]:
        """The steps' environment, the node's commands (hadoop fs, aws, spark-submit ... as
        a step has them) and HOME in the node's folder."""
        env = dict(self.base_env)
        env.update(self.step_env)
        env["HOME"] = str(home)
        return node_env(env, local_node_tools(),
                        configurations=plain_configurations(cluster.configurations),
                        workdir=node / "node-commands")  # fmt: skip

    def _upload(self, cluster: Any, instance: str, n: int, log_dir: Path) -> None:
        if not cluster.log_uri:
            return
        prefix = bootstrap_log_prefix(cluster.log_uri, cluster.id, instance, n)
        try:
            for name in ("stdout", "stderr"):
                self._s3client().put_object(
                    Bucket=prefix.bucket,
                    Key=f"{prefix.key}{name}.gz",
                    Body=gzip.compress((log_dir / name).read_bytes()),
                )
        except Exception as exc:  # a missing log bucket must not hide the action's result
            logging.getLogger("harness.emr").warning(
                "could not upload bootstrap logs of %s to %s: %s", cluster.id, cluster.log_uri, exc
            )

"""harness.offline_run's pure parts (the run itself is tested in tests/integration/cli)."""

from __future__ import annotations

import threading
from pathlib import Path

from harness.offline_run import default_workdir


def test_runs_started_in_the_same_second_get_their_own_workdir(tmp_path: Path) -> None:
    # 16 threads asking at once: at most a second or two of stamps, so names collide and
    # each run must still get a folder of its own, created empty.
    got: list[Path] = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def one() -> None:
        start.wait()
        path = default_workdir(tmp_path)
        with lock:
            got.append(path)

    threads = [threading.Thread(target=one) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 16
    assert all(p.is_dir() and p.parent == tmp_path and not any(p.iterdir()) for p in got)
    assert any("-" in p.name.split("-", 1)[1] for p in got), "no name collided: nothing tested"


def test_the_default_workdir_is_under_dot_harness_runs(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = default_workdir()
    assert path.parent == Path(".harness", "runs") and path.is_dir()

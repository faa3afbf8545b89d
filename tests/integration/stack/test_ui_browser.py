"""The learner's path in a real browser: log in, open pipeline_emr, trigger it, watch the run
succeed in the UI, read aguardar_step_spark's log (the step id is there), screenshot the grid.

Debian's Chromium driven by Playwright for Python (`executable_path`; Playwright's own browser
download is not used). Skipped, with the reason, when no Chromium is installed. The screenshot
is a test artifact: `$HARNESS_ARTIFACTS_DIR` (default `.harness/artifacts`)/pipeline_emr-grid.png.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote

import pytest

from .conftest import ROOT, RunningStack

pytestmark = pytest.mark.stack

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"]
RUN_TIMEOUT_S = 600
ARTIFACTS = Path(os.environ.get("HARNESS_ARTIFACTS_DIR") or ROOT / ".harness" / "artifacts")


@pytest.fixture
def page():
    if not os.path.exists(CHROMIUM):
        pytest.skip("no Chromium installed (apt-get install chromium; .ci/run does it)")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (dependency group stack)")
    with sync_api.sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 900})
        context.set_default_timeout(60_000)
        try:
            yield context.new_page()
        finally:
            context.close()


def _run_state(page) -> str | None:
    """The run's state as the run page's header shows it (its state badge), lower-case."""
    badge = page.get_by_test_id("header-card").get_by_test_id("state-badge")
    if not badge.count():
        return None
    return badge.first.inner_text().strip().lower() or None


def test_trigger_pipeline_in_the_ui(stack: RunningStack, page) -> None:
    login = stack.status
    page.goto(stack.url)
    page.get_by_label("Username").fill(login["username"])
    page.get_by_label("Password").fill(login["password"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)

    page.goto(f"{stack.url}/dags/pipeline_emr")
    page.get_by_role("button", name="Trigger Dag").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Trigger", exact=True).click()
    # The UI opens the new run's page.
    page.wait_for_url(re.compile(r"/dags/pipeline_emr/runs/[^/]+$"))
    run_id = unquote(page.url.rsplit("/runs/", 1)[1])
    started = time.monotonic()

    # Wait for the run page to show a final state. The page refreshes itself while the run is
    # active; reloading on each poll keeps this independent of its refresh interval.
    run_link = f"{stack.url}/dags/pipeline_emr/runs/{page.url.rsplit('/runs/', 1)[1]}"
    deadline = started + RUN_TIMEOUT_S
    seen: list[str | None] = []
    state = None
    while time.monotonic() < deadline:
        state = _run_state(page)
        if not seen or seen[-1] != state:
            seen.append(state)
        if state in ("success", "failed"):
            break
        page.wait_for_timeout(2000)
        page.goto(run_link)
        page.get_by_test_id("header-card").wait_for()
    duration = time.monotonic() - started
    api_state = stack.api.run("pipeline_emr", run_id)["state"]
    assert state == "success" and api_state == "success", (
        f"the UI showed {seen} for run {run_id} (API: {api_state}) after {duration:.0f} s; "
        f"tasks: {stack.api.task_states('pipeline_emr', run_id)}")
    print(f"\nrun {run_id} succeeded in the UI after {duration:.1f} s")

    # The step sensor's log names the step it waited for: the id adicionar_steps_spark returned.
    page.goto(f"{run_link}/tasks/aguardar_step_spark")
    step_ids = stack.api.xcom("pipeline_emr", run_id, "adicionar_steps_spark")
    assert step_ids and re.fullmatch(r"s-[A-Z0-9]+", step_ids[0]), step_ids
    # The sensor's own log line, e.g. "Poking step s-... on cluster j-...".
    page.get_by_text(re.compile(rf"Poking step {re.escape(step_ids[0])}")).first.wait_for()

    # The grid, as the learner sees it, kept as an artifact.
    page.goto(f"{stack.url}/dags/pipeline_emr")
    page.get_by_test_id(f"grid-{run_id}-aguardar_step_spark").wait_for()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "pipeline_emr-grid.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0
    print(f"grid screenshot: {shot}")

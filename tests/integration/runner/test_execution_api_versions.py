"""The in-process Execution API is built for the task SDK's API version only
(``harness.airflow.in_process.sdk_api_version_only``), and serves that version as Airflow's own
build does; any other SDK version keeps Airflow's whole bundle.

Run in a fresh interpreter with a throw-away Airflow home: Airflow reads its configuration once
per process, and the versions module is patched while the app is built.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

PROBE = textwrap.dedent(
    '''
    import json, os, sys

    from harness.airflow import home as airflow_home

    os.environ.update(airflow_home.airflow_env(sys.argv[1], sys.argv[1]))

    import httpx
    from airflow.api_fastapi.execution_api import routes, versions
    from airflow.api_fastapi.execution_api.app import InProcessExecutionAPI
    from airflow.sdk.api.datamodels import _generated
    from harness.airflow.in_process import sdk_api_version_only

    def build():
        api = InProcessExecutionAPI()
        client = httpx.Client(transport=api.transport, base_url="http://in-process.invalid./",
                              headers={"airflow-api-version": _generated.API_VERSION})
        status = client.get("health/ping").status_code  # Cadwyn builds its routers now
        routers = api.app.router.versioned_routers
        mine = routers[_generated.API_VERSION].routes
        return status, sorted(routers), sorted(
            [r.path, sorted(r.methods or []), repr(getattr(r, "response_model", None))]
            for r in mine)

    full_bundle, full_router = versions.bundle, routes.execution_api_router
    with sdk_api_version_only() as kept:
        trimmed = build()
    restored = versions.bundle is full_bundle and routes.execution_api_router is full_router
    full = build()
    # An SDK that speaks an older version than the core's newest: Airflow's bundle is kept.
    _generated.API_VERSION = full_bundle.versions[1].value
    with sdk_api_version_only() as kept_older:
        untouched = versions.bundle is full_bundle
    print(json.dumps({"kept": kept, "trimmed": trimmed, "full": full, "restored": restored,
                      "kept_older": kept_older, "untouched": untouched,
                      "sdk": full_bundle.versions[0].value}))
    '''
)


def test_the_execution_api_is_built_for_the_sdk_version_only_and_serves_it_the_same(tmp_path):
    proc = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    sdk = got["sdk"]
    assert got["kept"] == sdk
    t_status, t_versions, t_routes = got["trimmed"]
    f_status, f_versions, f_routes = got["full"]
    assert (t_status, f_status) == (200, 200)
    assert t_versions == [sdk]
    assert len(f_versions) > 1 and sdk in f_versions  # Airflow's own build has them all
    # The same routes (paths, methods, response models) for the version the SDK speaks;
    # reprs hold object addresses of validators, so compare without them.
    strip = [[p, m, r.split(" at 0x")[0]] for p, m, r in t_routes]
    assert strip == [[p, m, r.split(" at 0x")[0]] for p, m, r in f_routes]
    assert got["restored"] is True
    assert got["kept_older"] is None and got["untouched"] is True

"""A small client for the stack's Airflow REST API (v2): login, trigger, wait, task states, logs.

Standard library only (urllib), so the stack's ready checks and the scenario tests use the same
calls a user's script would. Imports no Airflow.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

__all__ = ["AirflowApi", "ApiError", "RunTimeout"]

TERMINAL_RUN_STATES = {"success", "failed"}


class ApiError(RuntimeError):
    """An API call failed (carries the method, path, status and body)."""


class RunTimeout(TimeoutError):
    """A DAG run did not finish in time (carries its last state and task states)."""


@dataclass
class AirflowApi:
    url: str
    username: str
    password: str
    timeout: float = 30.0
    _token: str | None = None

    # -- plumbing --------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: Any = None, *, auth: bool = True,
                 raw: bool = False) -> Any:  # fmt: skip
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                payload = resp.read()
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")[:2000]
            raise ApiError(f"{method} {path} -> HTTP {e.code}: {detail}") from None
        if raw:
            return payload.decode(errors="replace")
        return json.loads(payload) if payload else None

    def token(self) -> str:
        if self._token is None:
            reply = self._request("POST", "/auth/token",
                                  {"username": self.username, "password": self.password},
                                  auth=False)
            self._token = reply["access_token"]
        return self._token

    # -- calls -----------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self._request("GET", "/api/v2/monitor/health", auth=False)

    def dag(self, dag_id: str) -> dict[str, Any]:
        return self._request("GET", f"/api/v2/dags/{dag_id}")

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        reply = self._request("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                              {"logical_date": None, "conf": conf or {}})
        return reply["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}")

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        reply = self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances")
        return {ti["task_id"]: ti for ti in reply["task_instances"]}

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        return {t: ti["state"] for t, ti in self.task_instances(dag_id, run_id).items()}

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        path = (f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances/{task_id}/"
                f"xcomEntries/{key}?deserialize=true")
        return self._request("GET", path)["value"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        path = (f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances/{task_id}/logs/"
                f"{try_number}?full_content=true")
        reply = self._request("GET", path)
        content = reply.get("content") if isinstance(reply, dict) else reply
        if isinstance(content, list):  # structured log lines
            return "\n".join(
                json.dumps(line) if not isinstance(line, str) else line for line in content)
        return str(content)

    def wait_run(self, dag_id: str, run_id: str, *, timeout: float = 600.0,
                 interval: float = 1.0) -> dict[str, Any]:  # fmt: skip
        """Poll the run until it is success/failed; RunTimeout (with task states) otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(dag_id, run_id)
            if run["state"] in TERMINAL_RUN_STATES:
                return run
            if time.monotonic() >= deadline:
                raise RunTimeout(
                    f"run {run_id} of {dag_id} still {run['state']!r} after {timeout:.0f} s; "
                    f"tasks: {self.task_states(dag_id, run_id)}")
            time.sleep(interval)


def _q(text: str) -> str:
    return urllib.parse.quote(text, safe="")

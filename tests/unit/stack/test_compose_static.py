"""Static checks of the compose files and the Dockerfile (no Docker needed; always run).

- both compose files validate against the Compose specification's JSON schema (the copy
  check-jsonschema ships as `vendor.compose-spec`), and the check does reject a broken file;
- every variable they interpolate has a default or is listed in .env.example;
- the Dockerfile's Airflow version (and the image tag) match apache-airflow in uv.lock;
- every compose service the README and docs/stack.md name exists;
- with a Docker engine: `docker compose config` and `up` (marked `docker`, skipped otherwise).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILES = [ROOT / "docker-compose.yml", ROOT / "docker-compose.localstack.yml"]
#: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}; `$$` escapes.
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?([-?+]))?")


def _check_jsonschema(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
         *map(str, files)], capture_output=True, text=True, check=False, timeout=120)


def test_compose_files_follow_the_compose_specification() -> None:
    result = _check_jsonschema(*COMPOSE_FILES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_compose_file(tmp_path: Path) -> None:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    data["services"]["postgres"]["restart_policy"] = "always"  # not a Compose key
    data["services"]["airflow-apiserver"]["ports"] = "8080:8080"  # must be a list
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(data))
    result = _check_jsonschema(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "restart_policy" in result.stdout + result.stderr


def _env_example() -> set[str]:
    names = set()
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            names.add(line.split("=", 1)[0].strip())
    return names


def _variables(text: str) -> dict[str, bool]:
    """Variable name -> has a default (`:-`/`-`) somewhere it is used."""
    out: dict[str, bool] = {}
    for name, op in INTERPOLATION.findall(text):
        out[name] = out.get(name, False) or op == "-"
    return out


def test_interpolation_pattern() -> None:
    assert _variables("a: ${A:-x} b: ${B:?set B} c: $${C} d: ${D}") == {
        "A": True, "B": False, "D": False}


@pytest.mark.parametrize("compose", COMPOSE_FILES, ids=lambda p: p.name)
def test_every_variable_has_a_default_or_is_in_env_example(compose: Path) -> None:
    listed = _env_example()
    missing = sorted(name for name, has_default in _variables(compose.read_text()).items()
                     if not has_default and name not in listed)
    assert not missing, f"{compose.name} uses {missing} with no default; add them to .env.example"


def _locked_version(package: str) -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    versions = {p["version"] for p in lock["package"] if p["name"] == package}
    assert len(versions) == 1, versions
    return versions.pop()


def test_dockerfile_airflow_version_matches_the_lock() -> None:
    locked = _locked_version("apache-airflow")
    dockerfile = (ROOT / "Dockerfile").read_text()
    match = re.search(r"^ARG AIRFLOW_VERSION=(\S+)$", dockerfile, re.MULTILINE)
    assert match, "Dockerfile has no ARG AIRFLOW_VERSION=..."
    assert match.group(1) == locked
    assert "FROM apache/airflow:${AIRFLOW_VERSION}-" in dockerfile
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["x-airflow-common"]["image"].endswith(f":{locked}")


def _services() -> set[str]:
    names: set[str] = set()
    for path in COMPOSE_FILES:
        names |= set(yaml.safe_load(path.read_text())["services"])
    return names


def _named_services(text: str) -> set[str]:
    """Service names a document gives: the targets of `docker compose ... up|run|logs X`, and
    the first cell of each row of a table headed `| service |` (docs/stack.md)."""
    names: set[str] = set()
    in_table = False
    for line in text.splitlines():
        if line.startswith("| service |"):
            in_table = True
        elif in_table and line.startswith("|"):
            cell = line.split("|")[1].strip()
            if cell.startswith("`"):
                names.add(cell.strip("`"))
        else:
            in_table = False
    for command in re.findall(r"docker compose[^\n`#]*", text):
        m = re.search(r"\b(?:up|run|logs|restart|exec)\s+((?:[a-z][a-z0-9-]*\s*)+)$",
                      command.strip())
        if m:
            names |= set(m.group(1).split())
    return names


def test_named_services_parsing() -> None:
    doc = ("| service | what |\n|---|---|\n| `postgres` | db |\n\ntext `other`\n"
           "    docker compose up airflow-init       # once\n")
    assert _named_services(doc) == {"postgres", "airflow-init"}


def test_services_named_in_the_docs_exist() -> None:
    docs = [ROOT / "README.md", ROOT / "docs" / "stack.md"]
    named = set()
    for doc in docs:
        if doc.exists():
            named |= _named_services(doc.read_text())
    assert len(named) >= 6, f"the docs name too few compose services: {named}"
    assert named <= _services(), f"named but not defined: {sorted(named - _services())}"


def _docker_engine() -> str | None:
    """None when a Docker engine with the compose plugin answers, else the reason."""
    if shutil.which("docker") is None:
        return "no docker CLI"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60,
                          check=False)
    if info.returncode != 0:
        return f"no Docker engine answers: {(info.stderr or info.stdout).strip()[:200]}"
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True,
                            timeout=60, check=False)
    if plugin.returncode != 0:
        return f"no docker compose plugin: {(plugin.stderr or plugin.stdout).strip()[:200]}"
    return None


@pytest.mark.docker
def test_docker_compose_config_and_up(tmp_path: Path) -> None:
    reason = _docker_engine()
    if reason:
        pytest.skip(reason)
    env = tmp_path / ".env"
    env.write_text((ROOT / ".env.example").read_text())
    base = ["docker", "compose", "--env-file", str(env), "-f", str(COMPOSE_FILES[0]),
            "-f", str(COMPOSE_FILES[1]), "-p", "airflowemrtest"]
    config = subprocess.run([*base, "config", "--quiet"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, check=False)
    assert config.returncode == 0, config.stderr
    try:
        up = subprocess.run([*base, "up", "--build", "--wait", "--wait-timeout", "900",
                             "airflow-apiserver"], cwd=ROOT, capture_output=True, text=True,
                            timeout=1800, check=False)
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    finally:
        subprocess.run([*base, "down", "-v", "--remove-orphans"], cwd=ROOT,
                       capture_output=True, timeout=600, check=False)

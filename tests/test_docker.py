"""The image builds what pyproject packages, with the server extra, and the compose file is
valid and runs production nodes (Docker does not run here: `compose config` needs no daemon)."""

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_dockerfile_copies_every_package_and_installs_the_server():
    dockerfile = (ROOT / "Dockerfile").read_text()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    ]
    copied = set(re.findall(r"^COPY (\w+) \1$", dockerfile, re.MULTILINE))
    assert copied == set(packages)
    assert re.search(r'^RUN pip install .*-c constraints.txt "\.\[server\]"$', dockerfile, re.M)


def _compose() -> list[str] | None:
    """The compose command here: Docker's plugin, or the standalone docker-compose."""
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def test_the_compose_file_is_valid_and_runs_production_nodes():
    compose = _compose()
    if compose is None:
        assert os.environ.get("CI") != "true", "CI installs docker-compose (.ci/run)"
        pytest.skip("no docker compose here")
    resolved = subprocess.run(
        [*compose, "config"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    services = subprocess.run(
        [*compose, "config", "--services"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert set(services) == {"postgres", "init", "api1", "api2", "witness", "grader"}
    assert resolved.count("CARBON_LEDGER_PRODUCTION: '1'") == 3  # init and both nodes
    assert resolved.count("/founders") >= 2 and "/founders:ro" in resolved
    nodes = re.findall(r"^  api[12]:\n(?:    .*\n|\n)*", resolved, re.M)
    assert len(nodes) == 2
    for node in nodes:
        assert "/founders" not in node and "serve --data /data" in node and "/readyz" in node

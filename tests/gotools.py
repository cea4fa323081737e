"""The Go tools under tests/interop/<name>/main.go, built for the interoperability tests.

They use golang.org/x/mod/sumdb/note and .../tlog from the Debian packages golang-go and
golang-golang-x-mod-dev (GOPATH mode, no module download). Without them the tests that need a
tool skip, except in CI (CI=true), where they fail.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

GOPATH = Path("/usr/share/gocode")
X_MOD_SUMDB = GOPATH / "src" / "golang.org" / "x" / "mod" / "sumdb"
X_MOD_PACKAGES = ("note", "tlog")  # what the tools import
INTEROP = Path(__file__).resolve().parent / "interop"


def build_tool(name: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build tests/interop/<name>/main.go in a fresh tmp dir; return the executable's path."""
    compiler = shutil.which("go")
    if compiler is None or not all((X_MOD_SUMDB / p).is_dir() for p in X_MOD_PACKAGES):
        reason = (
            "Go and golang.org/x/mod are needed for the interoperability tests "
            "(apt-get install golang-go golang-golang-x-mod-dev)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; they must not be skipped in CI", pytrace=False)
        pytest.skip(reason)
    work = tmp_path_factory.mktemp(name)
    shutil.copy(INTEROP / name / "main.go", work / "main.go")
    env = {
        **os.environ,
        "GOPATH": str(GOPATH),
        "GO111MODULE": "off",
        "GOCACHE": str(work / "cache"),
        "GOFLAGS": "",
    }
    build = subprocess.run(
        [compiler, "build", "-o", name, "main.go"], cwd=work, env=env, capture_output=True
    )
    assert build.returncode == 0, build.stderr.decode()
    return work / name


def run_json(tool: Path, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Run a tool that reads one JSON object and writes its verdicts as JSON.

    Returns the exit status, 0 (every verdict ok) or 1 (some not), and the verdicts.
    """
    result = subprocess.run([tool], input=json.dumps(request).encode(), capture_output=True)
    assert result.returncode in (0, 1), result.stderr.decode()
    return result.returncode, json.loads(result.stdout)

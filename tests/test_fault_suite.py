"""The fault suite (tests/faults.py) on both backends: nothing lost, duplicated or 500."""

import os
from pathlib import Path

import pytest

from tests.conftest import IN_CI, _postgres_reachable
from tests.faults import run_suite


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_faults_lose_nothing(backend: str, tmp_path: Path) -> None:
    if os.geteuid() != 0 and not IN_CI:
        pytest.skip("the fault suite mounts a tmpfs and restarts PostgreSQL: run it as root")
    if backend == "postgres" and not _postgres_reachable():
        pytest.fail("PostgreSQL is not reachable")
    figures = run_suite(backend, tmp_path, pause=1.5)
    assert figures["faults"] == 5
    assert figures["lost"] == figures["duplicated"] == figures["wrong balances"] == 0
    assert figures["500s"] == figures["500s logged by serve"] == 0
    assert figures["orphans"] == 0
    assert figures["dense"] and figures["export verifies"]
    assert figures["entries"] > 0 and figures["log size"] >= figures["entries"]
    assert all(seconds < 30 for seconds in figures["recovery seconds"].values())

"""The read models from a streaming replica: a second local PostgreSQL cluster made with
pg_basebackup from the test server, the read API's views on it, writes on the primary.

Needs root (to run the replica as the postgres user) and the primary to accept replication
connections from 127.0.0.1 (.ci/run adds that line to pg_hba.conf)."""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.node import open_node
from ledger.settings import READ_PORT_ENV, Settings
from projections.runner import run_projections
from tests.conftest import PG
from tests.serving import free_port
from tests.support import pid, register, signed
from tools.init import initialise

pytestmark = pytest.mark.slow
BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), default=Path("/nonexistent"))


def _as_postgres(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["su", "postgres", "-c", " ".join(command)], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def replica_port() -> Iterator[int]:
    if os.geteuid() != 0 or not BIN.exists():
        assert os.environ.get("CI") != "true", "CI runs as root with Debian's PostgreSQL"
        pytest.skip("a replica needs root and PostgreSQL's server binaries")
    root = Path(tempfile.mkdtemp(prefix="replica-"))
    shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", free_port()
    made = _as_postgres(
        "pg_basebackup", "-h", PG["host"], "-p", str(PG["port"]), "-U", "postgres",
        "-D", str(data), "-R", "-X", "stream", "-c", "fast",
    )  # fmt: skip
    assert made.returncode == 0, f"pg_basebackup (pg_hba.conf allows replication?): {made.stderr}"
    (data / "postgresql.conf").write_text(
        f"port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{root}'\n"
        "hot_standby = on\n"
    )
    (data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    for name in ("postgresql.conf", "pg_hba.conf"):
        shutil.chown(data / name, "postgres", "postgres")
    log = root / "log"
    started = _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "start")
    assert started.returncode == 0, started.stderr
    try:
        yield port
    finally:
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


def test_read_models_come_from_the_replica(tmp_path, postgres_storage, replica_port):
    environ = {READ_PORT_ENV: str(replica_port)}
    settings = Settings.build(tmp_path / "data", postgres_storage, (), environ)
    assert settings.read_storage is not None
    initialise(settings)
    node = open_node(settings)
    try:
        app = create_app(node, node.run_integrator, partial(run_projections, node))
        with TestClient(app) as client:
            views = app.state.views
            assert views.store is not node.store
            assert views.store.settings["POSTGRES_PORT"] == str(replica_port)
            with psycopg.connect(host="127.0.0.1", port=replica_port, user="postgres",
                                 dbname=PG["dbname"]) as standby:  # fmt: skip
                assert standby.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
            bank = register(node, "bank.abc", ["bank"])
            wire = signed(bank, f"per:abc:{pid('p1')}", "AccountOpened", {})
            assert client.post("/v1/submissions", json=wire).status_code == 201
            behaviour = {
                "behaviour": "online_transfer",
                "count": 2,
                "on": "2026-11-20",
                "ref": "t1",
            }
            wire = signed(bank, f"per:abc:{pid('p1')}", "GreenBehaviourRecorded", behaviour)
            receipt = client.post("/v1/submissions?wait=true", json=wire).json()
            assert "index" in receipt, receipt
            totals = client.get(f"/v1/city/totals?after={receipt['index']}")
            assert totals.status_code == 200, totals.text
            personal = totals.json()["personal"]
            assert personal["accounts"] >= 1 and personal["issued"] > 0, personal
            assert views.position() >= 1  # the replica's own copy of the views
    finally:
        node.close()

"""The README's backup drill: pg_dump of a running ledger's schema, restored into a scratch
database, exported from there and audited offline with `carbon-ledger verify`."""

import shutil
import subprocess
import uuid

import psycopg
import pytest

from tests.conftest import PG, opened_node
from tests.files import run_cli
from tests.support import integrate_all, pid, register, signed

pytestmark = pytest.mark.slow


@pytest.fixture
def node(tmp_path, postgres_storage):
    yield from opened_node(tmp_path / "data", postgres_storage)


def test_a_restored_dump_verifies(tmp_path, node, postgres_storage):
    if shutil.which("pg_dump") is None:
        pytest.fail("pg_dump is missing (Debian's postgresql-client)")
    bank = register(node, "bank.abc", ["bank"])
    for i in range(5):
        node.ledger.submit(signed(bank, f"per:abc:{pid(f'p{i}')}", "AccountOpened", {}))
    integrate_all(node)
    schema = postgres_storage["POSTGRES_SCHEMA"]
    dump = tmp_path / "ledger.sql"
    dumped = subprocess.run(
        ["pg_dump", "-h", PG["host"], "-U", PG["user"], "-d", PG["dbname"], "-n", schema,
         "-f", str(dump)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert dumped.returncode == 0, dumped.stderr
    scratch = f"restore_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(**PG, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {scratch}")
    try:
        restored = subprocess.run(
            ["psql", "-h", PG["host"], "-U", PG["user"], "-d", scratch, "-v", "ON_ERROR_STOP=1",
             "-q", "-f", str(dump)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert restored.returncode == 0, restored.stderr
        bundle = tmp_path / "all.jsonl"
        exported = run_cli(
            "export", "--all", "--out", str(bundle), "--data", str(node.data_dir),
            env={**postgres_storage, "POSTGRES_DBNAME": scratch, "PATH": "/usr/bin:/bin"},
            text=True,
        )  # fmt: skip
        assert exported.returncode == 0, exported.stderr
        checked = run_cli("verify", str(bundle), "--log-key", node.ledger_key.verifier.text)
        assert checked.returncode == 0 and checked.stdout.startswith(
            f"OK {node.reader.size()} entries".encode()
        ), checked.stdout
    finally:
        with psycopg.connect(**PG, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE {scratch} WITH (FORCE)")

"""Storage: the backend is chosen in ledger/storage/ only, and the private eventsourcing and
psycopg_pool methods it overrides still exist with the behaviour relied on."""

import ast
import inspect
from importlib.metadata import version
from pathlib import Path

from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg_pool import ConnectionPool

from ledger.storage.factory import backend, storage_env
from ledger.storage.postgres import LedgerPostgresRecorder, Postgres
from ledger.storage.sqlite import LedgerSQLiteRecorder, SQLite

ROOT = Path(__file__).resolve().parent.parent
# (psycopg outside storage: only its error classes, in ledger/faults.py, and tools' extras check)
BACKEND_NAMES = {"eventsourcing.postgres", "eventsourcing.sqlite"}


def test_eventsourcing_is_the_version_the_overrides_were_written_for():
    assert version("eventsourcing").startswith("9.5."), version("eventsourcing")


def _parameters(method):
    return [(p.name, p.kind) for p in inspect.signature(method).parameters.values()]


def test_the_private_insert_steps_exist_with_the_signatures_overridden():
    """eventsourcing calls these inside the save's transaction, on its cursor, with
    insert_events' keyword arguments (claims, system_versions)."""
    cursor_events_kwargs = [
        ("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        ("stored_events", inspect.Parameter.POSITIONAL_OR_KEYWORD),
    ]
    for library, name, ours in [
        (SQLiteApplicationRecorder, "_insert_events", LedgerSQLiteRecorder),
        (PostgresApplicationRecorder, "_insert_stored_events", LedgerPostgresRecorder),
        (PostgresApplicationRecorder, "_fetch_ids_after_insert_events", LedgerPostgresRecorder),
    ]:
        params = _parameters(getattr(library, name))
        assert params[0] == cursor_events_kwargs[0] and params[2] == cursor_events_kwargs[1]
        assert params[-1][1] is inspect.Parameter.VAR_KEYWORD, (library, name)
        assert name in vars(ours)
    # the insert passes its keyword arguments on to the steps we extend
    source = inspect.getsource(PostgresApplicationRecorder._insert_events)
    source += inspect.getsource(PostgresApplicationRecorder.insert_events)
    assert "_fetch_ids_after_insert_events" in inspect.getsource(PostgresApplicationRecorder)
    assert "**kwargs" in source
    assert "_insert_events(" in inspect.getsource(SQLiteApplicationRecorder.insert_events)
    # the Postgres insert we replace still takes the table lock and notifies
    library_insert = inspect.getsource(PostgresApplicationRecorder._insert_stored_events)
    assert "_lock_table" in library_insert and "_notify_channel" in library_insert


def test_the_pool_runs_its_pre_use_check_from_the_private_attribute():
    assert "self._check(conn)" in inspect.getsource(ConnectionPool._check_connection)
    assert "self._check = check" in inspect.getsource(ConnectionPool.__init__)


def test_the_factory_chooses_from_persistence_module(tmp_path):
    sqlite = storage_env(tmp_path, {}, {})
    assert sqlite["APPLICATION_RECORDER_TOPIC"] == "ledger.storage.sqlite:LedgerSQLiteRecorder"
    assert isinstance(backend(sqlite), SQLite)
    postgres = storage_env(tmp_path, {"PERSISTENCE_MODULE": "eventsourcing.postgres"}, {})
    assert postgres["APPLICATION_RECORDER_TOPIC"] == (
        "ledger.storage.postgres:LedgerPostgresRecorder"
    )
    assert isinstance(backend(postgres), Postgres)


def test_no_backend_is_named_outside_storage():
    wrong = []
    for package in ("ledger", "projections", "api", "tools"):
        for path in (ROOT / package).rglob("*.py"):
            if path.is_relative_to(ROOT / "ledger" / "storage"):
                continue
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module in BACKEND_NAMES:
                    wrong.append(f"{path.relative_to(ROOT)}: {node.module}")
                elif isinstance(node, ast.Import):
                    wrong += [
                        f"{path.relative_to(ROOT)}: {a.name}"
                        for a in node.names
                        if a.name in BACKEND_NAMES
                    ]
                elif isinstance(node, ast.Constant) and node.value in BACKEND_NAMES:
                    wrong.append(f"{path.relative_to(ROOT)}: {node.value!r}")
    assert not wrong, wrong

"""Settings come from flags and the environment, once; opening a node writes nothing."""

import pytest

from crypto.cosignature import generate_cosigner
from ledger.log.witnessing import parse_witness
from ledger.node import NotInitialised, open_node
from ledger.settings import Limits, Settings
from tests.conftest import postgres_schema
from tests.files import run_cli
from tests.support import SEED_ENTRIES, integrate_all, new_node


def _files(root):
    return sorted(p.relative_to(root) for p in root.rglob("*")) if root.exists() else []


def test_opening_an_empty_directory_writes_nothing(tmp_path):
    data = tmp_path / "data"
    with pytest.raises(NotInitialised, match="carbon-ledger init"):
        open_node(Settings.build(data, {}))
    assert _files(tmp_path) == []


def test_opening_a_database_without_a_ledger_is_refused(data_dir, storage, tmp_path):
    node = new_node(data_dir, storage)
    node.close()
    other = tmp_path / "other"
    (other / "keys").mkdir(parents=True)
    for key in (data_dir / "keys").iterdir():
        (other / "keys" / key.name).write_bytes(key.read_bytes())
    if not storage:  # SQLite: the other directory has keys but no database
        with pytest.raises(NotInitialised):
            open_node(Settings.build(other, storage))
        assert not (other / "ledger.sqlite").exists()
        return
    with postgres_schema() as empty, pytest.raises(NotInitialised):  # keys, no tables
        open_node(Settings.build(data_dir, empty))


def test_init_is_idempotent(data_dir, storage):
    first = new_node(data_dir, storage)
    first.close()
    again = new_node(data_dir, storage)
    try:
        integrate_all(again)
        assert again.reader.size() == SEED_ENTRIES
    finally:
        again.close()


def test_settings_travel_to_workers_as_one_json_value(tmp_path):
    witness = parse_witness(f"http://127.0.0.1:9/w={generate_cosigner('w.example').verifier.text}")
    environ = {
        "CARBON_LEDGER_CRYPTO_WORKERS": "3",
        "CARBON_LEDGER_BATCH_ITEMS": "200",
        "CARBON_LEDGER_WAIT_SECONDS": "4",
        "PATH": "/bin",
        "HOME": "/root",
    }
    settings = Settings.build(tmp_path, {}, [witness], environ, workers=2)
    assert settings.crypto_workers == 3 and not settings.postgres
    assert (settings.workers, settings.limits) == (2, Limits(batch_items=200, wait_seconds=4))
    assert "PATH" not in settings.storage  # only what the storage reads
    assert Settings.from_json(settings.to_json()) == settings


@pytest.mark.parametrize("text", ["0", "-1", "two", "²", "+2"])
@pytest.mark.parametrize(
    "name",
    ["CARBON_LEDGER_CRYPTO_WORKERS", "CARBON_LEDGER_BATCH_ITEMS", "CARBON_LEDGER_WAIT_SECONDS"],
)
def test_a_bad_count_is_refused(name, text, tmp_path):
    with pytest.raises(ValueError, match=name):
        Settings.build(tmp_path, {}, (), {name: text})


def test_limits_stay_within_the_contract(tmp_path):
    with pytest.raises(ValueError, match="1 to 1000"):
        Settings.build(tmp_path, {}, (), {"CARBON_LEDGER_BATCH_ITEMS": "1001"})


def test_init_and_commands_on_a_directory_without_a_ledger(tmp_path):
    data = str(tmp_path / "data")
    refused = run_cli("export", "--all", "--out", str(tmp_path / "x.jsonl"), "--data", data)
    assert refused.returncode != 0 and b"carbon-ledger init" in refused.stderr
    assert b"Traceback" not in refused.stderr
    made = run_cli("init", "--data", data, text=True)
    assert made.returncode == 0 and made.stdout.startswith("initialised"), made.stderr
    again = run_cli("init", "--data", data, text=True)
    assert again.returncode == 0 and again.stdout.startswith("already initialised")
    unintegrated = run_cli("export", "--all", "--out", str(tmp_path / "x.jsonl"), "--data", data)
    assert unintegrated.returncode == 1 and b"no checkpoint yet" in unintegrated.stderr
    assert b"Traceback" not in unintegrated.stderr

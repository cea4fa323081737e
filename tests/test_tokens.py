"""Bearer tokens: the store keeps hashes only, in a 0600 file; the CLI creates, lists, revokes."""

import json
import stat
import subprocess
from pathlib import Path

import pytest

from api.auth import Principal
from ledger.tokens import TOKENS_FILE, parse_principal, token_hash
from ledger.tokens import FileTokenStore as TokenStore
from tests.files import run_cli
from tests.support import pid

CODE = "91330800MA2DHXXX0A"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_lookup_revoke(tmp_path):
    store = TokenStore(tmp_path / TOKENS_FILE)
    token_id, token = store.create("bank:abc")
    assert token.startswith("cl_") and len(token) == 3 + 43
    assert token_id == token_hash(token)[:8]
    assert store.principal_for(token) == "bank:abc"
    assert store.principal_for(token + "x") is None
    store.revoke(token_id)
    assert store.principal_for(token) is None
    store.revoke(token_id)  # again: no change
    with pytest.raises(LookupError):
        store.revoke("00000000")
    [record] = store.list()
    assert (record.id, record.principal, record.revoked) == (token_id, "bank:abc", True)


def test_file_holds_hashes_only_with_mode_0600(tmp_path):
    store = TokenStore(tmp_path / TOKENS_FILE)
    tokens = [store.create(p)[1] for p in ("regulator", f"ent:{CODE}", "farm:qz-001")]
    text = store.path.read_text()
    assert not any(token in text for token in tokens)
    assert {item["sha256"] for item in json.loads(text)["tokens"]} == {
        token_hash(t) for t in tokens
    }
    assert _mode(store.path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tokens.json.lock", TOKENS_FILE]


def test_a_change_by_another_store_is_seen_without_restart(tmp_path):
    server = TokenStore(tmp_path / TOKENS_FILE)
    cli = TokenStore(tmp_path / TOKENS_FILE)
    token_id, token = cli.create("regulator")
    assert server.principal_for(token) == "regulator"
    cli.revoke(token_id)
    assert server.principal_for(token) is None


@pytest.mark.parametrize(
    "text",
    ["", "regulator:x", "bank:", "bank:a:b", "ent:short", f"ent:{CODE.lower()}", "farm:", "x:y"],
)
def test_principal_forms_are_checked(tmp_path, text):
    with pytest.raises(ValueError, match="bad principal"):
        parse_principal(text)
    with pytest.raises(ValueError):
        TokenStore(tmp_path / TOKENS_FILE).create(text)
    assert not (tmp_path / TOKENS_FILE).exists()


def test_principal_scopes():
    regulator, bank = Principal.parse("regulator"), Principal.parse("bank:abc")
    enterprise, farm = Principal.parse(f"ent:{CODE}"), Principal.parse("farm:qz-001")
    assert all(
        regulator.can_read(a) for a in ("sys:keys", f"per:x:{pid('p')}", f"ind:{CODE}", "agr:q")
    )
    assert bank.can_read(f"per:abc:{pid('p1')}")
    assert not any(
        bank.can_read(a) for a in (f"per:abcd:{pid('p1')}", f"per:xyz:{pid('p1')}", f"ind:{CODE}")
    )
    assert enterprise.can_read(f"ind:{CODE}")
    assert not any(
        enterprise.can_read(a) for a in (f"ind:{CODE}X", "agr:qz-001", f"per:abc:{pid('p')}")
    )
    assert farm.can_read("agr:qz-001")
    assert not any(farm.can_read(a) for a in ("agr:qz-0012", f"ind:{CODE}", "sys:keys"))


def _tokens(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("tokens", *args, "--data", str(data), text=True)


def test_cli_create_list_revoke(tmp_path):
    data = tmp_path / "data"
    created = _tokens(data, "create", "--principal", "bank:abc")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    store = TokenStore(data / TOKENS_FILE)
    [record] = store.list()
    assert record.id in created.stderr and token not in created.stderr
    assert store.principal_for(token) == "bank:abc"
    assert token not in (data / TOKENS_FILE).read_text()
    assert _mode(data / TOKENS_FILE) == 0o600
    assert not (data / "ledger.sqlite").exists()  # the node is never opened
    listed = _tokens(data, "list")
    assert listed.returncode == 0 and token not in listed.stdout
    assert listed.stdout.split("\t")[:2] == [record.id, "bank:abc"]
    assert listed.stdout.rstrip().endswith("active")
    revoked = _tokens(data, "revoke", record.id)
    assert revoked.returncode == 0, revoked.stderr
    assert store.principal_for(token) is None
    assert _tokens(data, "list").stdout.rstrip().endswith("revoked")
    unknown = _tokens(data, "revoke", "ffffffff")
    assert unknown.returncode == 1 and "no token" in unknown.stderr
    bad = _tokens(data, "create", "--principal", "bank")
    assert bad.returncode == 2 and "bad principal" in bad.stderr and bad.stdout == ""

"""Imports point one way: crypto <- ledger <- projections <- api <- tools, and the client
(with the offline verifier) needs only crypto and the ledger's pure rules."""

import ast
from pathlib import Path

import pytest

from tools.cli import SERVER_PACKAGES

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = {
    "crypto": {"crypto"},
    "ledger": {"crypto", "ledger"},
    "client": {"crypto", "client", "ledger"},
    "projections": {"crypto", "ledger", "projections"},
    "api": {"crypto", "ledger", "projections", "api", "client"},
    "tools": {"crypto", "ledger", "projections", "api", "client", "tools"},
}
# what the client may import of ledger/: the pure rules and formats, never storage
CLIENT_LEDGER = ("ledger.domain", "ledger.errors", "ledger.registry", "ledger.rules")
CLIENT_LEDGER += ("ledger.submissions", "ledger.files")


def _imports(path: Path, roots: frozenset[str] = frozenset(ALLOWED)) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name for name in names if name.split(".")[0] in roots}


def _storage_in_client(package: str, name: str) -> bool:
    return package == "client" and name.startswith("ledger") and not name.startswith(CLIENT_LEDGER)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_package_imports_upward(package):
    wrong = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / package).rglob("*.py")
        for name in _imports(path)
        if name.split(".")[0] not in ALLOWED[package]
        or (
            package == "client" and name.startswith("ledger") and not name.startswith(CLIENT_LEDGER)
        )
    }
    assert not wrong, sorted(wrong)


def test_the_ledger_rules_the_client_uses_import_no_storage():
    pure = [ROOT / (name.replace(".", "/") + ".py") for name in CLIENT_LEDGER]
    pure = [path if path.exists() else path.with_suffix("") for path in pure]
    files = [f for path in pure for f in ([path] if path.is_file() else path.rglob("*.py"))]
    wrong = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in [*files, *(ROOT / "client").rglob("*.py")]
        for name in _imports(path, frozenset({*ALLOWED, *SERVER_PACKAGES}))
        if name.split(".")[0] in SERVER_PACKAGES
        or (name.startswith("ledger") and not name.startswith(CLIENT_LEDGER))
    }
    assert not wrong, sorted(wrong)

"""What a bank installs: `pip install carbon-ledger` with no extra gives the client and the
offline verifier, and none of the server's packages."""

import subprocess
import sys
from pathlib import Path

import pytest

from ledger.bundles import export_lines
from tests.support import integrate_all, load_city

ROOT = Path(__file__).resolve().parent.parent
SERVER_PACKAGES = ("eventsourcing", "fastapi", "starlette", "uvicorn", "psycopg", "psycopg_pool")


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the base install only (no extra)."""
    venv = tmp_path_factory.mktemp("base") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "pip"), "install", "-q", "-c", str(ROOT / "constraints.txt")]
    subprocess.run([*pip, str(ROOT)], check=True, cwd=venv.parent, timeout=600)
    return venv


def _run(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "carbon-ledger"), *args],
        capture_output=True,
        text=True,
        cwd=venv.parent,  # not the repository: only what was installed can be imported
        timeout=300,
    )


@pytest.mark.slow
def test_the_base_install_has_no_server_package(base_venv):
    code = (
        "import importlib.util, json; "
        f"print(json.dumps([p for p in {SERVER_PACKAGES!r} if importlib.util.find_spec(p)]))"
    )
    found = subprocess.run(
        [str(base_venv / "bin" / "python"), "-c", code],
        capture_output=True,
        text=True,
        cwd=base_venv.parent,
        check=True,
    )
    assert found.stdout.strip() == "[]"
    imported = subprocess.run(
        [str(base_venv / "bin" / "python"), "-c", "from client import LedgerClient, submission"],
        cwd=base_venv.parent,
    )
    assert imported.returncode == 0


@pytest.mark.slow
def test_the_base_install_verifies_an_export(base_venv, node, tmp_path):
    load_city(node, seed=3, banks=2, persons=20, enterprises=12, farms=6)
    integrate_all(node)
    bundle = tmp_path / "city.jsonl"
    bundle.write_text("".join(line + "\n" for line in export_lines(node)))
    verified = _run(base_venv, "verify", str(bundle), "--log-key", node.ledger_key.verifier.text)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("OK ")


@pytest.mark.slow
@pytest.mark.parametrize("command", ["serve", "init", "export"])
def test_server_commands_name_the_extra(base_venv, command):
    refused = _run(base_venv, command, "--data", "somewhere")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"carbon-ledger {command} needs the server extra: pip install 'carbon-ledger[server]'"
    ]

"""Across processes: concurrent submitters, and an integrator killed with SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ledger.keyfiles import write_new_key
from tests.support import SEED_ENTRIES, SEED_KEYS, check_log, integrate_all, pid, register, signed

ROOT = Path(__file__).resolve().parent.parent


def _child_env(storage: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **storage, "PYTHONPATH": str(ROOT)}


def test_two_processes_submitting_lose_and_duplicate_nothing(node, data_dir, storage, tmp_path):
    bank = register(node, "bank.abc", ["bank"])
    key_file = tmp_path / "bank.key"
    write_new_key(key_file, bank)
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.proc_submitter",
                str(data_dir),
                json.dumps(storage),
                str(key_file),
                tag,
                "40",
            ],
            env=_child_env(storage),
            cwd=ROOT,
        )
        for tag in ("a", "b")
    ]
    assert [child.wait(timeout=120) for child in children] == [0, 0]
    integrate_all(node)
    entries = check_log(node)
    assert len(entries) == SEED_ENTRIES + 1 + 160
    registry = [e for e in entries if e["account"] == "sys:keys"]
    assert len(registry) == SEED_KEYS + 1 + 80
    assert len({e["submission"]["id"] for e in entries}) == len(entries)


def _integrate(data_dir: Path, storage: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tools.cli", "integrate", "--data", str(data_dir), "--batch", "7"],
        env=_child_env(storage),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )


def test_killed_integrator_restarts_exactly(node, data_dir, storage):
    bank = register(node, "bank.abc", ["bank"])
    total = SEED_ENTRIES + 1 + 1200
    for start in range(0, 1200, 400):
        node.ledger.submit_batch(
            [
                signed(bank, f"per:abc:{pid(f'p{i}')}", "AccountOpened", {})
                for i in range(start, start + 400)
            ]
        )
    first = _integrate(data_dir, storage)
    deadline = time.monotonic() + 60
    while node.reader.size() < 100 and time.monotonic() < deadline:
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = node.reader.size()
    assert 0 < killed_at < total, killed_at
    second = _integrate(data_dir, storage)
    try:
        deadline = time.monotonic() + 60
        while node.reader.size() < total and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert len(check_log(node)) == total

"""Where the tests find the project and its test vectors, and running its CLI as a user would.

Light on purpose (no ledger imports), so that the crypto tests can use it too.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VECTORS_DIR = ROOT / "tests" / "vectors"


def load_vectors(name: str) -> Any:
    """The JSON test vectors in tests/vectors/<name>."""
    return json.loads((VECTORS_DIR / name).read_text("utf-8"))


def run_cli(
    *args: str,
    stdin: bytes | str | None = None,
    text: bool = False,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[Any]:
    """`python -m tools.cli *args` from the project's root (or `cwd`), its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "tools.cli", *args],
        input=stdin,
        cwd=cwd or ROOT,
        env=env if cwd is None else {**(env or os.environ), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=text,
        timeout=timeout,
    )

"""Where the tests find the project and its test vectors, and running its CLI as a user would.

Light on purpose (no ledger imports), so that the crypto tests can use it too.
"""

import json
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
) -> subprocess.CompletedProcess[Any]:
    """`python -m tools.cli *args` from the project's root, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "tools.cli", *args],
        input=stdin,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=text,
        timeout=timeout,
    )

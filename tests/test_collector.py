"""The garbage collector's pace in the ledger's processes."""

import subprocess
import sys
from pathlib import Path

from tools.collector import MIDDLE_COLLECTIONS, OLD_COLLECTIONS, YOUNG_ALLOCATIONS

ROOT = Path(__file__).resolve().parent.parent
PACE = (YOUNG_ALLOCATIONS, MIDDLE_COLLECTIONS, OLD_COLLECTIONS)


def test_every_command_runs_with_the_collector_paced():
    probe = "import gc, tools.cli; tools.cli.main([]); print(*gc.get_threshold())"
    shown = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tuple(int(n) for n in shown[-3:]) == PACE

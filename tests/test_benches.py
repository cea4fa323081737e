"""The city-scale bench runs end to end at a small size (its figures are not checked: a bench
is not a timed test), so that an hour-long run does not die at its first row on a change."""

import subprocess
import sys

import pytest

from tests.serving import ROOT

pytestmark = pytest.mark.slow


def test_the_scale_bench_prints_a_row_with_an_audit(tmp_path):
    command = [sys.executable, "bench/scale.py", "--to", "100000", "--every", "100000"]
    command += ["--backend", "sqlite", "--data", str(tmp_path / "data")]
    command += ["--samples", "5", "--fold", "1000", "--audit"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split() for line in done.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert len(rows) == 1 and int(rows[0][0].replace(",", "")) >= 100_000
    assert rows[0][-2] != "-" and float(rows[0][-2].replace(",", "")) > 0  # the audit's rate

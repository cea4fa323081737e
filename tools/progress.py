"""The one progress line every long command shows on stderr."""

import sys
import time

WIDTH = 30


def progress_bar(done: int, total: int | None, started: float, what: str = "entries") -> None:
    """Done of (about) `total`, if known, with the rate and the time left; else done and rate."""
    rate = done / max(time.monotonic() - started, 1e-9)
    if not total:
        sys.stderr.write(f"\r{done:,} {what}, {rate:,.0f}/s ")
    else:
        filled = min(WIDTH, WIDTH * done // max(total, 1))
        left = max(total - done, 0) / rate if rate else 0
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (WIDTH - filled)}] {done:,}/{total:,} {what},"
            f" {rate:,.0f}/s, ~{left:,.0f} s left "
        )
    sys.stderr.flush()

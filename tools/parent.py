"""Children of `carbon-ledger serve` stop themselves (SIGTERM) once `serve` is gone, even killed."""

import os
import signal
import threading
import time

PARENT_ENV = "CARBON_LEDGER_PARENT_PID"
CHECK_SECONDS = 0.5


def mark_parent() -> None:
    """Name this process as the parent of the children it starts from now on."""
    os.environ[PARENT_ENV] = str(os.getpid())


def stop_with_parent() -> None:
    """In a child of a `mark_parent` process: send this process SIGTERM once that parent dies."""
    parent = int(os.environ.get(PARENT_ENV, "0"))
    if parent not in (0, os.getpid()):  # not the parent itself (one worker runs in `serve`)
        threading.Thread(target=_watch, args=(parent,), name="parent-watch", daemon=True).start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(CHECK_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)

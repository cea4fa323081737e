"""The garbage collector paced for the ledger's processes.

CPython starts a young-generation collection every 700 net allocations, an older one every
10 of those. A batch of submissions or an audit allocates many short-lived objects beside
a large, long-lived heap (the account cache, an audit's chains), and at that pace the
collections rescan it often: about a sixth of the ledger's CPU in bench/ingest.py (c) and
a fifth of an API worker's in (d). Collecting twenty-odd times less often leaves garbage
cycles alive a little longer, never unbounded: the thresholds still count allocations.
"""

import gc

YOUNG_ALLOCATIONS = 20_000  # net allocations between young collections (default 700)
MIDDLE_COLLECTIONS = 50  # young collections between middle ones (default 10)
OLD_COLLECTIONS = 100  # middle collections between full ones (default 10)


def tune_collector() -> None:
    """Collect less often (for this process and the children it forks)."""
    gc.set_threshold(YOUNG_ALLOCATIONS, MIDDLE_COLLECTIONS, OLD_COLLECTIONS)

"""An account as the log had it: its integrated entries below an index, and the state they make."""

from typing import Any

from crypto.records import decode_entry
from ledger.rules import apply_entry, initial_state
from ledger.storage.base import LogLeaf, LogRecorder

PAGE = 1000


def chain(log: LogRecorder, account: str, below: int) -> list[LogLeaf]:
    """An account's entries with log index below `below`, in seq order (an account's entries
    are in the log in seq order: the first at or past `below` ends it)."""
    leaves: list[LogLeaf] = []
    while True:
        page = log.account_leaves(account, leaves[-1].seq if leaves else -1, PAGE)
        kept = [leaf for leaf in page if leaf.index < below]
        leaves += kept
        if len(page) < PAGE or len(kept) < len(page):
            return leaves


def state_before(log: LogRecorder, account: str, below: int) -> tuple[Any, list[LogLeaf]]:
    """The account's state made by its entries below log index `below`, and those entries."""
    state = initial_state(account)
    leaves = chain(log, account, below)
    for leaf in leaves:
        apply_entry(state, account, decode_entry(leaf.entry), leaf.leaf_hash.hex())
    return state, leaves

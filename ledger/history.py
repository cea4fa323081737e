"""An account as the log had it: its integrated entries below an index, and the state they make."""

from typing import Any

from crypto.records import decode_entry
from ledger.rules import apply_entry, initial_state
from ledger.storage.base import LogLeaf, LogRecorder

PAGE = 1000


def chain(log: LogRecorder, account: str, below: int) -> list[LogLeaf]:
    """An account's entries with log index below `below`, in seq order."""
    leaves: list[LogLeaf] = []
    while True:
        page = log.account_leaves(account, leaves[-1].seq if leaves else -1, PAGE)
        leaves += [leaf for leaf in page if leaf.index < below]
        if len(page) < PAGE:
            return leaves


def state_before(log: LogRecorder, account: str, below: int) -> tuple[Any, list[LogLeaf]]:
    """The account's state made by its entries below log index `below`, and those entries."""
    state = initial_state(account)
    leaves = chain(log, account, below)
    for leaf in leaves:
        apply_entry(state, account, decode_entry(leaf.entry), leaf.leaf_hash.hex())
    return state, leaves

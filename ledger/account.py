"""The write side's aggregate: an account's hash chain and the state its rules need."""

import functools
import json
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic

from ledger.rules import apply_entry, initial_state

ACCOUNT_NAMESPACE = UUID("6f1d3c52-3b7e-4c39-9a55-0c6a1a7d2e01")


@functools.lru_cache(maxsize=1 << 17)
def account_uuid(account: str) -> UUID:
    return uuid5(ACCOUNT_NAMESPACE, account)


class Account(Aggregate):
    """One ledger account: the head of its hash chain and the state its rules need."""

    @staticmethod
    def create_id(account: str) -> UUID:
        return account_uuid(account)

    @event("Started")
    def __init__(self, account: str, entry: str, leaf_hash: str) -> None:
        self.account = account
        self.state: Any = initial_state(account)
        self.seq = -1
        self.head = ""
        self._apply(entry, leaf_hash)

    @event("EntryAppended")
    def append_entry(self, entry: str, leaf_hash: str) -> None:
        self._apply(entry, leaf_hash)

    def _apply(self, entry: str, leaf_hash: str) -> None:
        record = json.loads(entry)
        apply_entry(self.state, self.account, record, leaf_hash)
        self.seq = record["seq"]
        self.head = leaf_hash


ENTRY_TOPICS = (get_topic(Account.Started), get_topic(Account.EntryAppended))

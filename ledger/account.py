"""Aggregates of the write side: an account's hash chain, and an idempotency claim."""

import json
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic

from ledger.rules import apply_entry, initial_state

ACCOUNT_NAMESPACE = UUID("6f1d3c52-3b7e-4c39-9a55-0c6a1a7d2e01")
CLAIM_NAMESPACE = UUID("0b0d7d0e-58a2-4f0e-a7a4-1f7f3c9e6b02")


def account_uuid(account: str) -> UUID:
    return uuid5(ACCOUNT_NAMESPACE, account)


def claim_uuid(key_id: str, submission_id: str) -> UUID:
    return uuid5(CLAIM_NAMESPACE, f"{key_id}\n{submission_id}")


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


class Claim(Aggregate):
    """An idempotency id used by a key: created once, so a second use conflicts in the store."""

    @staticmethod
    def create_id(key_id: str, submission_id: str) -> UUID:
        return claim_uuid(key_id, submission_id)

    @event("Made")
    def __init__(self, key_id: str, submission_id: str, digest: str, account: str, seq: int):
        self.key_id = key_id
        self.submission_id = submission_id
        self.digest = digest
        self.account = account
        self.seq = seq


ENTRY_TOPICS = (get_topic(Account.Started), get_topic(Account.EntryAppended))

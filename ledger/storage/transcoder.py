"""How the event store keeps an account's event: as its entry's bytes, nothing else.

An entry is canonical JSON that starts `{"account":` (its first key, sorted). Everything
else an account event holds is derived from those bytes when the event is read back: its
leaf hash (SHA-256 of the bytes, RFC 6962), its timestamp (the entry's `recorded_at`), and
for an account's first entry the account id and the aggregate's topic. So the log's bytes
are stored once, in the event store, and the log's own tables hold positions and hashes.

Any other state (none today) and events stored by earlier versions (eventsourcing's JSON of
the whole event) are read as JSON, so a ledger written before this format still loads.
"""

import json
from datetime import datetime
from typing import Any

import msgspec
from eventsourcing.persistence import JSONTranscoder
from eventsourcing.utils import get_topic

from crypto.merkle import leaf_hash
from ledger.account import Account

ENTRY_PREFIX = b'{"account":'
_ENTRY_KEYS = frozenset({"timestamp", "entry", "leaf_hash"})
_FIRST_KEYS = _ENTRY_KEYS | {"account", "originator_topic"}


class _Head(msgspec.Struct):
    account: str
    seq: int
    recorded_at: str


_HEAD = msgspec.json.Decoder(_Head)


def entry_head(entry: bytes) -> tuple[str, int]:
    """(account, seq) of an entry's bytes, read without decoding the rest."""
    head = _HEAD.decode(entry)
    return head.account, head.seq


def entry_bytes(state: bytes) -> bytes:
    """The entry in a stored account event's state, in either format."""
    if state.startswith(ENTRY_PREFIX):
        return state
    return str(json.loads(state)["entry"]).encode()  # an earlier version's JSON of the event


class EntryTranscoder(JSONTranscoder):
    """eventsourcing's JSON transcoder, but an account event is stored as its entry."""

    def encode(self, obj: Any) -> bytes:
        if isinstance(obj, dict) and self._is_entry_event(obj):
            return str(obj["entry"]).encode()
        return super().encode(obj)

    def decode(self, data: bytes) -> Any:
        if not data.startswith(ENTRY_PREFIX):
            return super().decode(data)
        head = _HEAD.decode(data)
        state: dict[str, Any] = {
            "timestamp": datetime.fromisoformat(head.recorded_at),
            "entry": data.decode(),
            "leaf_hash": leaf_hash(data).hex(),
        }
        if head.seq == 0:
            state["account"] = head.account
            state["originator_topic"] = get_topic(Account)
        return state

    @staticmethod
    def _is_entry_event(state: dict[str, Any]) -> bool:
        """Whether `decode` gives this state back from the entry's bytes alone."""
        keys = state.keys()
        if keys != _ENTRY_KEYS and keys != _FIRST_KEYS:
            return False
        entry = str(state["entry"]).encode()
        if not entry.startswith(ENTRY_PREFIX) or leaf_hash(entry).hex() != state["leaf_hash"]:
            return False
        head = _HEAD.decode(entry)
        return (keys == _FIRST_KEYS) == (head.seq == 0) and state.get(
            "account", head.account
        ) == head.account

"""Reads of the write side for the API: an account brought up to date, and its entries with
their log index where the log has them (the read models hold only what projections fold)."""

from dataclasses import dataclass

from eventsourcing.application import project_aggregate

from ledger.account import Account, account_uuid, entry_event
from ledger.storage.base import LogRecorder
from ledger.store import LedgerStore


@dataclass(frozen=True)
class AccountEntry:
    """One entry of an account: its bytes, leaf hash and log index (None: not integrated yet)."""

    seq: int
    entry: bytes
    leaf_hash: str
    index: int | None


def current_account(store: LedgerStore, cached: Account | None, account_id: str) -> Account | None:
    """The account's aggregate: `cached` brought up to date (another process may have appended)."""
    after = cached.version if cached else None
    news = list(store.events.get(account_uuid(account_id), gt=after))
    return project_aggregate(cached, news) if news else cached


def account_entries(
    store: LedgerStore, log: LogRecorder, account_id: str, after_seq: int, limit: int
) -> list[AccountEntry] | None:
    """Up to `limit` entries with seq > after_seq: the integrated ones from the log, then the
    newer ones from the event store; None if the account has no entries at all."""
    leaves = log.account_leaves(account_id, after_seq, limit)
    entries = [AccountEntry(x.seq, x.entry, x.leaf_hash.hex(), x.index) for x in leaves]
    last = entries[-1].seq if entries else after_seq
    key = account_uuid(account_id)
    if len(entries) < limit:  # past the integrated ones; an entry's version is its seq + 1
        newer = store.events.get(key, gt=last + 1, limit=limit - len(entries))
        entries += [
            AccountEntry(e.originator_version - 1, e.entry.encode(), e.leaf_hash, None)
            for e in map(entry_event, newer)
        ]
    if not entries and next(store.events.get(key, limit=1), None) is None:
        return None
    return entries

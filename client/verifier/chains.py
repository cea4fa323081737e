"""Each account's chain as an audit replays it, in memory bounded by a setting: the most
recently used accounts' states stay decoded, the rest are written to a temporary SQLite file
(MessagePack of each kind's dataclass) and read back when their account next moves. A
resumed audit reads an account from the saved state when it first meets it, and knows which
chains it changed: only those go into the state it leaves. The reference accounts stay in
memory: their states hold parsed keys. A person's accounts (for person-wide caps) are kept
for as many persons as states, and found again in the temporary file or the saved state."""

import sqlite3
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from client.verifier.partition import REFERENCE_ACCOUNTS
from client.verifier.state import ChainRecord, SavedState, decode_state, encode_state
from ledger.domain.personal import person_of

DEFAULT_CACHE = 50_000  # decoded account states kept in memory


@dataclass(slots=True)
class Chain:
    seq: int
    head: str
    state: Any
    proven: bool = True
    changed: bool = True  # since the saved state was read (False: as it was saved)


@dataclass(slots=True)
class _Person:
    accounts: list[str]  # the person's personal accounts
    stored: int  # how many of them (the first) the saved state or the file holds


class ChainStore:
    """Chains by account: `get`, `put`, `in`; states spill past `cache` accounts."""

    def __init__(self, cache: int = DEFAULT_CACHE) -> None:
        self._limit = max(cache, 1)
        self._recent: OrderedDict[str, Chain] = OrderedDict()
        self._pinned: dict[str, Chain] = {}
        self._spill: sqlite3.Connection | None = None
        self._persons: OrderedDict[str, _Person] = OrderedDict()  # the recent ones
        self._persons_spilled = False  # whether any person's accounts went to the file
        self.saved: SavedState | None = None  # the state a resumed audit started from

    def get(self, account: str) -> Chain | None:
        if account in REFERENCE_ACCOUNTS:  # replayed here, from the saved entries if any
            return self._pinned.get(account)
        chain = self._recent.get(account)
        if chain is not None:
            self._recent.move_to_end(account)
            return chain
        row = self._row(account)
        if row is not None:
            chain = Chain(row[0], row[1], decode_state(account, row[2]), bool(row[3]))
        elif self.saved is not None and (saved := self.saved.chain(account)) is not None:
            chain = Chain(saved[0], saved[1], decode_state(account, saved[2]), changed=False)
        else:
            return None
        self._keep(account, chain)
        return chain

    def __contains__(self, account: object) -> bool:
        return isinstance(account, str) and self.get(account) is not None

    def put(self, account: str, chain: Chain) -> None:
        """A new chain, or one changed since `get` (which other reads may have evicted)."""
        chain.changed = True
        self._recent.pop(account, None)
        self._keep(account, chain)

    def accounts_of(self, person: str) -> list[str]:
        """The person's personal accounts, replayed or saved."""
        known = self._persons.get(person)
        if known is not None:
            self._persons.move_to_end(person)
            return known.accounts
        accounts = self.saved.accounts_of(person) if self.saved is not None else []
        if self._persons_spilled:
            query = "SELECT account FROM persons WHERE person = ?"
            accounts += [account for (account,) in self._spilled().execute(query, (person,))]
        self._persons[person] = _Person(accounts, len(accounts))
        if len(self._persons) > self._limit:
            self._spill_person(*self._persons.popitem(last=False))
        return accounts

    def joined(self, account: str) -> None:
        """A personal account replayed for the first time (not one saved)."""
        self.accounts_of(person_of(account)).append(account)

    def changed(self) -> Iterator[ChainRecord]:
        """Every non-reference chain new or changed since the saved state (all, if none)."""
        for account, chain in self._recent.items():
            if chain.changed:
                yield ChainRecord(account, chain.seq, chain.head, encode_state(chain.state))
        if self._spill is not None:
            rows = self._spill.execute("SELECT account, seq, head, state FROM chains")
            for account, seq, head, state in rows:
                if account not in self._recent:
                    yield ChainRecord(account, seq, head, state)

    def pinned(self) -> dict[str, Chain]:
        return self._pinned

    def accounts(self) -> Iterator[str]:
        """The accounts replayed here (not those only saved)."""
        yield from self._pinned
        yield from self._recent
        if self._spill is not None:
            for (account,) in self._spill.execute("SELECT account FROM chains"):
                if account not in self._recent:
                    yield account

    def close(self) -> None:
        if self._spill is not None:
            self._spill.close()
            self._spill = None
        if self.saved is not None:
            self.saved.close()

    def _keep(self, account: str, chain: Chain) -> None:
        if account in REFERENCE_ACCOUNTS:
            self._pinned[account] = chain
            return
        self._recent[account] = chain
        if len(self._recent) > self._limit:
            evicted, old = self._recent.popitem(last=False)
            if old.changed:  # one as it was saved is read from the saved state again
                self._spilled().execute(
                    "INSERT OR REPLACE INTO chains VALUES (?, ?, ?, ?, ?)",
                    (evicted, old.seq, old.head, encode_state(old.state), old.proven),
                )

    def _spill_person(self, person: str, known: _Person) -> None:
        """Write what a person leaving memory joined since it was read (the rest is in the
        saved state or already in the file)."""
        joined = [(person, account) for account in known.accounts[known.stored :]]
        if joined:
            self._spilled().executemany("INSERT INTO persons VALUES (?, ?)", joined)
            self._persons_spilled = True

    def _row(self, account: str) -> tuple[int, str, bytes, int] | None:
        if self._spill is None:
            return None
        row: tuple[int, str, bytes, int] | None = self._spill.execute(
            "SELECT seq, head, state, proven FROM chains WHERE account = ?", (account,)
        ).fetchone()
        return row

    def _spilled(self) -> sqlite3.Connection:
        if self._spill is None:
            # "": SQLite's private temporary database, on disk (in SQLITE_TMPDIR or TMPDIR),
            # removed when the connection closes
            self._spill = sqlite3.connect("")
            for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -65536"):
                self._spill.execute(f"PRAGMA {pragma}")
            self._spill.execute(
                "CREATE TABLE chains (account TEXT PRIMARY KEY, seq INTEGER NOT NULL,"
                " head TEXT NOT NULL, state BLOB NOT NULL, proven INTEGER NOT NULL)"
            )
            self._spill.execute(
                "CREATE TABLE persons (person TEXT NOT NULL, account TEXT NOT NULL)"
            )
            self._spill.execute("CREATE INDEX persons_person ON persons (person)")
        return self._spill

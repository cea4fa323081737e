"""The event store: eventsourcing's Application on SQLite (default) or PostgreSQL."""

from typing import cast
from uuid import UUID

from eventsourcing.application import Application

from ledger.storage.base import Backend, LedgerRecorder
from ledger.storage.factory import backend


class LedgerStore(Application[UUID]):
    """Accounts and idempotency claims, with the notification log the integrator follows."""

    name = "ledger"
    env = {  # noqa: RUF012 (eventsourcing's own class variable)
        "AGGREGATE_CACHE_MAXSIZE": "100000",
        "AGGREGATE_CACHE_FASTFORWARD": "n",  # see ledger.loading: conflicts evict instead
        "TRANSCODER_TOPIC": "ledger.storage.transcoder:EntryTranscoder",  # an event: its entry
    }

    def __init__(self, env: dict[str, str]) -> None:
        self.settings = env
        self.storage: Backend = backend(env)  # the backend, chosen once
        with self.storage.setup_lock():
            super().__init__(env=env)
        self.storage.prepare(self.factory)

    @property
    def reads(self) -> LedgerRecorder:
        """The event store's recorder, as the claims and bulk reads both backends offer."""
        return cast(LedgerRecorder, self.recorder)

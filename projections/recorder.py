"""The view tables on the store's database: their SQL is projections/tables.py's, the
backend's recorder class (ledger/storage/) is the one the store's backend hands out."""

from collections.abc import Sequence
from dataclasses import dataclass

from ledger.storage.base import StalePosition, ViewRecorder
from ledger.store import LedgerStore
from projections import tables
from projections.tables import Table

__all__ = ["VIEWS", "StalePosition", "ViewRecorder", "open_view_recorder"]


@dataclass(frozen=True)
class Views:
    """What storage needs of the view tables (ledger.storage.base.ViewSchema)."""

    tracking: str = tables.TRACKING
    tables: Sequence[Table] = tables.TABLES

    def create_statements(self, table: Table, name: str) -> list[str]:
        return tables.create_statements(table, name)

    def write_statement(self, table: Table, *, arrays: bool = False) -> str:
        return tables.write_statement(table, arrays=arrays)


VIEWS = Views()


def open_view_recorder(store: LedgerStore, create: bool = False) -> ViewRecorder:
    """The view recorder on the store's database; `create` makes missing tables (init only)."""
    return store.storage.view_recorder(store.factory, VIEWS, create)

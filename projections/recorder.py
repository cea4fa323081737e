"""View tables beside their own tracking table, so row deltas and position commit together."""

import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresFactory, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from psycopg.rows import tuple_row
from psycopg.sql import SQL

from ledger.log.lease import advisory_key
from ledger.store import LedgerStore, setup_lock
from projections.fold import Deltas
from projections.tables import TABLES, TRACKING, Table, create_statements, write_statement


class StalePosition(RuntimeError):
    """Another projector moved the position since this batch was read; the batch is dropped."""


class ViewRecorder(TrackingRecorder):
    """Reads and writes the view tables; one `record()` is one transaction."""

    # The tracking table is our own (`proj_tracking`), not the integrator's: both follow
    # the application "ledger", each from its own position.
    placeholder = "?"

    def table(self, name: str) -> str:
        raise NotImplementedError

    def transaction(self, *, commit: bool) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _lock(self, cursor: Any, application_name: str) -> None:
        """Wait until this transaction is the only one writing the views."""
        raise NotImplementedError

    def _positional(self, cursor: Any) -> None:
        """Make the cursor return rows by position (not keyed by possibly repeated names)."""

    def _sql(self, text: str, **tables: str) -> str:
        names = {key: self.table(value) for key, value in tables.items()}
        return text.replace("?", self.placeholder).format(**names)

    def select(self, text: str, params: Sequence[Any] = (), **tables: str) -> list[tuple[Any, ...]]:
        """Rows of one query; `{x}` in `text` names the table given as x=NAME."""
        with self.transaction(commit=False) as cursor:
            self._positional(cursor)
            cursor.execute(self._sql(text, **tables), params)
            return [tuple(row) for row in cursor.fetchall()]

    def position(self, application_name: str) -> int:
        """The notification id of the last entry folded into the views (0 if none)."""
        return self.max_tracking_id(application_name) or 0

    def record(self, deltas: Deltas, start: int, tracking: Tracking) -> None:
        """Commit a batch's deltas and the new position, if the position is still `start`."""
        with self.transaction(commit=True) as cursor:
            self._lock(cursor, tracking.application_name)
            now = self._max_tracking_id(tracking.application_name, cursor) or 0
            if now != start:
                raise StalePosition(f"position is {now}, the batch was read from {start}")
            for table in TABLES:
                rows = deltas.params(table)
                if rows:
                    self._write(cursor, table, rows)
            self._insert_tracking(cursor, tracking)

    def _write(self, cursor: Any, table: Table, rows: list[tuple[Any, ...]]) -> None:
        cursor.executemany(self._sql(write_statement(table), t=table.name), rows)

    def clear(self, application_name: str) -> None:
        """Empty every view table and forget the position, in one transaction."""
        with self.transaction(commit=True) as cursor:
            self._lock(cursor, application_name)
            for table in TABLES:
                cursor.execute(self._sql("DELETE FROM {t}", t=table.name))
            cursor.execute(
                self._sql("DELETE FROM {t} WHERE application_name = ?", t=TRACKING),
                [application_name],
            )


def _own_tracking(statement: str) -> str:
    """eventsourcing's SQLite tracking statement, on our tracking table."""
    return re.sub(r"\btracking\b", TRACKING, statement)


class SQLiteViewRecorder(ViewRecorder, SQLiteTrackingRecorder):
    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.insert_tracking_statement = _own_tracking(self.insert_tracking_statement)
        self.select_max_tracking_id_statement = _own_tracking(self.select_max_tracking_id_statement)

    def table(self, name: str) -> str:
        return name

    def transaction(self, *, commit: bool) -> AbstractContextManager[Any]:
        return self.datastore.transaction(commit=commit)

    def _lock(self, cursor: Any, application_name: str) -> None:
        # A write as the transaction's first statement takes SQLite's write lock, so what
        # this transaction reads next is the latest commit.
        cursor.execute(
            f"UPDATE {TRACKING} SET notification_id = notification_id WHERE application_name = ?",
            [application_name],
        )

    def construct_create_table_statements(self) -> list[str]:
        return [
            *map(_own_tracking, super().construct_create_table_statements()),
            *(sql for table in TABLES for sql in create_statements(table, table.name)),
        ]


class PostgresViewRecorder(ViewRecorder, PostgresTrackingRecorder):
    placeholder = "%s"

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **{**kwargs, "tracking_table_name": TRACKING})
        for table in TABLES:
            for statement in create_statements(table, self.table(table.name)):
                self.sql_create_statements.append(SQL(statement))  # type: ignore[arg-type]

    def table(self, name: str) -> str:
        return f'"{self.datastore.schema}"."{name}"'

    def transaction(self, *, commit: bool) -> AbstractContextManager[Any]:
        return self.datastore.transaction(commit=commit)

    def _lock(self, cursor: Any, application_name: str) -> None:
        key = advisory_key(self.datastore.schema, "projections-write")
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])

    def _positional(self, cursor: Any) -> None:
        cursor.row_factory = tuple_row

    def _write(self, cursor: Any, table: Table, rows: list[tuple[Any, ...]]) -> None:
        """All rows in one statement, one array per column: the server plans and runs one
        statement instead of one per row."""
        columns = [list(column) for column in zip(*rows, strict=True)]
        cursor.execute(self._sql(write_statement(table, arrays=True), t=table.name), columns)


def open_view_recorder(store: LedgerStore, create: bool = False) -> ViewRecorder:
    """The view recorder on the store's database; `create` makes missing tables (init only)."""
    recorder_class = (
        PostgresViewRecorder if isinstance(store.factory, PostgresFactory) else SQLiteViewRecorder
    )
    with setup_lock(store.settings):
        recorder = store.factory.tracking_recorder(recorder_class)
        if create:
            recorder.create_table()
    return recorder

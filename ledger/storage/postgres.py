"""PostgreSQL: every PostgreSQL table and query (events and claims, log, views, bulk reads),
the advisory lease and locks, the pool's pre-use check, and the backend's defaults."""

import contextlib
import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast
from uuid import UUID

import psycopg
from eventsourcing.persistence import InfrastructureFactory, StoredEvent
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresTrackingRecorder,
)
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Identifier, Literal
from psycopg_pool import ConnectionPool

from ledger.account import account_uuid
from ledger.documents import Document, DocumentStore, document_digest
from ledger.storage.base import (
    CLAIMS,
    CLAIMS_TABLE,
    LOG_TABLES,
    MOVED,
    PERSONS,
    PERSONS_INDEXED,
    PERSONS_MOVED,
    PERSONS_TABLE,
    Backend,
    FoundClaim,
    LogRecorder,
    PersonCounts,
    SQLCursor,
    SQLFactory,
    TextOrder,
    Versions,
    ViewRecorder,
    ViewSchema,
    claim_key,
    counted_accounts,
    counts_by_key,
    found_claim,
    held_accounts,
    index_first_entries,
    keyed,
)
from ledger.storage.map_tables import probe_each
from ledger.tokens import (
    TokenRecord,
    TokenStore,
    id_of_hash,
    new_token,
    now_text,
    parse_principal,
    replayed,
    token_hash,
)
from ledger.webhooks import (
    MAX_WEBHOOKS,
    Webhook,
    WebhookStore,
    new_id,
    not_found,
    too_many,
)

CONNECT_SECONDS = 5
EVENTS_TABLE = "ledger_events"  # eventsourcing's name for the "ledger" application's events


def advisory_key(schema: str, purpose: str) -> int:
    """A 63-bit advisory lock key for one purpose in one schema: two ledgers sharing a
    database in different schemas never wait on each other's locks."""
    digest = hashlib.sha256(f"carbon-ledger:{schema}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class LedgerPostgresRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.claims_table = SQL("{0}.{1}").format(
            Identifier(self.datastore.schema), Identifier(CLAIMS)
        )
        claims = CLAIMS_TABLE.format(t="{t}", blob="BYTEA", without_rowid="")
        self.sql_create_statements.append(SQL(claims).format(t=self.claims_table))
        self.persons_table = SQL("{0}.{1}").format(
            Identifier(self.datastore.schema), Identifier(PERSONS)
        )
        persons = PERSONS_TABLE.format(without_rowid="", t="{t}")
        self.sql_create_statements.append(SQL(persons).format(t=self.persons_table))
        self.insert_columns_statement = SQL(
            "INSERT INTO {0}.{1} (originator_id, originator_version, topic, state)"
            " SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[])"
            " RETURNING notification_id"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))

    def _insert_stored_events(
        self, curs: psycopg.Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        """The library's insert, with one binary array per column instead of one text array
        of a composite type: no quoting or escaping per value on either side, a fraction of
        the cost per event (bench/ingest.py)."""
        # Private: the statement that inserts the events has no public hook; this keeps the
        # library's table lock and notify around it (tests/test_storage_layout.py pins it).
        self._lock_table(curs)
        self._notify_channel(curs)
        columns = (
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
        )
        curs.execute(self.insert_columns_statement, columns, prepare=True)

    def find_claim(self, key_id: str, id_: str) -> FoundClaim | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL("SELECT digest, seq FROM {0} WHERE claim = %s").format(self.claims_table),
                [claim_key(key_id, id_)],
            )
            row = curs.fetchone()
        return found_claim((row["digest"], row["seq"]) if row else None)

    def _fetch_ids_after_insert_events(
        self, curs: psycopg.Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # Private: the last step eventsourcing runs on the save's cursor, inside its
        # transaction and with insert_events' keyword arguments, so the claims and the
        # system-version check commit or roll back with the events; no public hook sees that
        # cursor (tests/test_storage_layout.py pins the method and its signature).
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        # Whatever fails must fail on the server, so the transaction aborts (eventsourcing
        # holds exceptions raised here until after its transaction block, which would then
        # commit), and as the last statement, so it is the one error the pipeline reports.
        expected: Versions = kwargs.get("system_versions") or {}
        persons: PersonCounts = kwargs.get("persons") or {}
        if expected or persons:
            problem = self._moved(curs, expected, persons)
            if problem is not None:
                _abort(curs, problem)
                return ids
        claims = [claim.row() for claim in kwargs.get("claims", ())]
        if claims:  # a used (key, id) is a unique violation
            columns = [list(column) for column in zip(*claims, strict=True)]
            curs.execute(
                SQL(
                    "INSERT INTO {0} SELECT * FROM unnest(%b::bytea[], %b::bytea[], %b::bigint[])"
                ).format(self.claims_table),
                columns,
            )
        added = [row.stored() for row in kwargs.get("person_rows") or ()]
        if added:
            columns = [list(column) for column in zip(*added, strict=True)]
            curs.execute(
                SQL("INSERT INTO {0} SELECT * FROM unnest(%s::bigint[], %s::text[])").format(
                    self.persons_table
                ),
                columns,
            )
        return ids

    # Bulk reads probe the primary key once per aggregate: unnest the ids, and a LATERAL
    # subquery per id that OFFSET 0 keeps the planner from flattening into a join. For a
    # long `= ANY(ids)` list (a batch's accounts and each person's other accounts, thousands
    # of ids) PostgreSQL chose a parallel scan of the whole events table, a cost that grew
    # with the log: the ingest rate fell by a third over the first million entries.

    def _select(self, ids: str, condition: str, params: list[Any]) -> list[StoredEvent]:
        """Events of the aggregates `ids` (an unnest of parameters, aliased `i`) lists whose
        rows meet `condition`."""
        statement = SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state"
            " FROM " + ids + " CROSS JOIN LATERAL"
            " (SELECT originator_id, originator_version, topic, state FROM {0}.{1}"
            " WHERE " + condition + " OFFSET 0) AS e"
            " ORDER BY e.originator_id, e.originator_version"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        with self.datastore.get_connection() as connection, connection.cursor() as cursor:
            cursor.execute(statement, params)
            return [
                StoredEvent(
                    r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"])
                )
                for r in cursor.fetchall()
            ]

    def bulk_events(self, ids: Sequence[UUID]) -> list[StoredEvent]:
        ids_ = [_distinct(ids)]
        return self._select("unnest(%b::uuid[]) AS i(id)", "originator_id = i.id", ids_)

    def bulk_events_after(self, after: Mapping[UUID, int]) -> list[StoredEvent]:
        return self._select(
            "unnest(%b::uuid[], %b::bigint[]) AS i(id, after)",
            "originator_id = i.id AND originator_version > i.after",
            [list(after), list(after.values())],
        )

    def _moved(
        self, cursor: psycopg.Cursor[DictRow], expected: Versions, persons: PersonCounts
    ) -> str | None:
        """Why the save must not go ahead, if an aggregate's stored version is not the
        expected one (None: no events) or a person's count of accounts is not: both asked in
        one query, while the save holds the lock."""
        cursor.execute(
            SQL(
                "SELECT EXISTS (SELECT FROM unnest(%b::uuid[], %s::bigint[]) AS i(id, version)"
                " CROSS JOIN LATERAL (SELECT MAX(originator_version) AS version FROM {0}.{1}"
                " WHERE originator_id = i.id) AS v WHERE v.version IS DISTINCT FROM i.version)"
                " AS versions, EXISTS (SELECT FROM unnest(%s::bigint[], %s::bigint[])"
                " AS p(person, n) CROSS JOIN LATERAL (SELECT COUNT(*) AS n FROM {2}"
                " WHERE person = p.person) AS c WHERE c.n <> p.n) AS persons"
            ).format(
                Identifier(self.datastore.schema),
                Identifier(self.events_table_name),
                self.persons_table,
            ),
            [list(expected), list(expected.values()), *counts_by_key(persons)],
        )
        row = cursor.fetchone()
        if row is None or row["versions"]:
            return MOVED
        return PERSONS_MOVED if row["persons"] else None

    def _versions(self, cursor: psycopg.Cursor[DictRow], ids: Sequence[UUID]) -> dict[UUID, int]:
        """The stored version of each of these aggregates that has events, on `cursor`."""
        cursor.execute(
            SQL(
                "SELECT i.id AS originator_id, v.version FROM unnest(%b::uuid[]) AS i(id)"
                " CROSS JOIN LATERAL (SELECT MAX(originator_version) AS version FROM {0}.{1}"
                " WHERE originator_id = i.id) AS v WHERE v.version IS NOT NULL"
            ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name)),
            [_distinct(ids)],
        )
        return {row["originator_id"]: row["version"] for row in cursor.fetchall()}

    def bulk_versions(self, ids: Sequence[UUID]) -> dict[UUID, int]:
        if not ids:
            return {}
        with self.datastore.get_connection() as connection, connection.cursor() as cursor:
            return self._versions(cursor, ids)

    # The person index, probed once per person as the bulk reads are (a long ANY list may
    # be planned as a scan of the whole table).

    def person_accounts(self, persons: Sequence[str]) -> dict[str, set[str]]:
        if not persons:
            return {}
        statement = SQL(
            "SELECT i.person, a.bank FROM unnest(%s::bigint[]) AS i(person) CROSS JOIN LATERAL"
            " (SELECT bank FROM {0} WHERE person = i.person OFFSET 0) AS a"
        ).format(self.persons_table)
        with self.datastore.get_connection() as connection, connection.cursor() as cursor:
            cursor.execute(statement, [list(keyed(persons))])
            rows = [(row["person"], row["bank"]) for row in cursor.fetchall()]
        return held_accounts(persons, rows)

    def _person_counts(
        self, cursor: psycopg.Cursor[DictRow], persons: Sequence[str]
    ) -> dict[str, int]:
        cursor.execute(
            SQL(
                "SELECT i.person, c.n FROM unnest(%s::bigint[]) AS i(person) CROSS JOIN LATERAL"
                " (SELECT COUNT(*) AS n FROM {0} WHERE person = i.person) AS c"
            ).format(self.persons_table),
            [list(keyed(persons))],
        )
        return counted_accounts(persons, [(row["person"], row["n"]) for row in cursor.fetchall()])

    def person_counts(self, persons: Sequence[str]) -> dict[str, int]:
        if not persons:
            return {}
        with self.datastore.get_connection() as connection, connection.cursor() as cursor:
            return self._person_counts(cursor, persons)

    def persons_indexed(self) -> bool:
        name = f"{self.datastore.schema}.{PERSONS}"
        with self.datastore.get_connection() as connection, connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL AS made", [name])
            if not cursor.fetchall()[0]["made"]:
                return False
            marked = SQL("SELECT 1 FROM {0} WHERE person = %s AND bank = %s")
            cursor.execute(marked.format(self.persons_table), list(PERSONS_INDEXED))
            return bool(cursor.fetchall())

    def index_persons(self) -> int:
        if self.persons_indexed():
            return 0
        events = SQL("{0}.{1}").format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name)
        )
        page = SQL(
            "SELECT notification_id, state FROM {0} WHERE originator_version = 1"
            " AND notification_id > %s ORDER BY notification_id LIMIT 10000"
        ).format(events)
        insert = SQL("INSERT INTO {0} VALUES (%s, %s) ON CONFLICT DO NOTHING").format(
            self.persons_table
        )
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(SQL("LOCK TABLE {0} IN EXCLUSIVE MODE").format(events))

            def first_events(after: int) -> list[tuple[int, bytes]]:
                cursor.execute(page, [after])
                return [(row["notification_id"], bytes(row["state"])) for row in cursor]

            return index_first_entries(first_events, partial(cursor.executemany, insert))


def _abort(cursor: psycopg.Cursor[DictRow], message: str) -> None:
    """Fail the save's transaction on the server, as a unique violation (a conflict)."""
    cursor.execute(
        f"DO $$ BEGIN RAISE EXCEPTION '{message}' USING ERRCODE = 'unique_violation'; END $$"
    )


def _distinct(ids: Sequence[UUID]) -> list[UUID]:
    return list(dict.fromkeys(ids))


class PostgresLogRecorder(LogRecorder, PostgresTrackingRecorder):
    placeholder = "%s"
    bucket_query = staticmethod(probe_each)
    event_position = "notification_id"

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.events = f'"{self.datastore.schema}"."{EVENTS_TABLE}"'
        for name, sql in LOG_TABLES.items():
            statement = sql.format(
                t="{0}.{1}", blob="BYTEA", int_key="BIGINT", without_rowid="", leaf_unique=""
            )
            self.sql_create_statements.append(
                SQL(statement).format(Identifier(self.datastore.schema), Identifier(f"log_{name}"))
            )
        # Leaf hashes by a hash index: about a third of a b-tree's size on random 32-byte
        # keys, so more of it stays in shared buffers as the log grows. Logs written before
        # kept a unique b-tree on them; init drops it (the log index, the primary key, and the
        # unique notification ids are what keep an entry from being integrated twice).
        index = Identifier(self.datastore.schema, "log_index")
        unique = SQL(
            "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_constraint WHERE conname ="
            " 'log_index_leaf_hash_key' AND conrelid = {0}::regclass) THEN ALTER TABLE {1}"
            " DROP CONSTRAINT log_index_leaf_hash_key; END IF; END $$"
        )  # only when there is one: the ALTER would lock the table against every read
        self.sql_create_statements += [
            unique.format(Literal(f'"{self.datastore.schema}"."log_index"'), index),
            SQL(
                "CREATE INDEX IF NOT EXISTS log_index_by_leaf ON {0} USING hash (leaf_hash)"
            ).format(index),
        ]

    def table(self, name: str) -> str:
        return f'"{self.datastore.schema}"."log_{name}"'

    def hold(self, cursor: SQLCursor, table: str) -> None:
        cursor.execute(f"LOCK TABLE {self.table(table)} IN EXCLUSIVE MODE")

    def originator(self, account: str) -> Any:
        return account_uuid(account)

    def exists_plain(self, name: str, qualified: bool = False) -> bool:
        table = name if qualified else self.plain_table(name)
        return self._all("SELECT to_regclass(%s) IS NOT NULL", [table])[0][0] is True

    def plain_table(self, name: str) -> str:
        return f'"{self.datastore.schema}"."{name}"'

    def _insert(
        self, cursor: SQLCursor, table: str, types: Sequence[str], rows: list[Any], tail: str = ""
    ) -> None:
        """All rows in one statement, one array per column (not a statement per row)."""
        if not rows:
            return
        casts = ", ".join(f"%b::{kind}[]" for kind in types)
        columns = [list(column) for column in zip(*rows, strict=True)]
        cursor.execute(
            f"INSERT INTO {self.table(table)} SELECT * FROM unnest({casts}){tail}", columns
        )

    def _snapshot(self, cursor: SQLCursor) -> None:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")

    def transaction(self, *, commit: bool) -> AbstractContextManager[psycopg.Cursor[DictRow]]:
        return self.datastore.transaction(commit=commit)


class PostgresViewRecorder(ViewRecorder, PostgresTrackingRecorder):
    placeholder = "%s"

    def __init__(self, datastore: PostgresDatastore, *, views: ViewSchema, **kwargs: Any) -> None:
        self.views = views
        super().__init__(datastore, **{**kwargs, "tracking_table_name": views.tracking})
        for table in views.tables:
            for statement in views.create_statements(table, self.table(table.name)):
                # SQL wants a LiteralString: these are the views' own DDL, no outside input
                self.sql_create_statements.append(SQL(statement))  # type: ignore[arg-type]

    def table(self, name: str) -> str:
        return f'"{self.datastore.schema}"."{name}"'

    def transaction(self, *, commit: bool) -> AbstractContextManager[psycopg.Cursor[DictRow]]:
        return self.datastore.transaction(commit=commit)

    def _lock(self, cursor: SQLCursor, application_name: str) -> None:
        key = advisory_key(self.datastore.schema, "projections-write")
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])

    def _positional(self, cursor: SQLCursor) -> None:
        cast("psycopg.Cursor[Any]", cursor).row_factory = tuple_row  # psycopg's here

    def _snapshot(self, cursor: SQLCursor) -> None:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")

    def _write(self, cursor: SQLCursor, table: Any, rows: list[tuple[Any, ...]]) -> None:
        """All rows in one statement, one array per column: the server plans and runs one
        statement instead of one per row."""
        columns = [list(column) for column in zip(*rows, strict=True)]
        statement = self.views.write_statement(table, arrays=True)
        cursor.execute(self._sql(statement, t=table.name), columns)


class AdvisoryLease:
    """A session advisory lock held on a dedicated PostgreSQL connection."""

    def __init__(self, conninfo: str, key: int, **kwargs: Any) -> None:
        self.conninfo = conninfo
        self.kwargs = {k: v for k, v in kwargs.items() if k not in ("row_factory", "autocommit")}
        self.key = key
        self._connection: psycopg.Connection[Any] | None = None

    def try_acquire(self) -> bool:
        """True if the lock is ours; False if another session holds it or the database is
        out of reach (a restart: try again later)."""
        try:
            connection = psycopg.connect(
                self.conninfo, autocommit=True, connect_timeout=CONNECT_SECONDS, **self.kwargs
            )
        except psycopg.OperationalError:
            return False
        try:
            row = connection.execute("SELECT pg_try_advisory_lock(%s)", [self.key]).fetchone()
        except psycopg.Error:
            row = None
        if not (row and row[0]):
            connection.close()
            return False
        self._connection = connection
        return True

    def held(self) -> bool:
        """The session lock lives as long as its connection: ask the connection."""
        if self._connection is None:
            return False
        try:
            self._connection.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def release(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(psycopg.Error):
                self._connection.close()
            self._connection = None


def _purging_check(pool: ConnectionPool[Any]) -> Callable[[psycopg.Connection[Any]], None]:
    """A pre-use check that, when a connection is dead, replaces every idle dead one too."""

    def check(connection: psycopg.Connection[Any]) -> None:
        try:
            ConnectionPool.check_connection(connection)
        except Exception:
            pool.check()  # every idle connection checked now, the dead ones replaced
            raise

    return check


TOKENS_TABLE = (
    "CREATE TABLE IF NOT EXISTS {t} (id TEXT PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE,"
    " principal TEXT NOT NULL, created TEXT NOT NULL, revoked BOOLEAN NOT NULL DEFAULT false,"
    " request TEXT UNIQUE)"
)


class SchemaTable:
    """A table of the ledger's schema beside eventsourcing's: every node sees it at once."""

    name: str
    ddl: str  # CREATE TABLE IF NOT EXISTS {t} ...
    # what later versions added, run after `ddl` ({t}: the table, {schema}: its schema)
    upgrades: tuple[str, ...] = ()

    def __init__(self, datastore: Any) -> None:
        self.datastore = datastore
        self.table = f'"{datastore.schema}"."{self.name}"'

    def create_table(self) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            for statement in (self.ddl, *self.upgrades):
                cursor.execute(statement.format(t=self.table, schema=self.datastore.schema))


SchemaTableT = TypeVar("SchemaTableT", bound=SchemaTable)


class PostgresTokenStore(SchemaTable, TokenStore):
    """Token hashes: a token made or revoked through one node holds on every node at once."""

    name, ddl = "tokens", TOKENS_TABLE

    def create(self, principal: str, request: str | None = None) -> tuple[str, str]:
        parse_principal(principal)
        while True:
            token, digest = new_token()
            with self.datastore.transaction(commit=True) as cursor:
                cursor.execute(
                    f"INSERT INTO {self.table} (id, sha256, principal, created, request)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    [id_of_hash(digest), digest, principal, now_text(), request],
                )
                if cursor.rowcount == 1:
                    return id_of_hash(digest), token
                cursor.execute(f"SELECT 1 FROM {self.table} WHERE request = %s", [request])
                if cursor.fetchone() is not None:
                    raise replayed(str(request))
                # else the id was another token's: draw again

    def revoke(self, token_id: str) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(f"UPDATE {self.table} SET revoked = true WHERE id = %s", [token_id])
            if cursor.rowcount == 0:
                raise LookupError(f"no token with id {token_id!r}")

    def principal_for(self, token: str) -> str | None:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT principal FROM {self.table} WHERE sha256 = %s AND NOT revoked",
                [token_hash(token)],
            )
            row = cursor.fetchone()
        return None if row is None else str(row["principal"])

    def principal_of_id(self, token_id: str) -> str | None:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT principal FROM {self.table} WHERE id = %s AND NOT revoked", [token_id]
            )
            row = cursor.fetchone()
        return None if row is None else str(row["principal"])

    def list(self) -> list[TokenRecord]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT id, sha256, principal, created, revoked, request FROM {self.table}"
                " ORDER BY created, id"
            )
            return [TokenRecord(**row) for row in cursor.fetchall()]


DOCUMENTS_TABLE = (
    "CREATE TABLE IF NOT EXISTS {t} (sha256 TEXT PRIMARY KEY, account TEXT NOT NULL,"
    " content BYTEA NOT NULL)"
)
DOCUMENT_ACCOUNTS_TABLE = (  # each further account a document is attached to
    'CREATE TABLE IF NOT EXISTS "{schema}".document_accounts (sha256 TEXT NOT NULL,'
    " account TEXT NOT NULL, PRIMARY KEY (sha256, account))"
)


class PostgresDocumentStore(SchemaTable, DocumentStore):
    """Evidence documents by SHA-256: every node serves them."""

    name, ddl, upgrades = "documents", DOCUMENTS_TABLE, (DOCUMENT_ACCOUNTS_TABLE,)

    @property
    def _accounts(self) -> str:
        return f'"{self.datastore.schema}".document_accounts'

    def put(self, account: str, content: bytes) -> tuple[str, bool]:
        digest = document_digest(content)
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"INSERT INTO {self.table} (sha256, account, content) VALUES (%s, %s, %s)"
                " ON CONFLICT DO NOTHING",
                [digest, account, content],
            )
            if cursor.rowcount == 1:
                return digest, True
            cursor.execute(
                f"INSERT INTO {self._accounts} (sha256, account) SELECT %s, %s WHERE NOT EXISTS"
                f" (SELECT 1 FROM {self.table} WHERE sha256 = %s AND account = %s)"
                " ON CONFLICT DO NOTHING",
                [digest, account, digest, account],
            )
            return digest, cursor.rowcount == 1

    def get(self, digest: str) -> Document | None:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT account, content FROM {self.table} WHERE sha256 = %s", [digest])
            row = cursor.fetchone()
            if row is None:
                return None
            query = f"SELECT account FROM {self._accounts} WHERE sha256 = %s ORDER BY account"
            cursor.execute(query, [digest])
            others = [str(other["account"]) for other in cursor.fetchall()]
        return Document((str(row["account"]), *others), bytes(row["content"]))


WEBHOOKS_TABLE = (
    "CREATE TABLE IF NOT EXISTS {t} (id TEXT PRIMARY KEY, principal TEXT NOT NULL,"
    " url TEXT NOT NULL, cursor BIGINT NOT NULL, created TEXT NOT NULL, added BIGSERIAL,"
    " token TEXT NOT NULL DEFAULT '')"
)
WEBHOOKS_TOKEN = "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS token TEXT NOT NULL DEFAULT ''"
WEBHOOK_COLUMNS = "id, principal, url, cursor, created, token"


class PostgresWebhookStore(SchemaTable, WebhookStore):
    """Webhook subscriptions: registered through one node, delivered by whichever holds the
    webhooks lease."""

    name, ddl, upgrades = "webhooks", WEBHOOKS_TABLE, (WEBHOOKS_TOKEN,)

    def add(self, principal: str, url: str, cursor: int = 0, token: str = "") -> Webhook:
        webhook = Webhook(new_id(), principal, url, cursor, now_text(), token)
        key = advisory_key(self.datastore.schema, f"webhooks:{principal}")
        with self.datastore.transaction(commit=True) as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", [key])  # counted, then added
            db.execute(f"SELECT COUNT(*) AS n FROM {self.table} WHERE principal = %s", [principal])
            if db.fetchone()["n"] >= MAX_WEBHOOKS:
                raise too_many()
            db.execute(
                f"INSERT INTO {self.table} ({WEBHOOK_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)",
                [webhook.id, principal, url, cursor, webhook.created, token],
            )
        return webhook

    def remove(self, principal: str, webhook_id: str) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"DELETE FROM {self.table} WHERE id = %s AND principal = %s",
                [webhook_id, principal],
            )
            if cursor.rowcount == 0:
                raise not_found()

    def list(self, principal: str | None = None) -> list[Webhook]:
        where, params = ("", []) if principal is None else (" WHERE principal = %s", [principal])
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT {WEBHOOK_COLUMNS} FROM {self.table}{where} ORDER BY added", params
            )
            return [Webhook(**row) for row in cursor.fetchall()]

    def advance(self, webhook_id: str, position: int) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"UPDATE {self.table} SET cursor = %s WHERE id = %s AND cursor < %s",
                [position, webhook_id, position],
            )


# Strings whose code point order a locale's order would change: punctuation (a locale's
# first pass skips it, so 'per:b01;' would sort before 'per:b01:x'), case and accents.
ORDER_SAMPLE = ("per:b01:x", "per:b01;", "per:b01_", "B", "a", "Z", "é", "ind:1", "ind;")


def check_text_order(connection: psycopg.Connection[Any]) -> None:
    """The database sorts text by code point, as the ledger's key ranges, cursors and
    SQLite do (`LC_COLLATE` C, POSIX or C.UTF-8); TextOrder otherwise."""
    row = connection.execute(
        "SELECT array_agg(x ORDER BY x) FROM unnest(%s::text[]) AS x", [list(ORDER_SAMPLE)]
    ).fetchone()
    if row is None or row[0] != sorted(ORDER_SAMPLE):
        found = connection.execute(
            "SELECT datcollate FROM pg_database WHERE datname = current_database()"
        ).fetchone()
        raise TextOrder(
            f"PostgreSQL database {connection.info.dbname!r} sorts text by a locale"
            f" ({found[0] if found else 'unknown'}), so a bank's accounts and other key ranges"
            " would miss rows: create the ledger's database with code point order (createdb"
            " --locale=C.UTF-8 --template=template0, or POSTGRES_INITDB_ARGS=--locale=C.UTF-8"
            " for the postgres image) and move the data there (pg_dump, pg_restore)"
        )


class Postgres(Backend):
    name = "postgres"
    persistence_module = "eventsourcing.postgres"
    application_recorder = LedgerPostgresRecorder
    log_recorder_class = PostgresLogRecorder
    view_recorder_class = PostgresViewRecorder
    _order_checked = False  # once an instance: check_text_order

    @classmethod
    def defaults(cls, data_dir: Path) -> dict[str, str]:
        return {
            "POSTGRES_LOCK_TIMEOUT": "5",
            "POSTGRES_PRE_PING": "y",  # a pooled connection is checked before use (restarts)
            "POSTGRES_CONNECT_TIMEOUT": "5",  # then a request waiting for one gets 503
            "POSTGRES_POOL_SIZE": "4",
            "POSTGRES_MAX_OVERFLOW": "4",
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
            "APPLICATION_RECORDER_TOPIC": cls.recorder_topic(),
        }

    @contextlib.contextmanager
    def _setup_lock(self) -> Iterator[None]:
        settings = self.settings
        key = advisory_key(settings.get("POSTGRES_SCHEMA") or "public", "setup")
        with psycopg.connect(
            dbname=settings.get("POSTGRES_DBNAME"),
            host=settings.get("POSTGRES_HOST"),
            port=settings.get("POSTGRES_PORT"),
            user=settings.get("POSTGRES_USER"),
            password=settings.get("POSTGRES_PASSWORD"),
            autocommit=True,
        ) as connection:
            if not self._order_checked:
                check_text_order(connection)
                self._order_checked = True
            connection.execute("SELECT pg_advisory_lock(%s)", [key])
            yield

    def setup_lock(self) -> AbstractContextManager[None]:
        """An advisory lock: PostgreSQL refuses concurrent DDL from processes starting
        together ("tuple concurrently updated")."""
        return self._setup_lock()

    def prepare(self, factory: InfrastructureFactory[Any]) -> None:
        pool = cast(SQLFactory, factory).datastore.pool
        # Private: psycopg_pool keeps the pre-use check in `_check` and offers no setter.
        # Its own check discards one dead connection per attempt and backs off from 1 s,
        # doubling, so after a restart a pool of dead connections outlasts the request's
        # timeout; this one purges them all on the first failure (tests/test_storage_faults,
        # and tests/test_storage_layout.py pins psycopg_pool's use of `_check`).
        pool._check = _purging_check(pool)

    def missing(self) -> str | None:
        return None  # a server: whether it holds a ledger is asked of its tables

    def lease(
        self, factory: InfrastructureFactory[Any], data_dir: Path, purpose: str
    ) -> AdvisoryLease:
        datastore = cast(SQLFactory, factory).datastore
        key = advisory_key(datastore.schema, purpose)
        return AdvisoryLease(datastore.pool.conninfo, key, **datastore.pool.kwargs)

    def _schema_table(
        self, factory: InfrastructureFactory[Any], kind: type[SchemaTableT], create: bool
    ) -> SchemaTableT:
        store = kind(cast(SQLFactory, factory).datastore)
        if create:
            with self.setup_lock():
                store.create_table()
        return store

    def document_store(
        self, factory: InfrastructureFactory[Any], data_dir: Path, create: bool = False
    ) -> DocumentStore:
        return self._schema_table(factory, PostgresDocumentStore, create)

    def token_store(
        self, factory: InfrastructureFactory[Any], data_dir: Path, create: bool = False
    ) -> TokenStore:
        return self._schema_table(factory, PostgresTokenStore, create)

    def webhook_store(
        self, factory: InfrastructureFactory[Any], data_dir: Path, create: bool = False
    ) -> WebhookStore:
        return self._schema_table(factory, PostgresWebhookStore, create)

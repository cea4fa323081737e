"""Shared fixtures: every storage test runs on SQLite and on PostgreSQL (own schema each).

The HTTP tests get `client`, a TestClient over `app`; a module overrides `app` to run the
integrator (or projections) in the background while the client is open.
"""

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.node import Node
from projections.runner import run_projections
from tests.support import new_node

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}
IN_CI = os.environ.get("CI") == "true"


def _postgres_reachable() -> bool:
    try:
        with psycopg.connect(**PG, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def postgres_env(schema: str) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": PG["dbname"],
        "POSTGRES_HOST": PG["host"],
        "POSTGRES_PORT": str(PG["port"]),
        "POSTGRES_USER": PG["user"],
        "POSTGRES_PASSWORD": "postgres",
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_POOL_SIZE": "4",
    }


@pytest.fixture(params=["sqlite", "postgres"])
def storage(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """eventsourcing settings for one test: SQLite in its tmp dir, or its own PG schema."""
    if request.param == "sqlite":
        yield {}
        return
    yield from _postgres_schema()


@pytest.fixture
def postgres_storage() -> Iterator[dict[str, str]]:
    """Settings for a test of what only PostgreSQL has (advisory locks, backends)."""
    yield from _postgres_schema()


def _postgres_schema() -> Iterator[dict[str, str]]:
    if not _postgres_reachable():
        if IN_CI:
            pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432 and CI=true")
        pytest.skip("PostgreSQL is not reachable")
    with postgres_schema() as settings:
        yield settings


@contextlib.contextmanager
def postgres_schema(prefix: str = "t") -> Iterator[dict[str, str]]:
    """Settings for a new schema of the test database, dropped afterwards (once PostgreSQL
    is back, if a test restarted it)."""
    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(**PG, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield postgres_env(schema)
    finally:
        for _ in range(30):
            try:
                with psycopg.connect(**PG, autocommit=True) as connection:
                    connection.execute(f"DROP SCHEMA {schema} CASCADE")
                break
            except psycopg.OperationalError:
                time.sleep(1)


def opened_node(data_dir: Path, storage: dict[str, str]) -> Iterator[Node]:
    """A node for a fixture: opened on `storage`, closed after the test."""
    opened = new_node(data_dir, storage)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def node(data_dir: Path, storage: dict[str, str]) -> Iterator[Node]:
    yield from opened_node(data_dir, storage)


@pytest.fixture
def app(node: Node) -> FastAPI:
    """The API over `node`, with nothing running in the background."""
    return create_app(node)


@pytest.fixture
def server(node: Node) -> Iterator[Any]:
    """A transport into the app over `node` (LedgerClient's `transport`), with its
    integrator and projector running."""
    app = create_app(node, node.run_integrator, partial(run_projections, node))
    with TestClient(app) as test_client:

        def send(method: str, url: str, headers: Any, body: Any) -> Any:
            response = test_client.request(method, url, headers=headers, content=body)
            return response.status_code, dict(response.headers), response.content

        yield send


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client of `app`, started (its lifespan entered) for the test."""
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def console(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Node]]:
    """A demo city served on one backend for a whole test module: its base URL and node."""
    if request.param == "sqlite":
        storages: Iterator[dict[str, str]] = iter([{}])
    else:
        storages = _postgres_schema()
    storage = next(storages)
    from tests.browser import demo_city, serving  # the browser tests' own helpers

    node = new_node(tmp_path_factory.mktemp("console") / "data", storage)
    try:
        demo_city(node)
        with serving(node) as base:
            yield base, node
    finally:
        node.close()
        next(storages, None)  # drops the schema


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium under Playwright, for a whole test module."""
    from tests.browser import launched

    with launched() as opened:
        yield opened

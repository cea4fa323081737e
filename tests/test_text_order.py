"""The ledger's key ranges (a bank's accounts, every enterprise for grading) and cursors
compare text by code point, as SQLite does: a PostgreSQL database that sorts text by a
locale would silently miss rows, so the ledger refuses to open on one."""

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from ledger.node import init_node
from ledger.settings import Settings
from ledger.storage.base import TextOrder
from tests.conftest import PG, postgres_env
from tests.files import run_cli


@pytest.fixture
def locale_database(postgres_storage: dict[str, str]) -> Iterator[str]:
    """A database whose text order is ICU's en-US (punctuation and case weighed apart)."""
    name = f"locale_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(**PG, autocommit=True) as connection:
        connection.execute(
            f"CREATE DATABASE {name} TEMPLATE template0 LOCALE 'C.UTF-8'"
            " LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
        )
    try:
        yield name
    finally:
        with psycopg.connect(**PG, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_a_database_that_sorts_text_by_locale_is_refused(locale_database, tmp_path):
    with psycopg.connect(**{**PG, "dbname": locale_database}) as connection:
        # what would break: 'per:b01:x' is a bank b01's account, 'per:b01;' its range's end
        assert connection.execute("SELECT 'per:b01:x' < 'per:b01;'").fetchone() == (False,)
    storage = {**postgres_env("public"), "POSTGRES_DBNAME": locale_database}
    with pytest.raises(TextOrder, match="sorts text by a locale"):
        init_node(Settings.build(tmp_path / "data", storage))
    init = run_cli("init", "--data", str(tmp_path / "data"), text=True, env=os.environ | storage)
    assert init.returncode == 2
    assert "sorts text by a locale" in init.stderr and "Traceback" not in init.stderr

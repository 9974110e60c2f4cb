"""Store fixtures shared by the store and upload tests: each runs on SQLite, and on PostgreSQL when
RISKENGINE_TEST_PG_URL names one (.ci/postgres.sh starts it; CI always sets it). Each PostgreSQL test gets
its own schema, dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from riskengine.store import Store

PG_URL = os.environ.get("RISKENGINE_TEST_PG_URL")


def _pg_store() -> Iterator[Store]:
    if not PG_URL:
        pytest.skip("RISKENGINE_TEST_PG_URL is not set (run .ci/postgres.sh to start a local PostgreSQL)")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    url = sa.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    store = Store.open(url.render_as_string(hide_password=False))
    try:
        yield store
    finally:
        store.close()
        with admin.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:
    if request.param == "sqlite":
        store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
        yield store
        store.close()
    else:
        yield from _pg_store()


def table_contents(store: Store) -> dict[str, str]:
    """A digest of every row of every table: compares a PostgreSQL database before and after."""
    contents = {}
    with store.engine.connect() as connection:
        for name in sorted(sa.inspect(connection).get_table_names()):
            contents[name] = connection.execute(
                sa.text(
                    f"SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') "
                    f"FROM {name} AS t"
                )
            ).scalar_one()
    return contents

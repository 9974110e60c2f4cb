"""Alembic environment: run against the connection `Store.open` hands over (or a URL from the config)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

import riskengine.web.tables  # noqa: F401  (registers the web tables on metadata, so autogenerate keeps them)
from riskengine.store.tables import metadata

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url"), poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        _run(conn)

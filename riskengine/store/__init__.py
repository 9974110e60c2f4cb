"""Storage: SQLAlchemy tables, Alembic migrations and the `Store` read/write API (SQLite or PostgreSQL)."""

from riskengine.store.store import Store, StoredUpload, default_url
from riskengine.store.tables import metadata

__all__ = ["Store", "StoredUpload", "default_url", "metadata"]

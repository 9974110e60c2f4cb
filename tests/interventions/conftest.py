from tests.store.stores import store  # noqa: F401  (the fixture, on SQLite and PostgreSQL)

"""Migration 0004 on SQLite and PostgreSQL: the unused login_attempts table goes, the TOTP step and audit
journal key columns come, pupils stored before it get their opaque refs; and it downgrades cleanly."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from riskengine.spec import upload as spec
from riskengine.store import Store
from riskengine.store import store as store_module
from riskengine.store import tables as t
from tests.store.test_store_api import write
from tests.upload.pupil_frames import valid_pupils


def _migrate(store: Store, step, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(store_module._MIGRATIONS))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        step(config, revision)


def _columns(store: Store, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(store.engine).get_columns(table)}


def test_0004_upgrades_and_downgrades(store: Store) -> None:
    pupils = valid_pupils(12, seed=3).astype(spec.canonical_dtypes())
    write(store, pupils, year="2024/25", term="autumn")
    with store.engine.connect() as connection:  # an upload gives every new pupil its ref
        assert connection.execute(sa.select(sa.func.count()).select_from(t.pupil_refs)).scalar() == 12

    _migrate(store, command.downgrade, "0003")
    assert "login_attempts" in sa.inspect(store.engine).get_table_names()
    assert "totp_last_step" not in _columns(store, "users")
    assert "entry_key" not in _columns(store, "audit_log")
    with store.engine.begin() as connection:  # as a store from before 0004: pupils viewed never had refs
        connection.execute(sa.delete(t.pupil_refs))

    _migrate(store, command.upgrade, "0004")
    assert store.schema_revision() == "0004"
    assert "login_attempts" not in sa.inspect(store.engine).get_table_names()
    assert "totp_last_step" in _columns(store, "users") and "entry_key" in _columns(store, "audit_log")
    with store.engine.connect() as connection:
        refs = connection.execute(sa.select(t.pupil_refs.c.upn, t.pupil_refs.c.ref)).all()
    assert sorted(upn for upn, _ in refs) == sorted(pupils["upn"])
    assert all(len(ref) == 24 for _, ref in refs) and len({ref for _, ref in refs}) == 12

"""What scoring reads from the store, on SQLite and PostgreSQL: only the pupils on roll in the scored term
(with their history), in canonical dtypes; and a store whose schema is current opens without Alembic."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from riskengine.spec import upload as spec
from riskengine.store import Store
from riskengine.store import store as store_module
from tests.store.test_store_api import write
from tests.upload.pupil_frames import valid_pupils


def test_reading_only_the_pupils_on_roll_in_a_term_keeps_their_history(store: Store) -> None:
    pupils = valid_pupils(30, seed=4).astype(spec.canonical_dtypes())
    pupils["ncyear"] = pd.array([8, 9, 10] * 10, dtype="Int64")
    write(store, pupils, year="2023/24", term="summer")
    staying = pupils.iloc[:20].assign(ncyear=pupils["ncyear"].iloc[:20] + 1)
    write(store, staying, year="2024/25", term="autumn")
    write(store, pupils.iloc[25:], year="2024/25", term="spring")  # a later term is never read

    everything = store.read_pupil_terms(up_to=("2024/25", "autumn"))
    read = store.read_pupil_terms(up_to=("2024/25", "autumn"), on_roll=("2024/25", "autumn"), min_ncyear=10)
    on_roll = staying.loc[staying["ncyear"] >= 10, "upn"]
    expected = everything[everything["upn"].isin(on_roll)].reset_index(drop=True)
    pd.testing.assert_frame_equal(read, expected)
    assert set(read["upn"]) == set(on_roll) and len(read) == 2 * len(on_roll)  # history included
    assert read.dtypes.to_dict() == spec.canonical_dtypes()


def test_the_head_revision_read_from_the_files_is_alembics() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(store_module._MIGRATIONS))
    assert store_module.head_revision() == ScriptDirectory.from_config(config).get_current_head()


def test_a_current_store_opens_without_running_alembic(store: Store, monkeypatch) -> None:
    url = store.engine.url.render_as_string(hide_password=False)
    assert store.schema_revision() == store_module.head_revision()

    def no_alembic(self, revision="head"):
        raise AssertionError("Alembic ran on a current store")

    monkeypatch.setattr(Store, "upgrade", no_alembic)
    Store.open(url).close()


def test_a_store_behind_the_head_is_upgraded_on_open(store: Store) -> None:
    from alembic import command
    from alembic.config import Config

    url = store.engine.url.render_as_string(hide_password=False)
    config = Config()
    config.set_main_option("script_location", str(store_module._MIGRATIONS))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    assert store.schema_revision() == "0001"
    assert Store.open(url).schema_revision() == store_module.head_revision()
    assert "users" in sa.inspect(store.engine).get_table_names()  # made by 0002 again

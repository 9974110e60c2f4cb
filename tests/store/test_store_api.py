"""The Store API on SQLite and PostgreSQL: migrations, pupil-term reads that never look ahead, atomic
replacement, rollback on failure, destinations and scores."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from riskengine.spec import upload as spec
from riskengine.store import Store, tables
from tests.upload.pupil_frames import make_upns, valid_pupils

UPLOAD = {
    "filename": "f.csv",
    "sha256": "0" * 64,
    "mapping": "canonical",
    "mapping_sha256": None,
    "n_rows": 0,
    "n_warnings": 0,
    "uploaded_by": "test",
}


def write(
    store: Store, frame: pd.DataFrame, school: str = "123456", year: str = "2024/25", term: str = "autumn"
):
    frame = frame.assign(school_urn=school, academic_year=year, term=term).astype(spec.canonical_dtypes())
    return store.write_pupil_terms(frame, school_urn=school, academic_year=year, term=term, upload=UPLOAD)


def test_open_brings_schema_to_latest_revision(store: Store) -> None:
    with store.engine.connect() as connection:
        version = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    assert version >= "0001"
    assert {"schools", "pupils", "pupil_terms", "uploads", "destinations", "score_runs", "scores"} <= set(
        sa.inspect(store.engine).get_table_names()
    )


def test_default_url_uses_riskengine_home(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("RISKENGINE_DB_URL", raising=False)
    monkeypatch.setenv("RISKENGINE_HOME", str(tmp_path / "home"))
    store = Store.open()
    store.close()
    assert (tmp_path / "home" / "riskengine.db").exists()


def test_pupil_terms_round_trip_with_canonical_dtypes(store: Store) -> None:
    frame = valid_pupils(40, seed=1)
    write(store, frame)
    back = store.read_pupil_terms()
    assert back.dtypes.to_dict() == spec.canonical_dtypes()
    expected = frame.sort_values("upn").reset_index(drop=True)
    pd.testing.assert_frame_equal(back, expected)


def test_read_never_returns_a_later_term_and_sorts_by_upn_then_term(store: Store) -> None:
    upns = make_upns(5, seed=2)
    terms = [("2023/24", "summer"), ("2024/25", "autumn"), ("2024/25", "spring"), ("2024/25", "summer")]
    for year, term in terms:
        write(store, valid_pupils(5, seed=3, upns=upns), year=year, term=term)
    up_to_spring = store.read_pupil_terms(up_to=("2024/25", "spring"))
    assert set(zip(up_to_spring.academic_year, up_to_spring.term, strict=True)) == set(terms[:3])
    index = [
        spec.term_index(y, t) for y, t in zip(up_to_spring.academic_year, up_to_spring.term, strict=True)
    ]
    pairs = list(zip(up_to_spring.upn, index, strict=True))
    assert pairs == sorted(pairs)
    only_two = store.read_pupil_terms(upns=upns[:2], schools=["123456"])
    assert set(only_two.upn) == set(upns[:2]) and len(only_two) == 8
    assert store.read_pupil_terms(schools=["999999"]).empty


def test_rewriting_a_term_replaces_only_that_school_and_term(store: Store) -> None:
    write(store, valid_pupils(10, seed=4), school="111111")
    write(store, valid_pupils(10, seed=5), school="222222")
    first = write(store, valid_pupils(10, seed=6), school="111111", term="spring")
    smaller = valid_pupils(3, seed=7)
    second = write(store, smaller, school="111111", term="spring")
    assert second.replaced_upload_id == first.upload_id and second.n_replaced == 10
    spring = store.read_pupil_terms(schools=["111111"]).query("term == 'spring'")
    assert sorted(spring.upn) == sorted(smaller.upn)
    assert len(store.read_pupil_terms()) == 10 + 10 + 3
    uploads = store.list_uploads("111111")
    assert uploads.loc[uploads.id == first.upload_id, "active"].item() == False  # noqa: E712
    assert uploads.loc[uploads.id == second.upload_id, "status"].item() == "replaced"


def test_a_failing_write_stores_nothing(store: Store) -> None:
    write(store, valid_pupils(10, seed=8))
    before_terms, before_uploads = store.read_pupil_terms(), store.list_uploads()
    broken = valid_pupils(6, seed=9)
    broken.loc[5, "upn"] = broken.loc[0, "upn"]  # primary-key clash half-way through the insert
    with pytest.raises(sa.exc.IntegrityError):
        write(store, broken)
    pd.testing.assert_frame_equal(store.read_pupil_terms(), before_terms)
    pd.testing.assert_frame_equal(store.list_uploads(), before_uploads)


def test_destinations_are_stored_once(store: Store) -> None:
    frame = pd.DataFrame(
        {
            "upn": make_upns(3, seed=10),
            "activity_code": [210, 540, 810],
            "activity_date": pd.to_datetime(["2025-10-01", "2025-11-01", "2026-01-15"]),
            "academic_age": [16, None, 17],
        }
    ).astype({"upn": "string", "activity_code": "Int64", "academic_age": "Int64"})
    assert store.write_destinations(frame, upload=UPLOAD).n_stored == 3
    assert store.write_destinations(frame, upload=UPLOAD).n_stored == 0
    back = store.read_destinations()
    expected = frame.sort_values(["upn", "activity_date"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)
    assert back.dtypes.astype(str).to_dict() == {
        "upn": "string",
        "activity_code": "Int64",
        "activity_date": "datetime64[ns]",
        "academic_age": "Int64",
    }


def test_scores_round_trip_and_latest_run(store: Store) -> None:
    upns = make_upns(2, seed=11)
    scores = pd.DataFrame(
        {
            "upn": upns,
            "school_urn": "123456",
            "academic_year": "2024/25",
            "term": "spring",
            "ncyear": [9, 10],
            "points": [12.0, 3.0],
            "band": ["high", "low"],
            "always_flag": [True, False],
            "fired": [["attendance_low", "looked_after"], []],
            "reasons": [["Attendance is 71%."], []],
            "probability": [0.42, None],
            "flag": [True, False],
            "flag_source": ["both", None],
            "flag_reason": ["rule and model", ""],
            "reasons_up": [[{"feature": "attendance", "text": "low attendance"}], []],
            "reasons_down": [[], []],
            "contributions": [{"attendance": 0.8}, {"attendance": -0.1}],
        }
    )
    run = {
        "academic_year": "2024/25",
        "term": "spring",
        "rule_set_version": "r1",
        "feature_version": "f1",
        "model_version": None,
        "threshold": {"top_percent": 10},
        "settings": {"outcome": "default"},
    }
    first = store.save_scores(run, scores)
    second = store.save_scores({**run, "rule_set_version": "r2"}, scores.iloc[:1])
    assert second > first
    latest = store.read_scores(academic_year="2024/25", term="spring")
    assert (latest.run_id == second).all() and len(latest) == 1
    back = store.read_scores(first)
    assert back.fired.tolist() == scores.fired.tolist()
    assert back.contributions.tolist() == scores.contributions.tolist()
    assert back.reasons_up.tolist() == scores.reasons_up.tolist()
    assert back.probability.isna().tolist() == [False, True]
    runs = store.list_score_runs()
    assert runs.rule_set_version.tolist() == ["r1", "r2"] and runs.n_pupils.tolist() == [2, 1]
    assert runs.threshold.iloc[0] == {"top_percent": 10}


def test_read_pupil_score_finds_the_latest_term_not_the_newest_run(store: Store) -> None:
    upns = make_upns(2, seed=5)
    base = {"school_urn": "123456", "ncyear": 10, "points": 1.0, "band": "low", "flag": False}
    run = {"rule_set_version": "r", "feature_version": "f", "model_version": None}
    ids = {}
    terms = [("2024/25", "summer", upns), ("2024/25", "autumn", upns), ("2023/24", "summer", upns[:1])]
    for year, term, who in terms:  # created in this order: the newest run is the oldest term
        frame = pd.DataFrame({"upn": who, **base, "academic_year": year, "term": term})
        ids[year, term] = store.save_scores({**run, "academic_year": year, "term": term}, frame)
    row, found = store.read_pupil_score(upns[1])
    assert found["id"] == ids["2024/25", "summer"] and row["term"] == "summer" and row["upn"] == upns[1]
    assert store.read_pupil_score(upns[0], run_id=ids["2023/24", "summer"])[1]["term"] == "summer"
    assert store.read_pupil_score(upns[0], term="autumn")[1]["id"] == ids["2024/25", "autumn"]
    assert store.read_pupil_score(upns[1], academic_year="2023/24") is None


def test_migrations_match_the_declared_tables(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    ours = {"schools", "pupils", "uploads", "pupil_terms", "destinations", "score_runs", "scores"}

    def table_of(diff: tuple) -> str | None:
        item = diff[1] if len(diff) > 1 else None
        table = getattr(item, "table", item)
        return getattr(table, "name", None)

    with store.engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), tables.metadata)
    assert [d for d in diffs if not isinstance(d, list) and table_of(d) in ours] == []


def test_only_one_upload_can_hold_a_term(store: Store) -> None:
    write(store, valid_pupils(3, seed=12))
    duplicate = {**UPLOAD, "kind": "pupil_terms", "school_urn": "123456", "academic_year": "2024/25"}
    duplicate.update(
        term="autumn", n_stored=0, uploaded_at=pd.Timestamp.now(tz="UTC"), status="stored", active=True
    )
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as connection:
        connection.execute(sa.insert(tables.uploads).values(**duplicate))

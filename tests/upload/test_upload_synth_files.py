"""The synthetic generator's files (riskengine.synth) upload as schools would send them: canonical files
round-trip to the generator's own frame; messy MIS exports read with the suggested shipped mapping and are
rejected only for the wrong check letters the generator plants."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from riskengine.spec import upload as spec
from riskengine.store import Store
from riskengine.synth import generate, write_uploads
from riskengine.upload import upload_file
from riskengine.upload.mapping import suggest_mapping
from riskengine.upload.reading import read_table


@pytest.fixture(scope="module")
def la():
    return generate(pupils=30, cohorts=2, schools=2, seed=5)


def request_of(path: Path) -> dict[str, str]:
    urn, year, term = path.stem.split("_")
    return {"school_urn": urn, "academic_year": year.replace("-", "/"), "term": term}


def in_term_order(frame: pd.DataFrame) -> pd.DataFrame:
    index = spec.term_indices(frame["academic_year"], frame["term"])
    order = frame.assign(_t=index).sort_values(["upn", "_t", "school_urn"]).index
    return frame.loc[order].reset_index(drop=True)


@pytest.mark.slow
def test_canonical_synthetic_files_round_trip(la, tmp_path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'synth.db'}")
    for path in write_uploads(la, tmp_path / "files"):
        result = upload_file(store, path, **request_of(path))
        assert result.status == "stored", result.report()
    expected = in_term_order(la.pupil_terms[list(spec.COLUMNS)].astype(spec.canonical_dtypes()))
    pd.testing.assert_frame_equal(in_term_order(store.read_pupil_terms()), expected)
    store.close()


@pytest.mark.slow
def test_messy_exports_fail_only_on_planted_check_letters(la, tmp_path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'messy.db'}")
    for path in write_uploads(la, tmp_path / "files", messy=True):
        headers = list(read_table(path.read_bytes(), path.name)[0].columns)
        mapping = suggest_mapping(headers, spec.COLUMNS)
        result = upload_file(store, path, **request_of(path), mapping=mapping)
        assert result.status == "rejected"
        assert set(result.errors["column"]) == {"upn"}, result.report()
        assert result.errors["message"].str.startswith("check letter should be").all()
    store.close()

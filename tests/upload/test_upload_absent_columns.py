"""An optional column absent from a whole file: one warning, in words, naming the features left unknown."""

from __future__ import annotations

from typer.testing import CliRunner

from riskengine.cli import app
from riskengine.features import load_catalogue
from riskengine.store import Store
from riskengine.upload import upload_bytes
from tests.upload.pupil_frames import to_csv_bytes, valid_pupils

ABSENT = ["young_carer", "alternative_provision", "school_moves", "ks2_reading_scaled", "ks2_maths_scaled"]


def test_each_absent_optional_column_is_one_warning_naming_its_features(tmp_path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'db.sqlite'}")
    pupils = valid_pupils(30, seed=3)
    full = upload_bytes(store, to_csv_bytes(pupils), "full.csv", "123456", "2024/25", "autumn")
    assert full.ok and not full.warnings["message"].str.contains("optional column").any()

    lacking = to_csv_bytes(pupils.drop(columns=ABSENT).assign(term="spring"))
    result = upload_bytes(store, lacking, "lacking.csv", "123456", "2024/25", "spring")
    assert result.ok  # optional: stored anyway
    said = result.warnings[result.warnings["message"].str.contains("optional column")]
    assert sorted(said["column"]) == sorted(ABSENT)  # one each, never one per row
    assert said["row"].isna().all()
    catalogue = load_catalogue()
    ks2 = said.loc[said["column"] == "ks2_reading_scaled", "message"].iloc[0]
    assert catalogue.label("ks2_reading_scaled") in ks2 and "unknown for every pupil" in ks2
    carer = said.loc[said["column"] == "young_carer", "message"].iloc[0]
    assert catalogue.label("young_carer") in carer


def test_the_command_says_it_once(tmp_path) -> None:
    path = tmp_path / "autumn.csv"
    path.write_bytes(to_csv_bytes(valid_pupils(12, seed=4).drop(columns=["young_carer"])))
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    args = ["upload", str(path), "--school", "123456", "--year", "2024/25", "--term", "autumn", "--db", db]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    assert out.output.count("young_carer") == 1 and "Young carer" in out.output

"""Audit attributes beyond sex and ethnicity: declared ones stored at upload (never model inputs),
undeclared extra columns named as ignored and not stored, and the declared ones audited."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from riskengine.cli import app
from riskengine.evaluation.attributes import declared_extra_attributes
from riskengine.spec import upload as spec
from riskengine.store import Store
from tests.upload.pupil_frames import to_csv_bytes, valid_pupils

RUNNER = CliRunner()


def _file(path: Path, pupils: pd.DataFrame, **extra: list[str]) -> Path:
    text = to_csv_bytes(pupils).decode("utf-8-sig").splitlines()
    header, rows = text[0], text[1:]
    names = list(extra)
    header += "," + ",".join(names)
    rows = [row + "," + ",".join(extra[n][i] for n in names) for i, row in enumerate(rows)]
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_declared_attributes_are_stored_and_undeclared_ones_named_as_ignored(tmp_path: Path) -> None:
    assert "disability" in declared_extra_attributes()
    db = f"sqlite:///{tmp_path / 'store.db'}"
    pupils = valid_pupils(60, seed=50)
    rng = np.random.default_rng(0)
    need = list(rng.choice(["Y", "N", ""], 60, p=[0.2, 0.7, 0.1]))
    path = _file(tmp_path / "autumn.csv", pupils, disability=need, shoe_size=["7"] * 60)
    args = ["--school", "123456", "--year", "2024/25", "--term", "autumn", "--db", db]
    result = RUNNER.invoke(app, ["upload", str(path), *args])
    assert result.exit_code == 0, result.output
    assert "'shoe_size'" in result.output and "ignored" in result.output
    assert "disability" not in result.output.split("ignored")[-1]

    store = Store.open(db)
    stored = store.read_audit_attributes()
    assert set(stored["attribute"]) == {"disability"}
    assert len(stored) == sum(c != "" for c in need)
    assert set(stored["value"]) == {"Y", "N"}
    terms = store.read_pupil_terms()
    assert "disability" not in terms.columns and "shoe_size" not in terms.columns
    assert list(terms.columns) == list(spec.COLUMNS)  # never a model input: not in the pupil-terms frame

    # The term uploaded again without the column: its attributes go with the replaced upload.
    again = tmp_path / "autumn-again.csv"
    again.write_bytes(to_csv_bytes(pupils))
    assert RUNNER.invoke(app, ["upload", str(again), *args]).exit_code == 0
    assert store.read_audit_attributes().empty


def test_a_declared_attribute_is_audited_for_another_tools_flags(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    pupils = valid_pupils(600, seed=51)
    rng = np.random.default_rng(1)
    need = list(rng.choice(["Y", "N"], 600, p=[0.2, 0.8]))
    path = _file(tmp_path / "autumn.csv", pupils, disability=need)
    args = ["--school", "123456", "--year", "2024/25", "--term", "autumn", "--db", db]
    assert RUNNER.invoke(app, ["upload", str(path), *args]).exit_code == 0
    scores = pd.DataFrame(
        {
            "upn": pupils["upn"],
            "flag": rng.random(600) < 0.2,
            "neet": rng.random(600) < 0.15,
        }
    )
    scores.to_csv(tmp_path / "flags.csv", index=False)
    out = tmp_path / "report"
    result = RUNNER.invoke(
        app,
        [
            "evaluate",
            "--scores",
            str(tmp_path / "flags.csv"),
            "--outcome-column",
            "neet",
            "--db",
            db,
            "--out",
            str(out),
            "--no-mlflow",
        ],
    )
    assert result.exit_code == 0, result.output
    groups = pd.DataFrame(json.loads((out / "report.json").read_text())["tables"]["audit_groups"])
    assert {"Y", "N"} == set(groups.loc[groups["attribute"] == "disability", "group"])
    info = json.loads((out / "report.json").read_text())["run_info"]
    assert "idaci_decile" in info["attributes_not_audited"]  # declared, absent: said, not dropped

"""The CLI is a thin wrapper: exit code 0 when stored, 1 when rejected, problems written as CSV on request."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from riskengine.cli import app
from tests.upload.pupil_frames import make_upns, to_csv_bytes, valid_pupils

RUNNER = CliRunner()


def test_upload_destinations_and_uploads_commands(tmp_path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    good, bad = tmp_path / "autumn.csv", tmp_path / "spring.csv"
    good.write_bytes(to_csv_bytes(valid_pupils(5, seed=40)))
    bad.write_bytes(
        to_csv_bytes(valid_pupils(5, seed=41, term="spring")).replace(b",spring,", b",winter,", 1)
    )
    args = ["--school", "123456", "--year", "2024/25", "--db", db]

    stored = RUNNER.invoke(app, ["upload", str(good), *args, "--term", "autumn"])
    assert stored.exit_code == 0 and "stored 5 row(s)" in stored.output

    problems = tmp_path / "problems.csv"
    rejected = RUNNER.invoke(
        app, ["upload", str(bad), *args, "--term", "spring", "--errors-csv", str(problems)]
    )
    assert rejected.exit_code == 1 and "row 2, term: 'winter' is not a term" in rejected.output
    assert pd.read_csv(problems)["column"].tolist() == ["term"]

    nccis = tmp_path / "nccis.csv"
    nccis.write_text(f"upn,activity_code,activity_date\n{make_upns(1, seed=42)[0]},540,2025-11-03\n")
    loaded = RUNNER.invoke(app, ["destinations", str(nccis), "--db", db])
    assert loaded.exit_code == 0 and "stored 1 row(s)" in loaded.output

    listed = RUNNER.invoke(app, ["uploads", "--db", db])
    assert listed.exit_code == 0 and "autumn.csv" in listed.output and "nccis.csv" in listed.output

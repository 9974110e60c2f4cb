"""The written report: self-contained HTML stating what it judged, JSON and CSVs that agree, no pupil rows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from evaluation_data import DEFINITION

from riskengine.evaluation import write_report
from riskengine.evaluation.report import published


@pytest.fixture(scope="module")
def report_dir(biased, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    write_report(biased, out)
    return out


def test_html_is_self_contained(report_dir: Path) -> None:
    html = (report_dir / "report.html").read_text()
    assert "<script" not in html.lower()
    assert not re.search(r"(href|src)\s*=\s*\"(?!data:|#)", html)  # only inline images, no links out
    assert "http://" not in html and "https://" not in html
    images = re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 5  # ROC, precision at k, calibration, lead time, disparities


def test_html_states_the_definition_window_and_versions(biased, report_dir: Path) -> None:
    html = (report_dir / "report.html").read_text()
    assert DEFINITION.fingerprint in html
    assert DEFINITION.describe() in html
    for version in ("rules-test", "features-test", "model-test"):
        assert version in html
    for term in biased.run_info["scoring_terms"] + biased.run_info["cohorts_year11"]:
        assert term in html
    assert "outside the band" in html and "Black" in html


def test_json_and_csv_hold_the_same_tables(biased, report_dir: Path) -> None:
    payload = json.loads((report_dir / "report.json").read_text())
    shown = published(biased)
    assert set(payload["tables"]) == set(biased.tables)
    assert payload["headline"]["disparities_outside_band"] == biased.headline["disparities_outside_band"]
    for name, records in payload["tables"].items():
        from_json = pd.DataFrame.from_records(records, columns=list(shown.tables[name].columns))
        from_csv = pd.read_csv(report_dir / "tables" / f"{name}.csv", dtype={"school_urn": str, "group": str})
        assert list(from_csv.columns) == list(from_json.columns)
        assert len(from_csv) == len(from_json) == len(shown.tables[name])
        for column in from_csv.columns:
            left, right = from_csv[column], from_json[column]
            if pd.api.types.is_numeric_dtype(left) and pd.api.types.is_numeric_dtype(right):
                np.testing.assert_allclose(
                    left.astype(float), right.astype(float), rtol=1e-12, equal_nan=True
                )
            else:
                assert left.astype(object).where(left.notna(), "").astype(str).tolist() == (
                    right.astype(object).where(right.notna(), "").astype(str).tolist()
                )


def test_no_pupil_identifier_is_written(biased, report_dir: Path) -> None:
    upn_like = re.compile(r"T\d{12}")
    for path in report_dir.rglob("*"):
        if path.is_file():
            assert not upn_like.search(path.read_text(errors="ignore")), path.name
    assert not upn_like.search(json.dumps(biased.run_info))

"""Written files: one per school per term, reproducible byte for byte, and (messy) like real exports."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
from stdnum.gb import upn as stdnum_upn
from typer.testing import CliRunner

from riskengine.cli import app
from riskengine.spec import upload as spec
from riskengine.synth import SyntheticLA, generate, write_destinations, write_uploads
from riskengine.synth.files import EXPORT_STYLES


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _write_all(la: SyntheticLA, folder: Path, messy: bool = False) -> dict[str, str]:
    write_uploads(la, folder, messy=messy)
    write_destinations(la, folder / "destinations.csv")
    return _digest(folder)


def test_one_canonical_file_per_school_per_term(small_la: SyntheticLA, tmp_path: Path) -> None:
    paths = write_uploads(small_la, tmp_path)
    keys = small_la.pupil_terms[["school_urn", "academic_year", "term"]].drop_duplicates()
    assert len(paths) == len(keys)
    first = paths[0]
    urn, year, term = first.stem.split("_")
    frame = pd.read_csv(first, dtype=str, keep_default_na=False)
    assert tuple(frame.columns) == spec.COLUMNS
    assert (frame["school_urn"] == urn).all() and (frame["academic_year"] == year.replace("-", "/")).all()
    assert (frame["term"] == term).all()
    assert set(frame["permanent_exclusion"]) <= {"Y", "N"}
    assert frame["upn"].is_monotonic_increasing


def test_files_read_back_to_the_generated_frame(small_la: SyntheticLA, tmp_path: Path) -> None:
    (path,) = write_uploads(small_la, tmp_path, single_file=True)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False).replace("", pd.NA)
    for column in spec.BOOL_COLUMNS:
        frame[column] = frame[column].map({"Y": True, "N": False})
    frame = frame.astype(spec.canonical_dtypes())
    expected = small_la.pupil_terms.sort_values(
        ["academic_year", "term", "school_urn", "upn"], ignore_index=True
    )
    pd.testing.assert_frame_equal(frame, expected)
    destinations = pd.read_csv(
        write_destinations(small_la, tmp_path / "d.csv"), dtype=str, keep_default_na=False
    )
    assert len(destinations) == len(small_la.destinations)
    assert destinations["activity_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()


def test_the_same_seed_writes_byte_identical_files(tmp_path: Path) -> None:
    first, second, other = (generate(pupils=80, cohorts=6, schools=3, seed=seed) for seed in (7, 7, 8))
    for messy in (False, True):
        written = [
            _write_all(la, tmp_path / f"{messy}{i}", messy) for i, la in enumerate((first, second, other))
        ]
        assert written[0] == written[1]
        assert written[0] != written[2]


def test_messy_files_are_messy(small_la: SyntheticLA, tmp_path: Path) -> None:
    paths = write_uploads(small_la, tmp_path, messy=True)
    names = list(EXPORT_STYLES)
    style_of = {urn: names[i % len(names)] for i, urn in enumerate(small_la.schools["school_urn"])}
    seen = set()
    for path in paths:
        data = path.read_bytes()
        style = style_of[path.name[:6]]
        seen.add(style)
        if style == "sims":  # Windows-1252 bytes that are not valid UTF-8
            with pytest.raises(UnicodeDecodeError):
                data.decode("utf-8")
            assert b"\r\n" in data
        if style == "arbor":
            assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM
        text = data.decode("utf-8-sig") if style == "arbor" else data.decode("cp1252")
        frame = pd.read_csv(pd.io.common.StringIO(text), dtype=str, keep_default_na=False)
        headers = {h.strip().lower() for h in frame.columns}
        if style != "shouty":
            assert len(headers & set(spec.COLUMNS)) < 5  # renamed (a few names coincide, e.g. eal)
        upns = frame.iloc[:, 0]
        assert not upns.map(stdnum_upn.is_valid).all()  # a wrong check letter in every file
    assert seen == set(EXPORT_STYLES)
    combined = pd.concat(
        pd.read_csv(p, dtype=str, keep_default_na=False, encoding="cp1252" if style_of[p.name[:6]] != "arbor"
                    else "utf-8-sig").iloc[:, 1:]
        for p in paths
    )  # fmt: skip
    assert (combined == "").to_numpy().mean() > 0.005  # blank cells


@pytest.mark.slow
def test_messy_files_follow_the_shipped_mappings(small_la: SyntheticLA, tmp_path: Path) -> None:
    """Each messy file reads back through the ingestion stage's own mapping with no error but bad UPNs."""
    from riskengine.upload.mapping import load_mapping
    from riskengine.upload.pupil_terms import validate_pupil_cells
    from riskengine.upload.reading import read_table

    names = list(EXPORT_STYLES)
    style_of = {urn: names[i % len(names)] for i, urn in enumerate(small_la.schools["school_urn"])}
    latest = {style_of[p.name[:6]]: p for p in write_uploads(small_la, tmp_path, messy=True)}
    assert set(latest) == set(EXPORT_STYLES)
    for style, path in latest.items():
        urn, year, term = path.stem.split("_")
        cells, _ = read_table(path.read_bytes(), path.name)
        typed, errors, _ = validate_pupil_cells(
            cells,
            load_mapping(style if style in ("sims", "arbor") else None, spec.COLUMNS),
            {"school_urn": urn, "academic_year": year.replace("-", "/"), "term": term},
        )
        assert len(errors) >= 1 and set(errors["column"]) == {"upn"}, (style, errors.head())
        assert len(typed) == len(cells)


def test_cli_writes_the_uploads_and_destinations(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["synth", str(tmp_path), "--pupils", "40", "--cohorts", "6", "--schools", "2", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "destination rows" in result.output
    assert (tmp_path / "destinations.csv").exists()
    assert len(list(tmp_path.glob("*_*_*.csv"))) > 30
    single = CliRunner().invoke(app, ["synth", str(tmp_path / "one"), "--pupils", "40", "--single-file"])
    assert single.exit_code == 0 and (tmp_path / "one" / "pupil_terms.csv").exists()
    refused = CliRunner().invoke(app, ["synth", str(tmp_path / "bad"), "--as-of", "2026 autumn"])
    assert refused.exit_code != 0

"""Loading many files at once: folders and files in any mix, a combined file split by school and term,
term order, refused files stopping nothing else, --check, and the summary an analyst reads."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from riskengine.cli import app
from riskengine.store import Store
from riskengine.upload import load_destination_paths, load_paths
from tests.upload.pupil_frames import make_upns, to_csv_bytes, valid_pupils

RUNNER = CliRunner()
TERMS = (("2024/25", "autumn"), ("2024/25", "spring"), ("2024/25", "summer"))


def school_terms(urn: str, seed: int, n: int = 6) -> list[pd.DataFrame]:
    """One school's three terms of the same pupils (one leaves after autumn)."""
    upns = make_upns(n, seed=seed, offset=seed * 100)
    frames = []
    for i, (year, term) in enumerate(TERMS):
        kept = upns if i == 0 else upns[:-1]
        frame = valid_pupils(len(kept), seed=seed, school_urn=urn, academic_year=year, term=term, upns=kept)
        frames.append(frame.assign(ncyear=9))
    return frames


def test_a_folder_and_a_combined_file_load_in_term_order(tmp_path, store: Store) -> None:
    folder = tmp_path / "termly"
    folder.mkdir()
    # School A sends one file per term, named so that sorting by name would put summer before spring.
    for frame, name in zip(school_terms("100001", seed=1), ("c_autumn", "b_summer", "a_spring"), strict=True):
        (folder / f"{name}.csv").write_bytes(to_csv_bytes(frame))
    (folder / "notes.txt").write_text("not a termly file")
    combined = tmp_path / "la_wide.csv"  # school B's whole year in one file
    combined.write_bytes(to_csv_bytes(pd.concat(school_terms("100002", seed=2), ignore_index=True)))

    batch = load_paths(store, [folder, combined])

    summary = batch.summary
    assert batch.ok and set(summary["status"]) == {"stored"}
    assert sorted(summary["file"].unique()) == ["a_spring.csv", "b_summer.csv", "c_autumn.csv", "la_wide.csv"]
    assert summary.loc[summary["file"] == "la_wide.csv", "term"].tolist() == [
        f"{term} {year}" for year, term in TERMS
    ]
    order = summary["term"].map({f"{term} {year}": i for i, (year, term) in enumerate(TERMS)})
    assert order.is_monotonic_increasing  # each part compared with the term before it, so stored in order
    assert summary["rows"].sum() == len(store.read_pupil_terms())
    # The pupil who left after autumn is noticed in spring, compared with autumn (the previous term) only.
    spring = summary[summary["term"] == "spring 2024/25"]
    assert (spring["warnings"] >= 1).all()
    again = load_paths(store, [folder, combined]).summary
    assert set(again["status"]) == {"unchanged"}


def test_refused_files_stop_nothing_else_unless_asked(tmp_path, store: Store) -> None:
    good, bad = school_terms("100001", seed=3)[:2]
    bad.loc[0, "ncyear"] = 42
    (tmp_path / "1_good.csv").write_bytes(to_csv_bytes(good))
    (tmp_path / "0_bad.csv").write_bytes(to_csv_bytes(bad))
    (tmp_path / "2_no_term.csv").write_bytes(to_csv_bytes(good.drop(columns="term")))

    batch = load_paths(store, [tmp_path])
    status = batch.summary.set_index("file")["status"]
    assert not batch.ok
    assert status.to_dict() == {"2_no_term.csv": "refused", "1_good.csv": "stored", "0_bad.csv": "refused"}
    problems = batch.problems_frame()
    assert "give it with --term" in " ".join(problems.loc[problems["file"] == "2_no_term.csv", "message"])
    assert problems.loc[problems["file"] == "0_bad.csv", "column"].tolist() == ["ncyear"]
    assert len(store.read_pupil_terms()) == len(good)

    summer = tmp_path / "later" / "3_summer.csv"
    summer.parent.mkdir()
    summer.write_bytes(to_csv_bytes(school_terms("100001", seed=3)[2]))
    other = Store.open(f"sqlite:///{tmp_path / 'other.db'}")
    paths = [summer, tmp_path / "0_bad.csv", tmp_path / "1_good.csv"]
    stopped = load_paths(
        other, paths, stop_on_error=True
    )  # autumn stored, spring refused: summer never tried
    assert stopped.summary[["file", "status"]].values.tolist() == [
        ["1_good.csv", "stored"],
        ["0_bad.csv", "refused"],
    ]
    assert len(other.read_pupil_terms()) == len(good)


def test_options_fill_missing_columns_and_must_agree_with_present_ones(tmp_path, store: Store) -> None:
    frame = school_terms("100001", seed=4)[0]
    no_keys = tmp_path / "export.csv"
    no_keys.write_bytes(to_csv_bytes(frame.drop(columns=["school_urn", "academic_year", "term"])))
    filled = load_paths(store, [no_keys], school_urn="100001", academic_year="2024/25", term="autumn")
    assert filled.summary[["school", "term", "status"]].values.tolist() == [
        ["100001", "autumn 2024/25", "stored"]
    ]
    with_keys = tmp_path / "with_keys.csv"
    with_keys.write_bytes(to_csv_bytes(frame))
    disagree = load_paths(store, [with_keys], term="spring")
    assert disagree.summary["status"].tolist() == ["refused"]
    message = disagree.results[0].errors["message"].iloc[0]
    assert "says autumn" in message and "--term option says spring" in message


def test_check_validates_everything_and_stores_nothing(tmp_path, store: Store) -> None:
    for i, frame in enumerate(school_terms("100001", seed=5)):
        (tmp_path / f"{i}.csv").write_bytes(to_csv_bytes(frame))
    checked = load_paths(store, [tmp_path], check=True)
    assert checked.ok and set(checked.summary["status"]) == {"checked"}
    assert store.read_pupil_terms().empty and store.list_uploads().empty


def test_cli_upload_folder_prints_a_summary_and_exits_1_when_any_file_is_refused(tmp_path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    folder = tmp_path / "files"
    folder.mkdir()
    autumn, spring, _ = school_terms("100001", seed=6)
    (folder / "autumn.csv").write_bytes(to_csv_bytes(autumn))
    (folder / "spring.csv").write_bytes(to_csv_bytes(spring.assign(ncyear=99)))
    errors = tmp_path / "problems.csv"

    result = RUNNER.invoke(app, ["upload", str(folder), "--db", db, "--errors-csv", str(errors)])

    assert result.exit_code == 1
    assert "autumn.csv" in result.output and "stored" in result.output
    assert "spring.csv (100001 spring 2024/25): refused" in result.output
    assert "1 refused" in result.output and "1 stored" in result.output
    written = pd.read_csv(errors, dtype=str)
    assert set(written["file"]) == {"spring.csv"} and set(written["column"]) == {"ncyear"}

    checked = RUNNER.invoke(app, ["upload", str(folder / "autumn.csv"), "--db", db, "--check"])
    assert checked.exit_code == 0 and "nothing was stored" in checked.output


def test_destinations_batch_records_the_as_of_date(tmp_path, store: Store) -> None:
    upns = make_upns(3, seed=7)
    first, second = tmp_path / "nccis_1.csv", tmp_path / "nccis_2.csv"
    first.write_text(f"upn,activity_code,activity_date\n{upns[0]},540,2025-11-01\n")
    second.write_text(
        f"upn,activity_code,activity_date\n{upns[1]},220,2025-11-01\n{upns[2]},540,2025-11-02\n"
    )
    assert store.destinations_as_of() is None

    batch = load_destination_paths(store, [tmp_path], as_of="2026-04-30")

    assert batch.summary[["file", "status", "rows"]].values.tolist() == [
        ["nccis_1.csv", "stored", 1],
        ["nccis_2.csv", "stored", 2],
    ]
    assert str(store.destinations_as_of()) == "2026-04-30"
    assert len(store.read_destinations()) == 3


def test_cli_destinations_says_the_as_of_date_it_recorded(tmp_path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    nccis = tmp_path / "nccis.csv"
    nccis.write_text(f"upn,activity_code,activity_date\n{make_upns(1, seed=8)[0]},540,2025-11-03\n")
    today = RUNNER.invoke(app, ["destinations", str(nccis), "--db", db, "--check"])
    assert today.exit_code == 0 and "(today; give --as-of DATE" in today.output
    dated = RUNNER.invoke(app, ["destinations", str(nccis), "--db", db, "--as-of", "2026-04-30"])
    assert dated.exit_code == 0 and "Destinations as of 30 April 2026." in dated.output
    assert str(Store.open(db).destinations_as_of()) == "2026-04-30"
    wrong = RUNNER.invoke(app, ["destinations", str(nccis), "--db", db, "--as-of", "30/04/2026"])
    assert wrong.exit_code != 0 and "should be a date like" in wrong.output

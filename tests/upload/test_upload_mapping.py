"""The shipped example mappings turn two common MIS export shapes into exactly the canonical frame, and
problems name the school's own header."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from riskengine.paths import data_path
from riskengine.spec import upload as spec
from riskengine.store import Store
from riskengine.upload import InvalidFile, load_mapping, read_pupil_file, upload_bytes
from tests.upload.pupil_frames import to_text_frame, valid_pupils

FRAME = valid_pupils(20, seed=12)


def export(frame: pd.DataFrame, name: str, sep: str = ",") -> bytes:
    """What the MIS would write: the mapping's headers and code spellings (the first listed for each code)."""
    mapping = yaml.safe_load(data_path("upload", "mappings", f"{name}.yaml").read_text())
    text = to_text_frame(frame)
    for column, table in (mapping.get("values") or {}).items():
        inverse = {}
        for theirs, ours in table.items():
            inverse.setdefault(str(ours), str(theirs))
        text[column] = text[column].map(lambda v, inv=inverse: inv.get(v, v))
    text = text.drop(columns=list(mapping.get("fill_from_upload") or []))
    text = text.rename(columns={ours: theirs for theirs, ours in mapping["columns"].items()})
    return text.to_csv(index=False, sep=sep).encode()


@pytest.mark.parametrize(("name", "sep"), [("sims", ","), ("arbor", ";")])
def test_shipped_mappings_read_to_the_canonical_frame(name: str, sep: str, store: Store) -> None:
    data = export(FRAME, name, sep)
    header = data.decode().splitlines()[0].split(sep)
    assert len(set(header) - set(spec.COLUMNS)) > 15  # genuinely a different shape
    result = upload_bytes(store, data, f"{name}.csv", "123456", "2024/25", "autumn", mapping=name)
    assert result.status == "stored", result.report()
    pd.testing.assert_frame_equal(store.read_pupil_terms(), FRAME.sort_values("upn").reset_index(drop=True))
    assert store.list_uploads()["mapping"].tolist() == [name]


def test_problems_name_the_schools_own_header() -> None:
    frame = FRAME.copy()
    frame.loc[3, "sen_provision"] = "Z"
    with pytest.raises(InvalidFile) as caught:
        read_pupil_file(export(frame, "arbor"), mapping="arbor")
    assert "row 5, sen_provision ('SEN Provision'): 'Z' is not a SEN provision code" in str(caught.value)


def test_missing_column_under_a_mapping_says_which(tmp_path) -> None:
    data = export(FRAME.drop(columns=["fsm_eligible"]), "sims")
    with pytest.raises(
        InvalidFile, match="fsm_eligible: this required column is missing \\(using mapping 'sims'\\)"
    ):
        read_pupil_file(data, mapping="sims")


def test_a_mapping_naming_a_non_canonical_column_is_refused(tmp_path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("name: typo\ncolumns:\n  Pupil UPN: unp\n")
    with pytest.raises(ValueError, match="unp"):
        load_mapping(path, spec.COLUMNS)

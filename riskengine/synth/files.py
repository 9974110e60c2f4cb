"""Writing a generated local authority the way schools and the NCCIS system would hand it over.

Schools upload one CSV per term (`{urn}_{2024-25}_{autumn}.csv`); the LA's caseload system exports one
destinations file. Files are byte-for-byte reproducible: fixed column order, rows sorted by their keys,
integers only (no floats to format), no timestamps.

`messy=True` imitates real management-information exports for ingestion tests. Each school exports in one
of the EXPORT_STYLES, in turn: "sims" and "arbor" use the headers and code spellings of the shipped column
mappings upload/mappings/sims.yaml and arbor.yaml (so the files read back with `--mapping sims` / `arbor`;
the SIMS report has no URN, year or term columns), "shouty" uses the canonical names in capitals padded with
spaces. Encodings are Windows-1252 (with no-break spaces around SIMS headers, so the bytes are not valid
UTF-8) or UTF-8 with a BOM; line ends CRLF or LF; booleans Yes/No, TRUE/FALSE or 1/0. Some cells are blank
(BLANK_SHARE), a few UPNs carry a wrong check letter (INVALID_UPN_SHARE, at least one per file) and a few
pupils have a temporary UPN (TEMPORARY_UPN_SHARE, the same in all their files). All of it is seeded from the
LA's seed, so messy files are reproducible too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from riskengine.spec import destinations as destinations_spec
from riskengine.spec import upload as spec
from riskengine.spec.upn import CHECK_ALPHABET, with_check_letter
from riskengine.synth.generator import SyntheticLA


@dataclass(frozen=True)
class ExportStyle:
    """How one school's MIS writes the upload.

    `mapping` names a shipped column mapping (upload/mappings/NAME.yaml): the file then uses its headers and
    code spellings and leaves out the columns it fills from the upload. `pad` surrounds every header (the
    spec matches headers after trimming; a no-break space is an Excel habit and not valid UTF-8 in cp1252).
    """

    mapping: str | None
    encoding: str
    true: str
    false: str
    lineterminator: str
    pad: str = ""


CANONICAL: Final = ExportStyle(None, "utf-8", "Y", "N", "\n")
#: The styles messy files rotate through, school by school.
EXPORT_STYLES: Final = {
    "sims": ExportStyle("sims", "cp1252", "Yes", "No", "\r\n", pad="\u00a0"),
    "arbor": ExportStyle("arbor", "utf-8-sig", "TRUE", "FALSE", "\n"),
    "shouty": ExportStyle(None, "cp1252", "1", "0", "\r\n", pad=" "),  # canonical names in capitals
}


@dataclass(frozen=True)
class _Layout:
    """A style made concrete: the columns written, their headers, and code spellings to substitute."""

    columns: tuple[str, ...]
    headers: tuple[str, ...]
    values: dict[str, dict[str, str]]  # canonical column -> {canonical value: the export's spelling}


def _layout(style: ExportStyle) -> _Layout:
    if style.mapping is None:
        return _Layout(spec.COLUMNS, tuple(f"{style.pad}{c.upper()}{style.pad}" if style.pad else c
                                           for c in spec.COLUMNS), {})  # fmt: skip
    from riskengine.upload.mapping import load_mapping  # the ingestion stage's own reading of the YAML

    mapping = load_mapping(style.mapping, spec.COLUMNS)
    header_of: dict[str, str] = {}
    for header, column in mapping.columns.items():
        header_of.setdefault(column, header)
    columns = tuple(c for c in spec.COLUMNS if c not in mapping.fill_from_upload)
    values = {column: {} for column in mapping.values}
    for column, table in mapping.values.items():
        for spelling, canonical in table.items():
            values[column].setdefault(canonical, spelling)
    headers = tuple(f"{style.pad}{header_of.get(c, c)}{style.pad}" for c in columns)
    return _Layout(columns, headers, values)


#: Share of cells left blank in messy files: optional columns, and the required risk factors.
BLANK_SHARE: Final = {"optional": 0.04, "required": 0.005}
INVALID_UPN_SHARE: Final = 0.003
TEMPORARY_UPN_SHARE: Final = 0.002
_REQUIRED_RISK = tuple(c for c in spec.REQUIRED_COLUMNS if c not in spec.KEY_COLUMNS)


def upload_file_name(school_urn: str, academic_year: str, term: str) -> str:
    """How a school names its upload, e.g. `123456_2024-25_autumn.csv`."""
    return f"{school_urn}_{academic_year.replace('/', '-')}_{term}.csv"


def _key_order(frame: pd.DataFrame, keys: Iterable[str]) -> np.ndarray:
    """Row order sorting by `keys` (strings), via sorted factorisation: fast and deterministic."""
    codes = [pd.factorize(frame[k], sort=True)[0] for k in keys]
    return np.lexsort(codes[::-1])


def _as_text(frame: pd.DataFrame, style: ExportStyle, layout: _Layout) -> dict[str, pa.Array]:
    """Every column as Arrow text ('' = blank), booleans and codes spelt the style's way."""
    out = {}
    for column in spec.COLUMNS:
        values = pa.array(frame[column].array)
        if column in spec.BOOL_COLUMNS:
            values = pc.if_else(values, style.true, style.false)
        values = pc.cast(values, pa.string())
        for canonical, spelling in layout.values.get(column, {}).items():
            values = pc.if_else(pc.equal(values, canonical), spelling, values)
        out[column] = pc.fill_null(values, "")
    return out


def _temporary_upns(upns: np.ndarray, rng: np.random.Generator) -> dict[str, str]:
    """Temporary UPNs (final character a letter) for a few pupils, each keeping the same one throughout."""
    chosen = upns[rng.random(len(upns)) < TEMPORARY_UPN_SHARE]
    letters = np.array(list(CHECK_ALPHABET))[rng.integers(0, len(CHECK_ALPHABET), len(chosen))]
    return {u: with_check_letter(u[1:12] + letter) for u, letter in zip(chosen, letters, strict=True)}


def _replace(values: pa.Array, rows: np.ndarray, replacements: list[str]) -> pa.Array:
    mask = np.zeros(len(values), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(values, pa.array(mask), pa.array(replacements, pa.string()))


def _mess_up(
    text: dict[str, pa.Array], rng: np.random.Generator, temporary: dict[str, str], invalid: np.ndarray
) -> dict[str, pa.Array]:
    """Blank cells, temporary UPNs and a few wrong check letters (at least one per file), as in exports."""
    n = len(text["upn"])
    for column in spec.COLUMNS:
        if column not in spec.KEY_COLUMNS:
            share = BLANK_SHARE["required" if column in _REQUIRED_RISK else "optional"]
            text[column] = pc.if_else(pa.array(rng.random(n) < share), "", text[column])
    upn = text["upn"]
    if temporary:
        rows = np.flatnonzero(
            pc.is_in(upn, value_set=pa.array(list(temporary))).to_numpy(zero_copy_only=False)
        )
        upn = _replace(upn, rows, [temporary[u] for u in upn.take(rows).to_pylist()])
    bad = np.unique(np.r_[invalid, np.flatnonzero(rng.random(n) < INVALID_UPN_SHARE)]).astype(np.int64)
    # A wrong check letter: the right one moved 1-22 places along the alphabet, so never right by chance.
    shift = 1 + rng.integers(0, len(CHECK_ALPHABET) - 1, len(bad))
    wrong = [
        CHECK_ALPHABET[(CHECK_ALPHABET.index(u[0]) + s) % len(CHECK_ALPHABET)] + u[1:]
        for u, s in zip(upn.take(bad).to_pylist(), shift, strict=True)
    ]
    text["upn"] = _replace(upn, bad, wrong)
    return text


def _lines(text: dict[str, pa.Array], columns: Iterable[str], free_text: Iterable[str]) -> pa.Array:
    """One CSV line per row. Only `free_text` columns (an export's own spellings, such as "Education,
    Health and Care Plan") can hold a comma or quote, so only they are checked and quoted."""
    cells = {c: text[c] for c in columns}
    for column in set(free_text) & set(cells):
        values = cells[column]
        quoted = pc.binary_join_element_wise('"', pc.replace_substring(values, '"', '""'), '"', "")
        needs = pc.or_(pc.match_substring(values, ","), pc.match_substring(values, '"'))
        cells[column] = pc.if_else(needs, quoted, values)
    return pc.binary_join_element_wise(*cells.values(), ",")


def _write(path: Path, header: Iterable[str], lines: list[str], style: ExportStyle) -> None:
    end = style.lineterminator
    path.write_bytes((end.join([",".join(header), *lines]) + end).encode(style.encoding))


def write_uploads(
    la: SyntheticLA,
    folder: str | Path,
    messy: bool = False,
    single_file: bool = False,
    progress: bool = False,
) -> list[Path]:
    """Write the pupil-terms as schools upload them: one CSV per school per term (or one file in all).

    Canonical files use the spec's headers, Y/N booleans and empty blanks, UTF-8. `messy` imitates real
    exports (see the module docstring). Returns the paths written, in order.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frame = la.pupil_terms
    frame = frame.iloc[_key_order(frame, ("academic_year", "term", "school_urn", "upn"))].reset_index(
        drop=True
    )
    if single_file:
        files = {("pupil_terms.csv", ""): np.arange(len(frame))}
    else:
        groups = frame.groupby(["academic_year", "term", "school_urn"], sort=True).indices
        files = {(upload_file_name(urn, year, term), urn): rows for (year, term, urn), rows in groups.items()}
    names = list(EXPORT_STYLES)
    style_of = {urn: names[i % len(names)] for i, urn in enumerate(la.schools["school_urn"])}

    def style_name(urn: str) -> str:
        # A single combined file needs its key columns, which the SIMS report leaves out.
        return style_of.get(urn, "arbor") if messy else "canonical"

    styles = {"canonical": CANONICAL, **EXPORT_STYLES}
    rng = np.random.default_rng([la.seed, 0x4D455353])  # "MESS": independent of the generator's stream
    temporary = _temporary_upns(np.sort(la.truth.index.to_numpy(dtype=str)), rng) if messy else {}
    # One wrong check letter in every file at least, at a random row.
    one_per_file = np.array([rows[rng.integers(len(rows))] for rows in files.values()])
    # Each style renders only the rows of its own files; `position` maps a frame row to its line.
    position = np.empty(len(frame), dtype=np.int64)
    lines, layouts = {}, {}
    for name in sorted({style_name(urn) for _, urn in files}):
        own = np.concatenate([rows for (_, urn), rows in files.items() if style_name(urn) == name])
        position[own] = np.arange(len(own))
        layouts[name] = _layout(styles[name])
        text = _as_text(frame.iloc[own], styles[name], layouts[name])
        if messy:
            text = _mess_up(text, rng, temporary, position[np.intersect1d(one_per_file, own)])
        lines[name] = _lines(text, layouts[name].columns, layouts[name].values)

    written = []
    for (file_name, urn), rows in tqdm(
        files.items(), desc="writing uploads", unit="file", disable=not progress
    ):
        name = style_name(urn)
        text_lines = lines[name].take(pa.array(position[rows])).to_pylist()
        _write(folder / file_name, layouts[name].headers, text_lines, styles[name])
        written.append(folder / file_name)
    return written


def write_destinations(la: SyntheticLA, path: str | Path) -> Path:
    """Write the NCCIS destinations file: the spec's columns, ISO dates, blank academic age when unknown."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    records = la.destinations
    order = np.lexsort(
        (
            records["activity_code"].to_numpy(dtype=np.int64),
            records["activity_date"].to_numpy(dtype="datetime64[D]").astype(np.int64),
            pd.factorize(records["upn"], sort=True)[0],
        )
    )
    records = records.iloc[order]
    text = pd.DataFrame(
        {
            "upn": records["upn"].to_numpy(dtype=str),
            "activity_code": records["activity_code"].to_numpy(dtype=np.int64),
            "activity_date": records["activity_date"].to_numpy(dtype="datetime64[D]").astype(str),
            "academic_age": records["academic_age"].astype("string").to_numpy(dtype=object, na_value=""),
        }
    )
    text[list(destinations_spec.COLUMNS)].to_csv(path, index=False, lineterminator="\n")
    return path

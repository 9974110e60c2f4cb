"""Column mappings: a school's export headers and code values translated onto the canonical upload.

A mapping is a YAML file (see upload/README.md and the examples in upload/mappings/) so a data manager or
analyst can write one without Python. Canonical headers always match themselves, case-insensitively.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from riskengine.paths import data_path
from riskengine.upload.problems import problems


@dataclass(frozen=True)
class ColumnMapping:
    """`columns`: file header -> canonical column; `values`: canonical column -> {file value -> canonical
    value}; `fill_from_upload`: canonical key columns the export lacks, filled from the upload's own
    school, year and term."""

    name: str = "canonical"
    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    fill_from_upload: tuple[str, ...] = ()
    sha256: str | None = None


FILLABLE = ("school_urn", "academic_year", "term")


def load_mapping(source: str | Path | ColumnMapping | None, canonical: Sequence[str]) -> ColumnMapping:
    """A mapping from a YAML path, or the name of a shipped one in upload/mappings/ (e.g. "sims")."""
    if source is None:
        return ColumnMapping()
    if isinstance(source, ColumnMapping):
        return source
    path = Path(source)
    if not path.is_file():
        path = data_path("upload", "mappings", f"{Path(source).stem}.yaml")
    raw = path.read_bytes()
    spec = yaml.safe_load(raw) or {}
    columns = {str(k).strip(): str(v).strip() for k, v in (spec.get("columns") or {}).items()}
    values = {
        str(col): {str(k).strip(): str(v).strip() for k, v in (table or {}).items()}
        for col, table in (spec.get("values") or {}).items()
    }
    fill = tuple(spec.get("fill_from_upload") or ())
    unknown = sorted({*columns.values(), *values, *fill} - set(canonical))
    if unknown:
        raise ValueError(f"mapping {path.name}: {unknown} are not canonical column names")
    if set(fill) - set(FILLABLE):
        raise ValueError(f"mapping {path.name}: fill_from_upload may only name {list(FILLABLE)}")
    return ColumnMapping(
        name=str(spec.get("name") or path.stem),
        columns=columns,
        values=values,
        fill_from_upload=fill,
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def shipped_mappings() -> list[str]:
    """Names of the example mappings in upload/mappings/, for `--mapping NAME` or a web form's choices."""
    return sorted(p.stem for p in data_path("upload", "mappings").glob("*.yaml"))


def suggest_mapping(headers: Sequence[str], canonical: Sequence[str]) -> str | None:
    """The shipped mapping that recognises more of these headers than the canonical names do, if any."""
    folded = {h.casefold() for h in headers}
    best, best_hits = None, len(folded & {c.casefold() for c in canonical})
    for name in shipped_mappings():
        known = {k.casefold() for k in load_mapping(name, canonical).columns}
        hits = len(folded & known)
        if hits > best_hits:
            best, best_hits = name, hits
    return best


def apply_mapping(
    cells: pd.DataFrame,
    mapping: ColumnMapping,
    canonical: Sequence[str],
    required: Sequence[str],
    upload_values: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, dict[str, str], pd.DataFrame, pd.DataFrame]:
    """(frame with canonical columns present in the file, canonical -> file header, errors, warnings)."""
    lookup = {c.casefold(): c for c in canonical}
    lookup.update({k.casefold(): v for k, v in mapping.columns.items()})
    targets = pd.Series([lookup.get(h.casefold()) for h in cells.columns], index=cells.columns, dtype=object)
    err_cols, err_msgs, warn_cols, warn_msgs = [], [], [], []
    blank_headers = [h for h in cells.columns if not h]
    if blank_headers:
        err_cols.append(None)
        err_msgs.append("a column has no name in the first row; name it or delete it")
    duplicated = targets[targets.notna() & targets.duplicated(keep=False)]
    for target, headers in duplicated.groupby(duplicated, sort=True):
        err_cols.append(target)
        err_msgs.append(f"more than one column gives {target}: {', '.join(repr(h) for h in headers.index)}")
    ignored = [h for h in targets[targets.isna()].index if h]
    if ignored:
        warn_cols.append(None)
        warn_msgs.append(f"these columns are not used and were ignored: {', '.join(map(repr, ignored))}")

    keep = targets.notna() & ~targets.duplicated(keep="first")
    frame = cells.loc[:, keep.to_numpy()]
    file_columns = dict(zip(targets[keep], frame.columns, strict=True))
    frame.columns = list(targets[keep])
    for column in mapping.fill_from_upload:
        if column not in frame.columns and upload_values and column in upload_values:
            frame[column] = pd.array([upload_values[column]] * len(frame), dtype="string")
    for column, table in mapping.values.items():
        if column in frame.columns:
            folded = {k.casefold(): v for k, v in table.items()}
            mapped = frame[column].str.casefold().map(folded).astype("string")
            frame[column] = mapped.fillna(frame[column])
    if frame.empty and not cells.columns.empty:
        err_cols.append(None)
        err_msgs.append("the file has no readable pupil rows below the column names")
    missing = [c for c in required if c not in frame.columns]
    suggestion = suggest_mapping(list(cells.columns), canonical) if missing else None
    if suggestion is not None and suggestion != mapping.name:
        err_cols.append(None)
        err_msgs.append(
            f"the column names look like the '{suggestion}' export: try the mapping '{suggestion}'"
        )
    using = f" (using mapping '{mapping.name}')" if mapping.columns else ""
    err_cols += missing
    err_msgs += [f"this required column is missing{using}"] * len(missing)
    errors = problems([None] * len(err_cols), err_cols, err_msgs)
    warnings = problems([None] * len(warn_cols), warn_cols, warn_msgs)
    return frame, file_columns, errors, warnings

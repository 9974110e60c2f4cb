"""`audit`: the fairness audit of any flags on any DataFrame, notebook first.

Give it a frame with an outcome, a flag (and/or a score) and any attribute columns; it returns tidy frames
in fairlearn's manner (one row per attribute and group, one per group and metric for the ratios).
`evaluate()` for stored runs is built on the same engine (`riskengine.evaluation.fairness`).

Nothing is dropped silently: a missing column is an error; a missing value is its own "Not recorded"
group; a reference value that matches no group is an error here (`strict=True`) or a visible "not judged"
row with the reason; a group or reference too small to judge is a row that says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from riskengine.evaluation.fairness import Grouping, audit_groups
from riskengine.evaluation.settings import AuditSettings, load_audit_settings

NOT_RECORDED = "Not recorded"
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


@dataclass(frozen=True)
class AuditResult:
    """Tidy audit frames: `by_group` (counts and rates per scorer, attribute and group), `disparities`
    (ratio to the reference group per metric, with interval and status) and `overall` (per scorer)."""

    by_group: pd.DataFrame
    disparities: pd.DataFrame
    overall: pd.DataFrame


def group_labels(values: pd.Series) -> pd.Series:
    """A column as group labels: booleans "True"/"False", whole numbers without ".0", text as is, and a
    missing value as "Not recorded" (so 0/1, boolean and text codes all read naturally)."""
    if pd.api.types.is_bool_dtype(values.dtype):
        text = values.astype("boolean").astype("string")
    elif pd.api.types.is_numeric_dtype(values.dtype):
        numbers = pd.to_numeric(values, errors="coerce")
        whole = numbers.dropna().eq(numbers.dropna().round()).all()
        text = numbers.astype("Int64").astype("string") if whole else numbers.astype("string")
    else:
        text = values.astype("string")
    return text.fillna(NOT_RECORDED).astype(str).set_axis(values.index)


def as_boolean(values: pd.Series, what: str) -> pd.Series:
    """0/1, True/False or yes/no text as a nullable boolean (missing stays NA); anything else an error."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("boolean")
    text = values.astype("string").str.strip().str.lower()
    text = text.str.replace(r"\.0$", "", regex=True)
    result = pd.Series(pd.NA, index=values.index, dtype="boolean")
    result[text.isin(_TRUE).fillna(False).to_numpy()] = True
    result[text.isin(_FALSE).fillna(False).to_numpy()] = False
    unknown = text.notna() & result.isna()
    if unknown.any():
        examples = sorted(set(values[unknown].astype(str)))[:5]
        raise ValueError(f"{what}: {int(unknown.sum())} value(s) are not yes/no codes, e.g. {examples}")
    return result


def match_reference(reference: Any, labels: Sequence[str]) -> str | None:
    """The group label a reference value names: exactly, else as the same yes/no code (False = 0 = no)."""
    text = str(reference)
    if text in labels:
        return text
    lowered = text.strip().lower()
    for codes in (_TRUE, _FALSE):
        if lowered in codes:
            matches = [label for label in labels if label.strip().lower() in codes]
            if len(matches) == 1:
                return matches[0]
    return None


def build_groupings(
    labels: pd.DataFrame,
    has_outcome: np.ndarray,
    references: Mapping[str, Any],
    intersections: Sequence[Sequence[str]],
    strict: bool,
) -> list[Grouping]:
    """Each attribute and declared intersection with its matched reference group (or why there is none).

    An attribute without a reference is compared with its largest group of pupils with an outcome.
    """
    found: dict[str, Grouping] = {}
    for name, reference in references.items():
        present = sorted(labels[name].unique())
        if reference is None:
            sizes = labels.loc[has_outcome, name].value_counts()
            matched = str(sizes.index[0]) if len(sizes) else None
            problem = None if matched is not None else "no pupil with an outcome"
        else:
            matched = match_reference(reference, present)
            problem = None
            if matched is None:
                problem = f"reference {reference!r} matches no group of {name} (groups: {', '.join(present)})"
                if strict:
                    raise ValueError(problem)
        found[name] = Grouping(name, (name,), matched if matched is not None else str(reference), problem)
    groupings = list(found.values())
    for combo in intersections:
        if unknown := [a for a in combo if a not in found]:
            raise ValueError(f"intersection {' & '.join(combo)} names attributes not audited: {unknown}")
        parts = [found[a] for a in combo]
        problems = [p.problem for p in parts if p.problem]
        groupings.append(
            Grouping(
                " & ".join(combo),
                tuple(combo),
                " / ".join(p.reference or "" for p in parts),
                "; ".join(problems) or None,
            )
        )
    return groupings


def audit(
    frame: pd.DataFrame,
    *,
    outcome: str,
    score: str | None = None,
    flag: str | Sequence[str] | None = None,
    groups: Sequence[str],
    reference: Mapping[str, Any] | None = None,
    intersections: Sequence[Sequence[str]] = (),
    threshold: float | None = None,
    settings: AuditSettings | None = None,
    strict: bool = True,
) -> AuditResult:
    """Audit flags on any frame, e.g. ``audit(df, outcome="y", score="p", flag="flagged",
    groups=["Gender", "Debtor"], reference={"Gender": "F"}, intersections=[("Gender", "Debtor")])``.

    `outcome`: 0/1, boolean or yes/no text; missing = no outcome (counted, left out of the rates).
    `flag`: one column or several (each audited as its own scorer); without it, `score >= threshold`.
    `score`, when a probability in [0, 1], gives the mean predicted rate and observed-over-predicted.
    `reference`: per attribute the group others are compared with (default: its largest group).
    `settings`: bootstrap, band and small-group sizes (the shipped `evaluation/audit.yaml` by default).
    Figures are unprotected, for the analyst's own frame: publish them through `disclosure.protect`.
    """
    base = settings or load_audit_settings()
    needed = [outcome, *([score] if score else []), *groups]
    flags = [flag] if isinstance(flag, str) else list(flag or [])
    needed += flags
    if missing := [c for c in dict.fromkeys(needed) if c not in frame.columns]:
        raise ValueError(
            f"no column(s) {missing} in the frame (columns: {', '.join(map(str, frame.columns))})"
        )
    if not groups:
        raise ValueError("name at least one attribute column in groups=")
    if unknown := set(reference or {}) - set(groups):
        raise ValueError(f"reference given for columns not in groups=: {sorted(unknown)}")
    y = as_boolean(frame[outcome], f"outcome column {outcome!r}").reset_index(drop=True)
    probability = None
    if score is not None:
        values = pd.to_numeric(frame[score], errors="coerce").to_numpy(dtype=np.float64)
        if np.isnan(values[y.notna().to_numpy()]).any():
            raise ValueError(
                f"score column {score!r} is missing or not numeric for some pupils with an outcome"
            )
        probability = values if np.nanmin(values) >= 0 and np.nanmax(values) <= 1 else None
    if flags:
        flag_values = {
            f: as_boolean(frame[f], f"flag column {f!r}").fillna(False).to_numpy(dtype=bool) for f in flags
        }
    elif score is not None and threshold is not None:
        flag_values = {
            score: (pd.to_numeric(frame[score], errors="coerce") >= threshold).to_numpy(dtype=bool)
        }
    else:
        raise ValueError("give flag= (a yes/no column), or score= with threshold=")

    labels = pd.DataFrame({g: group_labels(frame[g]).to_numpy() for g in groups})
    has_outcome = y.notna().to_numpy()
    references = {g: (reference or {}).get(g) for g in groups}
    groupings = build_groupings(labels, has_outcome, references, intersections, strict)
    audit_settings = replace(base, references={}, intersections=(), risk_factors=(), titles={})
    by_group, disparities = audit_groups(labels, groupings, y, flag_values, probability, audit_settings)
    overall_labels = pd.DataFrame({"all": np.full(len(labels), "all pupils")})
    overall, _ = audit_groups(
        overall_labels, [Grouping("all", ("all",), "all pupils")], y, flag_values, probability, audit_settings
    )
    overall = overall.drop(columns=["attribute", "group", "status", "reason"])
    return AuditResult(by_group=by_group, disparities=disparities, overall=overall)

"""Statistical disclosure control: the one place small counts are hidden before any figure leaves the engine.

It follows UK official statistics practice on small counts (the DfE's guidance on suppression in its
statistics, the ONS / Government Statistical Service guidance on disclosure control for tables from
administrative sources; see `evaluation/README.md`):

* a count from 1 to `threshold - 1` is shown as "fewer than 10" (primary suppression); zero is shown;
* other counts are rounded to the nearest `round_to` when the settings say so;
* a rate is blanked when any count it rests on is suppressed (a rate times its denominator is its count);
* secondary suppression: wherever a table declares a named sum (a margin), no suppressed cell may be the
  only unknown in it, so it cannot be worked out by subtraction; the smallest other cell is withheld too.

Two kinds of margin can be declared, as dicts:

* ``{"total": "pupils", "parts": ["flagged"]}`` -- within each row, the parts and an unpublished remainder
  (here the pupils not flagged) add up to the total; the remainder is checked like a published count;
* ``{"column": "pupils", "by": ["attribute"]}`` -- across the rows sharing the `by` values, the column
  adds up to a total the reader may know (published elsewhere), so it is treated as known.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

#: How a secondarily suppressed count reads: at least the threshold, withheld so another cannot be derived.
WITHHELD = "withheld"


@dataclass(frozen=True)
class DisclosureSettings:
    """Threshold below which a count is not shown, and the rounding base for other counts (None: exact)."""

    threshold: int = 10
    round_to: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.threshold, int) or self.threshold < 1:
            raise ValueError("disclosure settings: threshold must be a whole number of at least 1")
        if self.round_to is not None and (not isinstance(self.round_to, int) or self.round_to < 1):
            raise ValueError("disclosure settings: round_to must be a whole number of at least 1, or null")

    @property
    def fewer_than(self) -> str:
        """The text shown in place of a small count."""
        return f"fewer than {self.threshold}"

    @classmethod
    def load(cls, path: str | Path | None = None) -> DisclosureSettings:
        """The `disclosure:` section of an audit settings file (default: shipped `evaluation/audit.yaml`)."""
        if path is None:
            from riskengine.paths import data_path

            path = data_path("evaluation", "audit.yaml")
        raw = yaml.safe_load(Path(path).read_text()) or {}
        section = raw.get("disclosure") or {}
        if unknown := set(section) - {"threshold", "round_to"}:
            raise ValueError(f"disclosure settings: unknown keys {sorted(unknown)}")
        return cls(**section)


def _small(values: np.ndarray, threshold: int) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (values > 0) & (values < threshold)


def _withhold_smallest(
    values: np.ndarray, hidden: np.ndarray, rows: np.ndarray, candidates: np.ndarray
) -> None:
    """In each of `rows`, also hide the smallest candidate cell still shown (a zero only if nothing else)."""
    open_cells = candidates & ~hidden & rows[:, None] & ~np.isnan(values)
    key = np.where(open_cells, np.where(values > 0, values, 1e300), np.inf)
    has = open_cells.any(axis=1)
    choice = np.argmin(key, axis=1)
    hidden[np.flatnonzero(has), choice[has]] = True


def _row_margin(
    values: np.ndarray, hidden: np.ndarray, cols: list[str], margin: Mapping[str, Any], threshold: int
) -> bool:
    """Secondary suppression for total = parts + unpublished remainder, row by row. True if it hid more.

    The remainder (e.g. pupils not flagged) is an unknown unless the parts always cover the total.
    A row is unsafe when it has exactly one unknown and that unknown is hidden or small.
    """
    total = cols.index(margin["total"])
    parts = [cols.index(p) for p in margin["parts"]]
    members = [total, *parts]
    remainder = values[:, total] - np.nansum(values[:, parts], axis=1)
    complete = bool(np.all(np.nan_to_num(remainder) == 0))
    remainder_unknown = 0 if complete else 1
    remainder_unsafe = _small(remainder, threshold) & (not complete)

    def unknowns() -> np.ndarray:
        return hidden[:, members].sum(axis=1) + remainder_unknown

    lone = (unknowns() == 1) & (hidden[:, members].any(axis=1) | remainder_unsafe)
    lone &= ~np.isnan(values[:, total])
    if not lone.any():
        return False
    before = int(hidden.sum())
    part_mask = np.zeros(len(cols), dtype=bool)
    part_mask[parts] = True
    _withhold_smallest(values, hidden, lone, np.broadcast_to(part_mask, hidden.shape))
    hidden[lone & (unknowns() < 2), total] = True
    return int(hidden.sum()) > before


def _group_margin(
    frame: pd.DataFrame, values: np.ndarray, hidden: np.ndarray, cols: list[str], margin: Mapping[str, Any]
) -> bool:
    """Secondary suppression down a column within groups of rows whose sum is known. True if it hid more."""
    column = cols.index(margin["column"])
    by = list(margin.get("by") or [])
    keys = frame[by].astype(str).agg("\x1f".join, axis=1) if by else pd.Series("", index=frame.index)
    codes = pd.factorize(keys)[0]
    present = ~np.isnan(values[:, column])
    hidden_count = np.bincount(
        codes, weights=(hidden[:, column] & present).astype(float), minlength=codes.max() + 1
    )
    lone_group = hidden_count[codes] == 1
    if not lone_group.any():
        return False
    # per group, the smallest shown cell (non-zero first)
    shown = present & ~hidden[:, column] & lone_group
    key = np.where(shown, np.where(values[:, column] > 0, values[:, column], 1e300), np.inf)
    order = pd.DataFrame({"code": codes, "key": key}).groupby("code")["key"].idxmin()
    chosen = order.to_numpy()
    chosen = chosen[np.isfinite(key[chosen])]
    before = hidden[:, column].sum()
    hidden[chosen, column] = True
    return bool(hidden[:, column].sum() > before)


def protect(
    frame: pd.DataFrame,
    *,
    counts: Sequence[str],
    rates: Sequence[str] | Mapping[str, str | Sequence[str]] | None = None,
    margins: Sequence[Mapping[str, Any]] | None = None,
    settings: DisclosureSettings | None = None,
) -> pd.DataFrame:
    """A copy of `frame` safe to publish.

    `counts` are the count columns; `rates` the columns derived from them, either a list (blanked when
    any count in the row is hidden) or a mapping rate -> the count(s) it rests on; `margins` the named
    sums (see the module docstring). Count columns come back as objects: whole numbers (rounded when
    set), "fewer than 10" or "withheld"; hidden rates come back as NaN.
    """
    settings = settings or DisclosureSettings()
    cols = list(counts)
    if missing := [c for c in cols if c not in frame.columns]:
        raise KeyError(f"protect: no count column(s) {missing}")
    out = frame.copy()
    if not cols or out.empty:
        return out
    values = out[cols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    primary = _small(values, settings.threshold)
    hidden = primary.copy()
    for _ in range(100):  # each pass only hides more cells, so this settles
        changed = False
        for margin in margins or ():
            if "total" in margin:
                changed |= _row_margin(values, hidden, cols, margin, settings.threshold)
            else:
                changed |= _group_margin(out, values, hidden, cols, margin)
        if not changed:
            break

    rate_sources: Mapping[str, Sequence[str]]
    if rates is None:
        rate_sources = {}
    elif isinstance(rates, Mapping):
        rate_sources = {r: [s] if isinstance(s, str) else list(s) for r, s in rates.items()}
    else:
        rate_sources = {r: cols for r in rates}
    for rate, sources in rate_sources.items():
        blank = hidden[:, [cols.index(s) for s in sources]].any(axis=1)
        out[rate] = out[rate].astype(float).mask(blank)

    shown = values
    if settings.round_to:
        shown = np.round(values / settings.round_to) * settings.round_to
    for i, column in enumerate(cols):
        cells = pd.Series(shown[:, i], index=out.index).astype("Int64").astype(object)
        cells[cells.isna()] = None
        cells[hidden[:, i]] = WITHHELD
        cells[primary[:, i]] = settings.fewer_than
        out[column] = cells
    return out


def format_count(n: float | int | None, settings: DisclosureSettings | None = None) -> str:
    """One count for a sentence: "" if unknown, "fewer than 10" if small, else the (rounded) whole number."""
    settings = settings or DisclosureSettings()
    if n is None or (isinstance(n, float) and np.isnan(n)) or pd.isna(n):
        return ""
    value = float(n)
    if 0 < value < settings.threshold:
        return settings.fewer_than
    if settings.round_to:
        value = round(value / settings.round_to) * settings.round_to
    return f"{int(value):,}"

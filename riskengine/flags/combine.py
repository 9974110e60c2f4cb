"""The final flag: rules and model side by side, with the reason an adviser reads first.

A pupil is flagged by a rule (any always-flag rule fired, or the rule points reach a flagging band) and/or
by the model (inside the capacity threshold). `flag_source` says which: rule, model, both, or empty.

A million-pupil backtest flags a hundred thousand pupils, so the sentences are built column-wise: each
distinct band note and risk percentage is formatted once, a flagged pupil's sentence is one f-string
around one `str.join` over C-level `map`s (no Python function called per pupil or per fired rule), and the
string columns go to pandas as Arrow arrays (pandas' own conversion checks every object one by one).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from itertools import repeat

import numpy as np
import pandas as pd
import pyarrow as pa

#: Rule bands that flag on their own.
FLAGGING_BANDS: tuple[str, ...] = ("high",)
#: `flag_source` by code (-1: not flagged).
_SOURCES = pa.array(["both", "rule", "model"], type=pa.large_string())


def _always(rules: pd.DataFrame) -> np.ndarray:
    return rules["always_flag"].astype("boolean").fillna(False).to_numpy(bool)


def rule_flags(rules: pd.DataFrame, flagging_bands: Sequence[str] = FLAGGING_BANDS) -> np.ndarray:
    """True where an always-flag rule fired or the band is a flagging one."""
    flagging = rules["band"].astype("string").isin(list(flagging_bands)).fillna(False).to_numpy(bool)
    return _always(rules) | flagging


def _once_per_key(key: np.ndarray, format_one: Callable[[int], str]) -> np.ndarray:
    """`format_one(i)` for every row i, called only on the first row of each distinct `key`."""
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return np.array([format_one(i) for i in first.tolist()], dtype=object)[inverse.reshape(-1)]


def _rule_reasons(
    rules: pd.DataFrame, rows: np.ndarray, always: np.ndarray, titles: Mapping[str, str]
) -> list[str]:
    """ "flagged by rules <title>: <reason>; ... (<band> band, <points> points)" for the pupils at `rows`.

    A rule is named by its title, never its id (without a title, its filled-in reason stands alone); the
    band note is left out when an always-flag rule fired (`always`, for the same rows)."""
    fired = rules["fired"].to_numpy(dtype=object)[rows]
    reasons = rules["reasons"].to_numpy(dtype=object)[rows]
    counts = np.fromiter(map(len, fired), dtype=np.intp, count=len(rows))
    if not np.array_equal(counts, np.fromiter(map(len, reasons), dtype=np.intp, count=len(rows))):
        raise ValueError("each pupil's fired rules and reasons must be lists of the same length")
    heading = {rule: f"{title}: " for rule, title in titles.items() if title}.get
    opening = np.array(["flagged by rules", "flagged by rule ", "flagged by rules "], dtype=object)
    opening = opening[np.minimum(counts, 2)]
    band = rules["band"].array.take(rows)
    points = rules["points"].to_numpy(dtype=float)[rows]
    band_code, bands = pd.factorize(band, use_na_sentinel=False)  # a missing band reads "<NA>", as str()
    points_code = np.unique(points.view(np.int64), return_inverse=True)[1].reshape(-1)  # -0.0 kept apart
    note = _once_per_key(
        band_code.astype(np.int64) * (len(points) + 1) + points_code,
        lambda i: f" ({bands[band_code[i]]!s} band, {points[i]:g} points)",
    )
    note[always] = ""
    return [
        f"{start}{'; '.join(map(operator.add, map(heading, ids, repeat('')), texts))}{end}"
        for start, ids, texts, end in zip(opening.tolist(), fired, reasons, note.tolist(), strict=True)
    ]


def _model_reasons(probability: np.ndarray, ups: list[Sequence[str]] | None) -> np.ndarray:
    """ "flagged by model: <p> risk, top reasons: <up>; ...". `{p:.0%}` formats `p * 100` to a whole
    number, rounding as `np.rint` does, so each whole percentage is formatted once."""
    risk = _once_per_key(
        np.rint(probability * 100).view(np.int64), lambda i: f"flagged by model: {probability[i]:.0%} risk"
    )
    if ups is None:
        return risk
    top = [
        f"{r}, top reasons: {'; '.join(up)}" if len(up) else r
        for r, up in zip(risk.tolist(), ups, strict=True)
    ]
    return np.array(top, dtype=object)


def combine_flags(
    rules: pd.DataFrame,
    probability: np.ndarray | None = None,
    model_flag: np.ndarray | None = None,
    reasons_up: Sequence[Sequence[str]] | None = None,
    flagging_bands: Sequence[str] = FLAGGING_BANDS,
    titles: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """`flag`, `flag_source` and `flag_reason` for each row of `rules` (the rule results frame).

    `probability`, `model_flag` and `reasons_up` (the model's top reasons raising risk) are aligned with
    `rules`; leave them None for a rules-only run. `titles` (`RuleSet.titles`) names the fired rules.
    """
    always = _always(rules)
    by_rule = rule_flags(rules, flagging_bands)
    by_model = np.zeros(len(rules), bool) if model_flag is None else np.asarray(model_flag, bool)
    source = np.select([by_rule & by_model, by_rule, by_model], [0, 1, 2], default=-1)
    reason = np.full(len(rules), None, dtype=object)

    rows = np.flatnonzero(by_rule)  # only flagged pupils get a sentence
    if len(rows):
        reason[rows] = _rule_reasons(rules, rows, always[rows], titles or {})
    rows = np.flatnonzero(by_model)
    if len(rows) and probability is not None:
        ups = [reasons_up[i] for i in rows.tolist()] if reasons_up is not None else None
        model = _model_reasons(np.asarray(probability, dtype=float)[rows], ups)
        both = by_rule[rows]
        model[both] = reason[rows[both]] + "; and " + model[both]
        reason[rows] = model
    reason_strings = pa.array(reason, type=pa.large_string(), from_pandas=True)
    return pd.DataFrame(
        {
            "flag": pd.array(by_rule | by_model, dtype="boolean"),
            "flag_source": pd.array(_SOURCES.take(pa.array(source, mask=source < 0)), dtype="string"),
            "flag_reason": pd.array(reason_strings, dtype="string"),
        },
        index=rules.index,
    )

"""The final flag: rules and model side by side, with the reason an adviser reads first.

A pupil is flagged by a rule (any always-flag rule fired, or the rule points reach a flagging band) and/or
by the model (inside the capacity threshold). `flag_source` says which: rule, model, both, or empty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

#: Rule bands that flag on their own.
FLAGGING_BANDS: tuple[str, ...] = ("high",)


def rule_flags(rules: pd.DataFrame, flagging_bands: Sequence[str] = FLAGGING_BANDS) -> np.ndarray:
    """True where an always-flag rule fired or the band is a flagging one."""
    always = rules["always_flag"].astype("boolean").fillna(False).to_numpy(bool)
    return always | rules["band"].astype("string").isin(list(flagging_bands)).fillna(False).to_numpy(bool)


def _rule_reason(
    fired: list[str],
    reasons: list[str],
    band: str,
    points: float,
    always: bool,
    titles: Mapping[str, str],
) -> str:
    """ "flagged by rules <title>: <reason>; ...": a rule is named by its title, never its id (without a
    title, its filled-in reason stands alone)."""
    rules = "; ".join(
        f"{titles[rule]}: {reason}" if titles.get(rule) else reason
        for rule, reason in zip(fired, reasons, strict=True)
    )
    noun = "rule" if len(fired) == 1 else "rules"
    band_note = "" if always else f" ({band} band, {points:g} points)"
    return f"flagged by {noun} {rules}{band_note}" if fired else f"flagged by rules{band_note}"


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
    titles = titles or {}
    by_rule = rule_flags(rules, flagging_bands)
    by_model = np.zeros(len(rules), bool) if model_flag is None else np.asarray(model_flag, bool)
    source = np.select([by_rule & by_model, by_rule, by_model], ["both", "rule", "model"], default="")
    reason = np.full(len(rules), None, dtype=object)

    rows = np.flatnonzero(by_rule)  # only flagged pupils get a sentence
    if len(rows):
        picked = rules.iloc[rows]
        reason[rows] = [
            _rule_reason(list(f), list(r), str(b), float(p), bool(a), titles)
            for f, r, b, p, a in zip(
                picked["fired"],
                picked["reasons"],
                picked["band"],
                picked["points"],
                picked["always_flag"].fillna(False),
                strict=True,
            )
        ]
    rows = np.flatnonzero(by_model)
    if len(rows) and probability is not None:
        ups = [list(reasons_up[i]) for i in rows] if reasons_up is not None else [[] for _ in rows]
        model_reason = [
            f"flagged by model: {p:.0%} risk" + (f", top reasons: {'; '.join(up)}" if up else "")
            for p, up in zip(np.asarray(probability, dtype=float)[rows], ups, strict=True)
        ]
        reason[rows] = [
            model if earlier is None else f"{earlier}; and {model}"
            for earlier, model in zip(reason[rows], model_reason, strict=True)
        ]
    return pd.DataFrame(
        {
            "flag": pd.array(by_rule | by_model, dtype="boolean"),
            "flag_source": pd.array(np.where(source == "", None, source), dtype="string"),
            "flag_reason": pd.array(reason, dtype="string"),
        },
        index=rules.index,
    )

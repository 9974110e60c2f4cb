"""Turning per-feature contributions into the sentences an adviser reads: top reasons up and down.

Choosing the top reasons is matrix work for all pupils at once; a sentence is rendered once per distinct
(feature, value) among the chosen ones, so a million pupils cost thousands of sentence fills, not millions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskengine.features import Catalogue
from riskengine.model.pipeline import RULE_POINTS

#: Contributions smaller than this (in log-odds) are not worth a sentence.
MIN_CONTRIBUTION = 1e-3


def _sentence_table(features: pd.DataFrame, name: str, rows: np.ndarray, catalogue: Catalogue) -> np.ndarray:
    """The sentence for feature `name` of each pupil in `rows`, filled once per distinct value."""
    values = features[name].iloc[rows]
    if name == RULE_POINTS:
        return np.array(
            [f"rule points were {v:g}" for v in values.to_numpy(float, na_value=np.nan)], dtype=object
        )
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    sentences = np.array(
        [catalogue.describe(name, v) for v in distinct] + [catalogue.describe(name, None)], object
    )
    return sentences[codes]  # the NA sentinel (-1) picks the last, "not known", sentence


def top_reasons(
    contributions: pd.DataFrame, features: pd.DataFrame, catalogue: Catalogue, k: int = 3
) -> tuple[list[list[str]], list[list[str]]]:
    """For each pupil (row), up to `k` sentences for the features raising risk most, and `k` lowering it.

    `contributions` (log-odds, one column per model feature) and `features` share their row order.
    """
    matrix = contributions.to_numpy(float)
    n, width = matrix.shape
    k = min(k, width)
    names = list(contributions.columns)
    result = []
    for sign in (1.0, -1.0):
        signed = sign * matrix
        chosen = np.argsort(-signed, axis=1, kind="stable")[:, :k]
        keep = np.take_along_axis(signed, chosen, axis=1) > MIN_CONTRIBUTION
        sentences = np.full((n, k), None, dtype=object)
        for column, name in enumerate(names):  # a loop over features, not pupils
            hit = keep & (chosen == column)
            rows, ranks = np.nonzero(hit)
            if len(rows):
                sentences[rows, ranks] = _sentence_table(features, name, rows, catalogue)
        # kept reasons are a prefix of each row (sorted strongest first): trim only the short rows
        counts = keep.sum(axis=1)
        lists = sentences.tolist()
        for row in np.flatnonzero(counts < k):
            lists[row] = lists[row][: counts[row]]
        result.append(lists)
    return result[0], result[1]


def contribution_records(contributions: pd.DataFrame, digits: int = 4) -> list[dict[str, float]]:
    """Each pupil's contributions as {feature: log-odds}, rounded, for storage with the score."""
    names = list(contributions.columns)
    return [
        dict(zip(names, row, strict=True)) for row in np.round(contributions.to_numpy(float), digits).tolist()
    ]

"""Each pupil's explanation as stored with their score: {feature: log-odds} contributions, and details (the
percentage points of risk and the value shown beside each feature).

A run keeps them as matrices, one row per pupil; a pupil's dict is made only when something reads that
pupil (the store saving the run, a page, `explain`). Making and later freeing a million pupils' dicts up
front was about 6 of the 21 CPU seconds of scoring a million pupil-terms, for records a run mostly only
stores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd


class PupilRecord(Mapping[str, Any]):
    """One pupil's record, read from their run's matrices: a read-only mapping, equal to the dict it
    stands for, made into that dict on first read (and then kept). Pickles and copies as a plain dict."""

    __slots__ = ("_made", "_make", "_row")

    def __init__(self, make: Callable[[int], dict[str, Any]], row: int) -> None:
        self._make, self._row = make, row
        self._made: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        if self._made is None:
            self._made = self._make(self._row)
        return self._made

    def __getitem__(self, key: str) -> Any:
        return self.as_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.as_dict())

    def __len__(self) -> int:
        return len(self.as_dict())

    def __repr__(self) -> str:
        return repr(self.as_dict())

    def __reduce__(self) -> tuple[type, tuple[dict[str, Any]]]:
        return dict, (self.as_dict(),)

    def toDict(self) -> dict[str, Any]:
        """What `DataFrame.to_json` writes for this record (without it, an unknown object is written `{}`)."""
        return self.as_dict()


def plain(value: Any) -> Any:
    """A record as the plain dict it stands for (for `json.dumps`); any other value unchanged."""
    return value.as_dict() if isinstance(value, PupilRecord) else value


def _records(make: Callable[[int], dict[str, Any]], n: int) -> list[PupilRecord]:
    return [PupilRecord(make, row) for row in range(n)]


def contribution_records(contributions: pd.DataFrame, digits: int = 4) -> list[PupilRecord]:
    """Each pupil's contributions as {feature: log-odds}, rounded, for storage with the score."""
    names = list(contributions.columns)
    matrix = np.round(contributions.to_numpy(float), digits)
    return _records(lambda row: dict(zip(names, matrix[row].tolist(), strict=True)), len(matrix))


def detail_records(
    risk_points: pd.DataFrame,
    values: Mapping[str, np.ndarray],
    digits: int = 1,
    also: Mapping[str, Sequence[object]] | None = None,
) -> list[PupilRecord]:
    """Each pupil's {"risk_points": {name: pp}, "values": {name: text}}, for storage with the score: what
    the pupil page and `explain` show beside each feature (percentage points of risk, and the value).
    `also`: further keys with a value per pupil (e.g. the model's scoring point), left out where blank."""
    names = list(risk_points.columns)
    shown = [n for n in names if n in values]
    points = np.round(risk_points.to_numpy(float), digits)
    texts = np.column_stack([values[n] for n in shown]) if shown else np.empty((len(points), 0), object)
    extra = dict(also or {})

    def make(row: int) -> dict[str, Any]:
        record: dict[str, Any] = {
            "risk_points": dict(zip(names, points[row].tolist(), strict=True)),
            "values": dict(zip(shown, texts[row].tolist(), strict=True)),
        }
        for key, column in extra.items():
            value = column[row]
            if value is not None and value != "":
                record[key] = value
        return record

    return _records(make, len(points))

"""The outcome a pupil reached after Year 11, derived from NCCIS destinations by a declared definition.

The definition lives in `evaluation/outcome.yaml` so an evaluator can change it without touching Python,
and every model and report records the one it used.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import yaml

from riskengine.paths import content_version, data_path
from riskengine.spec import destinations as spec
from riskengine.spec.upload import term_indices


@dataclass(frozen=True)
class OutcomeDefinition:
    name: str
    positive_categories: tuple[str, ...] = ("neet", "not_known", "other")
    not_known_as: str = "positive"
    re_engagement_is_eet: bool = False
    window_start: str = "09-01"
    window_end: str = "03-31"
    window_year_offset: int = 0
    version: int = 1

    def __post_init__(self) -> None:
        unknown = set(self.positive_categories) - {"neet", "not_known", "other", "eet"}
        if unknown:
            raise ValueError(f"outcome definition: unknown categories {sorted(unknown)}")
        if self.not_known_as not in ("positive", "missing"):
            raise ValueError("outcome definition: not_known_as must be 'positive' or 'missing'")
        for field in ("window_start", "window_end"):
            pd.Timestamp(f"2001-{getattr(self, field)}")  # raises on a bad month-day

    @property
    def fingerprint(self) -> str:
        """A short hash of the definition, recorded wherever outcomes are used."""
        return content_version(repr(sorted(asdict(self).items())).encode())

    def describe(self) -> str:
        """One sentence for reports."""
        nk = (
            "Not Known counts as positive"
            if self.not_known_as == "positive"
            else "Not Known only = no outcome"
        )
        shift = f", {self.window_year_offset} year(s) later" if self.window_year_offset else ""
        return (
            f"{self.name}: positive if any activity recorded between {self.window_start} after Year 11 and "
            f"{self.window_end} following{shift} is {', '.join(self.positive_categories)}; {nk}; "
            f"re-engagement (530) counted as {'EET' if self.re_engagement_is_eet else 'NEET'}. "
            "Pupils with no record in the window have no outcome and are excluded."
        )


def load_outcome_definition(path: str | Path | None = None) -> OutcomeDefinition:
    """Read an outcome definition file; the shipped default when `path` is None."""
    raw = yaml.safe_load(Path(path or data_path("evaluation", "outcome.yaml")).read_text())
    raw["positive_categories"] = tuple(raw.get("positive_categories", ()))
    return OutcomeDefinition(**raw)


def year11_start(pupil_terms: pd.DataFrame) -> pd.Series:
    """Start year of each pupil's Year 11 (2024 for Year 11 in 2024/25), from their latest term."""
    order = term_indices(pupil_terms["academic_year"], pupil_terms["term"])
    latest = pupil_terms.iloc[order.to_numpy().argsort(kind="stable")].drop_duplicates("upn", keep="last")
    starts = latest["academic_year"].str.slice(0, 4).astype(int) + (11 - latest["ncyear"].astype(int))
    return pd.Series(starts.to_numpy(), index=pd.Index(latest["upn"], name="upn"), name="year11_start")


def window_end(year11_start: int, definition: OutcomeDefinition) -> dt.date:
    """The last day of the outcome window of pupils whose Year 11 started in `year11_start`."""
    month, day = (int(part) for part in definition.window_end.split("-"))
    return dt.date(int(year11_start) + 2 + definition.window_year_offset, month, day)


def in_window_records(
    destinations: pd.DataFrame, year11: pd.Series, definition: OutcomeDefinition
) -> pd.DataFrame:
    """Destination records (upn, date, category) inside each pupil's outcome window, for the pupils in
    `year11`; records below leaving age never count."""
    codes = destinations["activity_code"].astype(int)
    category = codes.map({code: cat for code, (cat, _) in spec.ACTIVITY_CODES.items()})
    if definition.re_engagement_is_eet:
        category = category.mask(codes == spec.RE_ENGAGEMENT_CODE, "eet")
    records = pd.DataFrame(
        {
            "upn": destinations["upn"].to_numpy(),
            "date": pd.to_datetime(destinations["activity_date"]).to_numpy(),
            "category": category.to_numpy(),
        }
    )
    records = records[records["category"] != "below_leaving_age"]
    first_year = (records["upn"].map(year11) + 1 + definition.window_year_offset).astype("Int64")
    start = pd.to_datetime(first_year.astype(str) + "-" + definition.window_start, errors="coerce")
    end = pd.to_datetime((first_year + 1).astype(str) + "-" + definition.window_end, errors="coerce")
    return records[(records["date"] >= start) & (records["date"] <= end)]


def derive_outcomes(
    destinations: pd.DataFrame, year11: pd.Series, definition: OutcomeDefinition | None = None
) -> pd.DataFrame:
    """One row per pupil in `year11`: `outcome` (True/False, or NA for no outcome) and what lay behind it.

    `destinations` has the spec's columns; `year11` maps upn -> start year of Year 11 (see year11_start).
    Whether a pupil's window has closed is `riskengine.cohorts.outcome_windows`'s question, not this one's.
    """
    definition = definition or load_outcome_definition()
    in_window = in_window_records(destinations, year11, definition)

    seen = pd.crosstab(in_window["upn"], in_window["category"]).gt(0)
    seen = seen.reindex(index=year11.index, columns=list(spec.CATEGORIES[1:]), fill_value=False)
    positives = set(definition.positive_categories)
    if definition.not_known_as == "missing":
        positives.discard("not_known")
    positive = seen[sorted(positives)].any(axis=1)
    decided = seen.drop(columns=[] if definition.not_known_as == "positive" else ["not_known"]).any(axis=1)
    outcome = pd.Series(pd.NA, index=year11.index, dtype="boolean")
    outcome[decided] = positive[decided]
    result = seen.rename(columns=lambda c: f"any_{c}")
    result.insert(0, "outcome", outcome)
    result.index.name = "upn"
    return result

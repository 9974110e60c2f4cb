"""The adviser's caseload: the current term's flagged pupils in scope, with change since last term.

The current scoring run is the one for the latest term (newest run wins within a term); "last term" is the
newest run for an earlier term. Joining those two runs is the expensive part, so it is cached per pair of
run ids and rebuilt only when a new run is stored; each request then only filters, sorts and pages.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from riskengine.spec import upload as spec
from riskengine.store import Store
from riskengine.store import tables as st
from riskengine.web.accounts import User
from riskengine.web.pupils import ensure_refs
from riskengine.web.reviews import latest_decisions

SORTS = {
    "risk": "risk",
    "points": "points",
    "change": "change",
    "school": "school_urn",
    "year": "ncyear",
}
TOP_REASONS = 3
BLANK = "\u2013"  # an en dash for "no value"


@dataclass(frozen=True)
class CaseloadFilters:
    """What the caseload page asks for; all optional. `page` counts from 1."""

    school: str | None = None
    ncyear: int | None = None
    band: str | None = None
    flagged_only: bool = True
    sort: str = "risk"
    descending: bool = True
    page: int = 1
    per_page: int = 50


#: The fields of each caseload row (plain JSON values; the *_text ones are preformatted for the page).
ROW_FIELDS = (
    "ref",
    "upn",
    "school_urn",
    "ncyear",
    "risk",
    "points",
    "band",
    "flag",
    "flag_source",
    "flag_reason",
    "top_reasons",
    "change",
    "previous_band",
    "risk_text",
    "points_text",
    "ncyear_text",
    "change_text",
)


@dataclass(frozen=True)
class Caseload:
    """One page of the caseload (rows as dicts with ROW_FIELDS and `review`, the latest decision or None)
    plus what the filter controls need."""

    rows: list[dict]
    total: int
    run: dict | None
    previous_run: dict | None
    schools: list[str]
    bands: list[str]
    ncyears: list[int]


def current_runs(store: Store) -> tuple[dict | None, dict | None]:
    """The current term's run and the newest run of an earlier term (either may be None)."""
    runs = st.score_runs
    with store.engine.connect() as connection:
        rows = [dict(r) for r in connection.execute(sa.select(runs).order_by(runs.c.id)).mappings()]
    if not rows:
        return None, None
    rows.sort(key=lambda run: (spec.term_index(run["academic_year"], run["term"]), run["id"]))
    current = rows[-1]
    now = spec.term_index(current["academic_year"], current["term"])
    earlier = [run for run in rows if spec.term_index(run["academic_year"], run["term"]) < now]
    return current, (earlier[-1] if earlier else None)


_cache: dict[tuple, pd.DataFrame] = {}
_views: OrderedDict[tuple, tuple[list[dict], tuple]] = OrderedDict()  # filtered, sorted rows per query
_cache_lock = threading.Lock()
MAX_VIEWS = 256


def scored_pupils(store: Store) -> tuple[pd.DataFrame, dict | None, dict | None]:
    """Every pupil of the current run with ref, risk, top reasons and change since the previous run."""
    run, previous = current_runs(store)
    if run is None:
        return pd.DataFrame(), None, None
    key = (str(store.engine.url), id(store.engine), int(run["id"]), previous and int(previous["id"]))
    with _cache_lock:
        frame = _cache.get(key)
        if frame is None:
            frame = _build(store, run, previous)
            _cache.clear()
            _views.clear()
            _cache[key] = frame
    return frame, run, previous


def _build(store: Store, run: dict, previous: dict | None) -> pd.DataFrame:
    scores = store.read_scores(run_id=int(run["id"]))
    frame = scores[
        ["upn", "school_urn", "ncyear", "points", "band", "probability", "flag", "flag_source", "flag_reason"]
    ].copy()
    reasons = scores["reasons_up"].where(scores["reasons_up"].map(bool, na_action="ignore").fillna(False))
    reasons = reasons.fillna(scores["reasons"]).map(lambda r: list(r or [])[:TOP_REASONS])
    frame["top_reasons"] = reasons
    # Risk is the model's probability; pupils scored by rules only have none and sort after, by points.
    frame["risk"] = scores["probability"].astype("Float64")
    frame["points"] = frame["points"].astype("Float64")
    if previous is not None:
        before = store.read_scores(run_id=int(previous["id"]))
        before = before.drop_duplicates("upn").set_index("upn")
        frame["previous_risk"] = frame["upn"].map(before["probability"].astype("Float64")).astype("Float64")
        frame["previous_points"] = frame["upn"].map(before["points"].astype("Float64")).astype("Float64")
        frame["previous_band"] = frame["upn"].map(before["band"]).astype("string")
    else:
        frame["previous_risk"] = pd.Series(pd.NA, index=frame.index, dtype="Float64")
        frame["previous_points"] = pd.Series(pd.NA, index=frame.index, dtype="Float64")
        frame["previous_band"] = pd.Series(pd.NA, index=frame.index, dtype="string")
    frame["change"] = (frame["risk"] - frame["previous_risk"]).fillna(
        frame["points"] - frame["previous_points"]
    )
    frame["ref"] = frame["upn"].map(ensure_refs(store, frame["upn"]))
    frame["flag"] = frame["flag"].fillna(False).astype(bool)
    return _with_display_text(frame).reset_index(drop=True)


def _with_display_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Preformatted text for the page (built once per run pair, so rendering stays cheap)."""
    risk_pct = (frame["risk"] * 100).round().astype("Int64").astype("string")
    change_pts = (frame["change"] * 100).round().astype("Int64")
    has_risk = frame["risk"].notna()
    change_text = pd.Series(
        [f"{v:+d} pts" if v is not pd.NA else pd.NA for v in change_pts], index=frame.index, dtype="string"
    ).where(has_risk, frame["change"].map(lambda v: f"{v:+g} points", na_action="ignore").astype("string"))
    moved = frame["previous_band"].notna() & (frame["previous_band"] != frame["band"]).fillna(False)
    change_text = change_text.where(~moved, change_text + " (was " + frame["previous_band"] + ")")
    return frame.assign(
        risk_text=(risk_pct + "%").fillna(BLANK),
        points_text=frame["points"]
        .map(lambda v: f"{v:g}", na_action="ignore")
        .astype("string")
        .fillna(BLANK),
        ncyear_text=frame["ncyear"].astype("string").fillna(""),
        change_text=change_text.fillna("new"),
    )


def caseload(store: Store, user: User, filters: CaseloadFilters) -> Caseload:
    """The page of pupils `user` may see that match `filters`, sorted, with their latest review decision."""
    if not user.sees_pupils:
        raise PermissionError("this role does not see pupils")
    frame, run, previous = scored_pupils(store)
    if frame.empty:
        return Caseload([], 0, run, previous, [], [], [])
    f = filters  # the page does not change which rows match, so pages share one cached view
    key = (id(frame), user.schools, f.school, f.ncyear, f.band, f.flagged_only, f.sort, f.descending)
    with _cache_lock:
        view = _views.get(key)
    if view is None:
        view = _matching(frame, user, filters)
        with _cache_lock:
            _views[key] = view
            while len(_views) > MAX_VIEWS:
                _views.popitem(last=False)
    chosen, options = view
    start = max(filters.page - 1, 0) * filters.per_page
    page = chosen[start : start + filters.per_page]
    decisions = latest_decisions(store, [row["upn"] for row in page]).to_dict()
    rows = [{**row, "review": decisions.get(row["upn"])} for row in page]
    return Caseload(rows, len(chosen), run, previous, *options)


def _matching(frame: pd.DataFrame, user: User, filters: CaseloadFilters) -> tuple[list[dict], tuple]:
    """The rows in the user's scope matching the filters, sorted, as plain dicts (so each request only
    slices a list), and the choices for the filter controls."""
    if user.schools is not None:
        frame = frame[frame["school_urn"].isin(user.schools)]
    options = (
        sorted(frame["school_urn"].dropna().unique().tolist()),
        sorted(frame["band"].dropna().unique().tolist()),
        sorted(int(y) for y in frame["ncyear"].dropna().unique()),
    )
    mask = pd.Series(True, index=frame.index)
    if filters.flagged_only:
        mask &= frame["flag"]
    if filters.school:
        mask &= frame["school_urn"] == filters.school
    if filters.ncyear is not None:
        mask &= (frame["ncyear"] == filters.ncyear).fillna(False)
    if filters.band:
        mask &= (frame["band"] == filters.band).fillna(False)
    column = SORTS.get(filters.sort, "risk")
    tie_break = "points" if column != "points" else "risk"
    chosen = frame[mask].sort_values(
        [column, tie_break, "ref"],
        ascending=[not filters.descending, not filters.descending, True],
        na_position="last",
    )
    return json.loads(chosen[list(ROW_FIELDS)].to_json(orient="records")), options

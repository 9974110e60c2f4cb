"""The adviser's caseload: each school's flagged pupils as scored in that school's latest scored term,
with change since that school's previous scored term (schools are scored at different times).

For each school the current run is the newest run of its latest scored term, and "before" the newest run
of an earlier term that scored it. Joining those runs is the expensive part, so it is cached and rebuilt
only when a run is stored or a pupil is erased; each view (the pupils a user may see now, per
riskengine.enrolment, filtered and sorted) is cached until the enrolment changes too (an upload, a
conflict, a new day), so a request only pages. What the caches depend on is read once per request
(riskengine.web.versions). A view only reads: pupils' refs are made when they are uploaded.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date

import pandas as pd
import sqlalchemy as sa

from riskengine.enrolment import enrolled, school_names
from riskengine.spec import upload as spec
from riskengine.store import Store
from riskengine.store import tables as st
from riskengine.web.accounts import User
from riskengine.web.pupils import refs_of
from riskengine.web.reviews import latest_decisions
from riskengine.web.versions import Versions, read_versions

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
    per_page: int | None = 50  # None: every matching row (the export)
    search: str | None = None  # name or UPN
    not_reviewed: bool = False


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
    "academic_year",
    "term",
    "run_id",
    "dual",
    "forename",
    "surname",
    "date_of_birth",
    "tutor_group",
)
#: Identity shown on the caseload, only to the pupil's school and its advisers.
IDENTITY_FIELDS = ("forename", "surname", "date_of_birth", "tutor_group")
IDENTITY_ROLES = ("school", "adviser")


@dataclass(frozen=True)
class Caseload:
    """One page of the caseload (rows as dicts with ROW_FIELDS and `review`, the latest decision or None)
    plus what the filter controls need, and what its rows but `review` were built from (the enrolment as
    used, the runs and erasures: equal for two pages, a row with the same ref and school is the same)."""

    rows: list[dict]
    total: int
    run: dict | None
    previous_run: dict | None
    schools: list[str]
    bands: list[str]
    ncyears: list[int]
    built_from: tuple = ()


def school_runs(store: Store) -> list[dict]:
    """Each school's latest scored term: for every school with scores, the newest run of its latest scored
    term and the newest run of its previous scored term (None when it has none), oldest school first.

    Schools upload and are scored at different times, so each keeps its own current run."""
    runs, s = st.score_runs, st.scores
    with store.engine.connect() as connection:
        rows = {int(r["id"]): dict(r) for r in connection.execute(sa.select(runs)).mappings()}
        pairs = connection.execute(sa.select(s.c.run_id, s.c.school_urn).distinct()).all()
    by_school: dict[str, list[dict]] = {}
    for run_id, urn in pairs:
        by_school.setdefault(urn, []).append(rows[int(run_id)])
    found = []
    for urn, held in sorted(by_school.items()):
        held.sort(key=lambda run: (spec.term_index(run["academic_year"], run["term"]), run["id"]))
        current = held[-1]
        now = spec.term_index(current["academic_year"], current["term"])
        earlier = [run for run in held if spec.term_index(run["academic_year"], run["term"]) < now]
        found.append({"school_urn": urn, "run": current, "previous": earlier[-1] if earlier else None})
    return found


def current_runs(store: Store) -> tuple[dict | None, dict | None]:
    """The newest of the schools' current runs and the newest of their previous ones (either may be None)."""
    return current_runs_of(school_runs(store))


_cache: dict[tuple, tuple] = {}
_views: OrderedDict[tuple, tuple[list[dict], tuple]] = OrderedDict()  # filtered, sorted rows per query
_view_builds: dict[tuple, threading.Lock] = {}  # the views being built now
_cache_lock = threading.Lock()
_build_lock = threading.Lock()
MAX_VIEWS = 256


def scored_pupils(
    store: Store, erasures: object, version: tuple
) -> tuple[pd.DataFrame, dict | None, dict | None]:
    """Every pupil of each school's current run with ref, risk, top reasons and change since that school's
    previous scored term; plus the newest current and previous runs.

    Cached until a run is added (runs are never changed; `version`: Versions.runs as read for the
    request) or a pupil is erased (`erasures`: Versions.erasures), so an erased pupil (`riskengine
    forget`) drops at once. An upload changes neither (its pupils are scored in a new run), so the
    caseload is not rebuilt after one: only each view's filter by enrolment is."""
    if not version[0]:
        return pd.DataFrame(), None, None
    key = (str(store.engine.url), id(store.engine), *version, erasures)
    with _build_lock:  # one build at a time per process: the others wait for it, then read the cache
        with _cache_lock:
            cached = _cache.get(key)
        if cached is None:
            chosen = school_runs(store)
            frame = _build(store, chosen)
            cached = (frame, *current_runs_of(chosen))
            with _cache_lock:
                _cache.clear()
                _views.clear()
                _cache[key] = cached
    return cached


def current_runs_of(chosen: list[dict]) -> tuple[dict | None, dict | None]:
    """The newest current run and the newest previous run among `school_runs`' choices."""
    latest = [c["run"] for c in chosen]
    previous = [c["previous"] for c in chosen if c["previous"] is not None]

    def key(run: dict) -> tuple:
        return (spec.term_index(run["academic_year"], run["term"]), run["id"])

    return (max(latest, key=key) if latest else None), (max(previous, key=key) if previous else None)


def _scores_of(store: Store, wanted: list[tuple[int, str]]) -> pd.DataFrame:
    """The scores of each (run id, school) pair, read once per run."""
    parts = []
    for run_id in sorted({r for r, _ in wanted}):
        schools = [urn for r, urn in wanted if r == run_id]
        scores = store.read_scores(run_id=run_id)
        parts.append(scores[scores["school_urn"].isin(schools)])
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _build(store: Store, chosen: list[dict]) -> pd.DataFrame:
    scores = _scores_of(store, [(int(c["run"]["id"]), c["school_urn"]) for c in chosen])
    frame = scores[
        [
            "upn",
            "school_urn",
            "academic_year",
            "term",
            "ncyear",
            "points",
            "band",
            "probability",
            "flag",
            "flag_source",
            "flag_reason",
            "run_id",
        ]
    ].copy()
    reasons = scores["reasons_up"].where(scores["reasons_up"].map(bool, na_action="ignore").fillna(False))
    reasons = reasons.fillna(scores["reasons"]).map(lambda r: list(r or [])[:TOP_REASONS])
    frame["top_reasons"] = reasons
    # Risk is the model's probability; pupils scored by rules only have none and sort after, by points.
    frame["risk"] = scores["probability"].astype("Float64")
    frame["points"] = frame["points"].astype("Float64")
    earlier = [(int(c["previous"]["id"]), c["school_urn"]) for c in chosen if c["previous"] is not None]
    before = _scores_of(store, earlier)
    if len(before):
        before = before.drop_duplicates(["upn", "school_urn"]).set_index(["upn", "school_urn"])
        at = pd.MultiIndex.from_frame(frame[["upn", "school_urn"]])
        frame["previous_risk"] = before["probability"].astype("Float64").reindex(at).to_numpy()
        frame["previous_points"] = before["points"].astype("Float64").reindex(at).to_numpy()
        frame["previous_band"] = before["band"].reindex(at).to_numpy()
    else:
        frame["previous_risk"] = pd.NA
        frame["previous_points"] = pd.NA
        frame["previous_band"] = pd.NA
    frame = frame.astype(
        {"previous_risk": "Float64", "previous_points": "Float64", "previous_band": "string"}
    )
    frame["change"] = (frame["risk"] - frame["previous_risk"]).fillna(
        frame["points"] - frame["previous_points"]
    )
    frame["ref"] = frame["upn"].map(refs_of(store, frame["upn"]))
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


def caseload(
    store: Store,
    user: User,
    filters: CaseloadFilters,
    today: date | None = None,
    versions: Versions | None = None,
) -> Caseload:
    """The page of pupils `user` may see that match `filters`, sorted, with their latest review decision.

    Schools and advisers see a pupil only while a school in their scope sees them (riskengine.enrolment);
    a school sees only the decisions an adviser shared with it; names only reach schools and advisers.
    `versions`: what the caches depend on, when the caller has read them for its request already."""
    if not user.sees_pupils:
        raise PermissionError("this role does not see pupils")
    versions = versions or read_versions(store)
    seen = enrolled(store, today, versions.enrolment)
    frame, run, previous = scored_pupils(store, versions.erasures, versions.runs)
    if frame.empty:
        return Caseload([], 0, run, previous, [], [], [])
    f = filters  # the page does not change which rows match, so pages share one cached view
    key = (
        id(frame),
        seen.attrs.get("version"),
        user.schools,
        user.role in IDENTITY_ROLES,
        f.school,
        f.ncyear,
        f.band,
        f.flagged_only,
        (f.search or "").casefold(),
        f.sort,
        f.descending,
    )
    with _cache_lock:
        view = _views.get(key)
        building = None if view is not None else _view_builds.setdefault(key, threading.Lock())
    if building is not None:
        with building:  # one build per view: requests wanting the same one wait for it, not repeat it
            with _cache_lock:
                view = _views.get(key)
            if view is None:
                names = identities(store) if user.role in IDENTITY_ROLES else None
                view = _matching(frame, seen, names, user, filters)
                with _cache_lock:
                    _views[key] = view
                    _view_builds.pop(key, None)
                    while len(_views) > MAX_VIEWS:
                        _views.popitem(last=False)
    chosen, options = view
    shared_only = user.role == "school"
    if filters.not_reviewed:
        decided = latest_decisions(store, (row["upn"] for row in chosen), shared_only, versions.reviews)
        chosen = [row for row in chosen if row["upn"] not in decided]
    if filters.per_page is None:
        page = chosen
    else:
        start = max(filters.page - 1, 0) * filters.per_page
        page = chosen[start : start + filters.per_page]
    decisions = latest_decisions(store, (row["upn"] for row in page), shared_only, versions.reviews)
    named = school_names(store, versions.names)
    rows = [
        {
            **row,
            "review": decisions.get(row["upn"]),
            "school_name": named.get(row["school_urn"], row["school_urn"]),
        }
        for row in page
    ]
    built_from = (seen.attrs.get("version"), versions.runs, versions.erasures)
    return Caseload(rows, len(chosen), run, previous, *options, built_from=built_from)


def identities(store: Store) -> pd.DataFrame:
    """Every pupil's latest identity at each school (for schools' and advisers' caseloads only)."""
    i = st.pupil_identity
    columns = ["upn", "school_urn", "forename", "surname", "date_of_birth", "tutor_group"]
    with store.engine.connect() as connection:
        rows = list(map(tuple, connection.execute(sa.select(*(i.c[c] for c in columns)))))  # see _enrolled
    frame = pd.DataFrame.from_records(rows, columns=columns)
    frame["date_of_birth"] = frame["date_of_birth"].map(lambda d: d.isoformat(), na_action="ignore")
    return frame


def _matching(
    frame: pd.DataFrame, seen: pd.DataFrame, names: pd.DataFrame | None, user: User, filters: CaseloadFilters
) -> tuple[list[dict], tuple]:
    """The rows in the user's scope matching the filters, sorted, as plain dicts (so each request only
    slices a list), and the choices for the filter controls."""
    if user.schools is not None:
        frame = frame[frame["school_urn"].isin(user.schools)]
        visible = seen.loc[seen["school_urn"].isin(user.schools), ["upn", "school_urn", "dual"]]
        frame = frame.merge(visible, on=["upn", "school_urn"], how="inner")
    else:
        frame = frame.merge(seen[["upn", "school_urn", "dual"]], on=["upn", "school_urn"], how="left")
    frame = frame.assign(dual=frame["dual"].eq(True))
    if names is not None:
        frame = frame.merge(names, on=["upn", "school_urn"], how="left")
    frame = frame.reindex(columns=[*frame.columns.difference(IDENTITY_FIELDS, sort=False), *IDENTITY_FIELDS])
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
    if filters.search and filters.search.strip():
        mask &= _search(frame, filters.search)
    column = SORTS.get(filters.sort, "risk")
    tie_break = "points" if column != "points" else "risk"
    chosen = frame[mask].sort_values(
        [column, tie_break, "ref"],
        ascending=[not filters.descending, not filters.descending, True],
        na_position="last",
    )
    return json.loads(chosen[list(ROW_FIELDS)].to_json(orient="records")), options


def _search(frame: pd.DataFrame, text: str) -> pd.Series:
    """Rows whose UPN, forename, surname or full name contains every word typed (any case)."""
    upn = frame["upn"].astype("string").fillna("")
    full = (
        frame["forename"].astype("string").fillna("") + " " + frame["surname"].astype("string").fillna("")
    ).str.casefold()
    haystack = upn.str.casefold() + " " + full
    mask = pd.Series(True, index=frame.index)
    for word in text.casefold().split():
        mask &= haystack.str.contains(word, regex=False)
    return mask

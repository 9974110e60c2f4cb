"""Access follows enrolment (issue 12, "What was seen" 3): each way in that was found is refused.

(a) a school putting another school's UPN in its own file gets a warning, the admin a conflict, and the
school does not see the pupil (nor unshared notes) until an admin resolves it; a dual registration with a
pupil referral unit is legitimate and marked. (b) a pupil who moved is no longer visible to the old school.
(c) an adviser scoped to two schools cannot write about a pupil now at a third.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from riskengine.cli import app as cli
from riskengine.enrolment import enrolled, list_conflicts, window_end
from riskengine.outcomes import load_outcome_definition
from riskengine.spec import upload as spec
from riskengine.store import tables as st
from riskengine.upload import upload_bytes
from riskengine.web.accounts import add_user
from riskengine.web.pupils import refs_of
from tests.web.conftest import PASSWORD, csrf_of, sign_in
from tests.web.seeding import seed_store

LATEST = ("2026/27", "spring")


@pytest.fixture(scope="module")
def pupil_terms(store) -> pd.DataFrame:
    """Four schools (three mainstream, one pupil referral unit), some pupils moving between them."""
    return seed_store(store, schools=3, cohorts=6, seed=3)


def latest_rows(pupil_terms: pd.DataFrame, urn: str) -> pd.DataFrame:
    year, term = LATEST
    at = (pupil_terms["school_urn"] == urn) & (pupil_terms["academic_year"] == year)
    return pupil_terms[at & (pupil_terms["term"] == term)]


def upload_term(store, rows: pd.DataFrame, urn: str) -> object:
    """Upload a school's latest term again through the upload stage (which looks for conflicts)."""
    year, term = LATEST
    data = rows.assign(school_urn=urn).to_csv(index=False).encode()
    return upload_bytes(store, data, f"{urn}.csv", urn, year, term, uploaded_by="school@example.org")


def ref_of(store, upn: str) -> str:
    return refs_of(store, [upn]).iloc[0]


def test_another_schools_upn_is_a_warning_a_conflict_and_stays_hidden(
    store, app, pupil_terms, schools, clients, users
):
    a, b = schools[0], schools[1]
    theirs = latest_rows(pupil_terms, a).iloc[[0]]
    upn = theirs["upn"].iloc[0]
    ref = ref_of(store, upn)
    adviser = clients["adviser"]  # the first school's adviser writes a note that is not shared
    token = csrf_of(adviser, "/caseload")
    note = "Private adviser note about family circumstances"
    response = adviser.post(
        f"/pupils/{ref}/reviews",
        data={"decision": "refer", "reason": note, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303

    result = upload_term(store, pd.concat([latest_rows(pupil_terms, b), theirs]), b)
    assert result.ok
    warned = result.warnings[result.warnings["message"].str.contains("already on roll at another school")]
    assert len(warned) == 1 and a not in warned["message"].iloc[0], "the other school is not named"
    conflicts = list_conflicts(store)
    assert (conflicts["upn"] == upn).sum() == 1 and conflicts["kind"].iloc[0] == "conflict"

    school_b = clients["school_b"]
    assert school_b.get(f"/pupils/{ref}").status_code == 404
    assert school_b.get(f"/api/v1/pupils/{ref}").status_code == 404
    assert upn not in school_b.get("/caseload?all_pupils=1").text
    admin_page = clients["admin"].get("/admin/conflicts")
    assert admin_page.status_code == 200 and upn in admin_page.text
    assert clients["school_b"].get("/admin/conflicts").status_code == 403
    listed = clients["admin"].get("/api/v1/conflicts").json()
    assert [(c["upn"], c["school_urn"], c["other_school_urn"]) for c in listed] == [(upn, b, a)]
    assert clients["adviser"].get("/api/v1/conflicts").status_code == 403

    admin = clients["admin"]
    conflict_id = int(conflicts.loc[conflicts["upn"] == upn, "id"].iloc[0])
    resolved = admin.post(
        f"/admin/conflicts/{conflict_id}/resolve",
        data={"csrf_token": csrf_of(admin, "/admin/conflicts")},
        follow_redirects=False,
    )
    assert resolved.status_code == 303
    page = school_b.get(f"/pupils/{ref}")
    assert page.status_code == 200, "resolved: the school now sees the pupil on its roll"
    assert note not in page.text, "but never a note the adviser did not share with the school"
    assert (
        upload_term(store, pd.concat([latest_rows(pupil_terms, b), theirs]), b)
        .warnings["message"]
        .str.contains("already on roll")
        .sum()
        == 0
    ), "re-uploading the same term does not raise it again"


def test_dual_registration_with_a_pupil_referral_unit_is_marked_and_both_see_the_pupil(
    store, app, pupil_terms, schools, clients, tmp_path
):
    listed = pd.DataFrame(
        {
            "urn": schools,
            "name": [f"Example School {i}" for i in range(len(schools))],
            "type": ["academy"] * (len(schools) - 1) + ["Pupil Referral Unit"],
        }
    )
    listed.to_csv(tmp_path / "schools.csv", index=False)
    db = str(store.engine.url)
    loaded = CliRunner().invoke(cli, ["schools", "load", str(tmp_path / "schools.csv"), "--db", db])
    assert loaded.exit_code == 0, loaded.output
    pru, mainstream = schools[-1], schools[1]
    pupil = latest_rows(pupil_terms, mainstream).iloc[[2]]
    upn = pupil["upn"].iloc[0]
    result = upload_term(store, pd.concat([latest_rows(pupil_terms, pru), pupil]), pru)
    assert result.warnings["message"].str.contains("dual registration").sum() == 1
    seen = enrolled(store)
    pairs = seen[seen["upn"] == upn]
    assert set(pairs["school_urn"]) >= {pru, mainstream} and pairs["dual"].all()
    email = "pru@school.example.org"
    add_user(store, email, PASSWORD, "school", [pru])
    page = sign_in(app, email).get(f"/pupils/{ref_of(store, upn)}")
    assert page.status_code == 200 and "dual registration" in page.text
    assert "Example School" in page.text, "schools appear by name once the list is loaded"
    bad = tmp_path / "bad.csv"
    bad.write_text("urn,name\n12345,Too short\n")
    refused = CliRunner().invoke(cli, ["schools", "load", str(bad), "--db", db])
    assert refused.exit_code == 1 and "row 2" in refused.output


def movers(pupil_terms: pd.DataFrame) -> pd.DataFrame:
    """Pupils whose school in the latest term differs from an earlier one: upn, old and new school."""
    order = spec.term_indices(pupil_terms["academic_year"], pupil_terms["term"])
    ordered = pupil_terms.assign(_order=order).sort_values("_order")
    first = ordered.drop_duplicates("upn", keep="first").set_index("upn")["school_urn"]
    last = ordered.drop_duplicates("upn", keep="last").set_index("upn")
    now = last[last["academic_year"].eq(LATEST[0]) & last["term"].eq(LATEST[1])]
    moved = pd.DataFrame({"old": first.reindex(now.index), "new": now["school_urn"]}).dropna()
    scored = now["ncyear"] >= spec.SCORED_FROM_NCYEAR  # scored pupils first: they have an explanation
    order = (~scored).reindex(moved.index).astype(int).sort_values(kind="stable").index
    return moved.loc[order][moved.loc[order, "old"] != moved.loc[order, "new"]]


def test_a_pupil_who_moved_is_no_longer_visible_to_the_old_school(store, app, pupil_terms):
    moved = movers(pupil_terms)
    assert len(moved), "the generated local authority has pupils who moved school"
    upn, (old, new) = moved.index[0], moved.iloc[0]
    email_old, email_new = "old@school.example.org", "new@school.example.org"
    add_user(store, email_old, PASSWORD, "school", [old])
    add_user(store, email_new, PASSWORD, "school", [new])
    ref = ref_of(store, upn)
    assert sign_in(app, email_old).get(f"/pupils/{ref}").status_code == 404
    assert sign_in(app, email_old).get(f"/api/v1/pupils/{ref}").status_code == 404
    record = sign_in(app, email_new).get(f"/api/v1/pupils/{ref}").json()
    assert {h["school_urn"] for h in record["history"]} == {new}, "only the terms spent at that school"
    if upn in set(pupil_terms.loc[pupil_terms["ncyear"] >= spec.SCORED_FROM_NCYEAR, "upn"]):
        assert record["score"] is not None, "but the pupil's current explanation"


def test_an_adviser_cannot_write_about_a_pupil_now_at_a_third_school(store, app, pupil_terms, schools):
    moved = movers(pupil_terms)
    upn, (old, new) = moved.index[0], moved.iloc[0]
    scope = [urn for urn in schools if urn != new][:2]
    assert old in scope or len(scope) == 2
    email = "two-schools@example.org"
    add_user(store, email, PASSWORD, "adviser", scope)
    adviser = sign_in(app, email)
    ref = ref_of(store, upn)
    token = csrf_of(adviser, "/caseload")
    page = adviser.post(
        f"/pupils/{ref}/reviews", data={"decision": "confirm", "csrf_token": token}, follow_redirects=False
    )
    api = adviser.post(
        f"/api/v1/pupils/{ref}/reviews", json={"decision": "confirm"}, headers={"X-CSRF-Token": token}
    )
    assert page.status_code == api.status_code == 404
    with store.engine.connect() as connection:
        rows = connection.execute(sa.text("select count(*) from reviews where upn = :u"), {"u": upn}).scalar()
    assert rows == 0


def test_year_11_leavers_are_visible_to_their_school_until_the_window_ends(store, pupil_terms):
    terms = pupil_terms[pupil_terms["ncyear"] == 11]
    order = [spec.term_index(y, t) for y, t in zip(terms["academic_year"], terms["term"], strict=True)]
    last_y11 = terms.assign(_i=order)
    leaver = last_y11.sort_values("_i").drop_duplicates("upn", keep="last")
    leaver = leaver[leaver["academic_year"] < LATEST[0]].iloc[0]  # left: no longer on any roll
    year11 = spec.year_start(leaver["academic_year"])
    end = window_end(pd.Series([year11]), load_outcome_definition()).iloc[0]
    pair = (leaver["upn"], leaver["school_urn"])

    def sees(today: date) -> bool:
        seen = enrolled(store, today)
        return bool(((seen["upn"] == pair[0]) & (seen["school_urn"] == pair[1])).any())

    assert sees(end), "the school still sees its leaver on the window's last day"
    assert not sees(end + timedelta(days=1)), "and not after it"


def test_reviews_and_interventions_reach_the_school_only_when_shared(store, pupil_terms, schools, clients):
    pupil = latest_rows(pupil_terms, schools[0]).iloc[5]
    ref = ref_of(store, pupil["upn"])
    adviser = clients["adviser"]
    token = csrf_of(adviser, "/caseload")
    for text, shared in (("Shared plan with school", "1"), ("Adviser only remark", "")):
        adviser.post(
            f"/pupils/{ref}/interventions",
            data={
                "kind": "Mentoring",
                "note": text,
                "started_on": "2027-01-11",
                "shared_with_school": shared,
                "csrf_token": token,
            },
        )
        adviser.post(
            f"/pupils/{ref}/reviews",
            data={"decision": "refer", "reason": text, "shared_with_school": shared, "csrf_token": token},
        )
    school = clients["school_a"].get(f"/pupils/{ref}").text
    assert school.count("Shared plan with school") == 2 and "Adviser only remark" not in school
    both = adviser.get(f"/pupils/{ref}").text
    assert both.count("Adviser only remark") == 2


def test_a_review_must_name_an_existing_run_and_pupil(store, pupil_terms, schools, clients):
    pupil = latest_rows(pupil_terms, schools[0]).iloc[6]
    ref = ref_of(store, pupil["upn"])
    adviser = clients["adviser"]
    token = csrf_of(adviser, "/caseload")
    response = adviser.post(
        f"/api/v1/pupils/{ref}/reviews",
        json={"decision": "confirm", "run_id": 987654},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 422 and "no scoring run" in response.json()["detail"]
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as connection:
        connection.execute(
            sa.text(
                "insert into reviews (upn, run_id, decision, reviewer_id, created_at, shared_with_school) "
                "values (:upn, 987654, 'confirm', 1, '2027-01-01', 0)"
            ),
            {"upn": pupil["upn"]},
        )
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as connection:
        connection.execute(
            sa.text(
                "insert into interventions (upn, kind, started_on, recorded_by, created_at, "
                "shared_with_school) values ('X999999999999', 'plan', '2027-01-01', 1, '2027-01-01', 0)"
            )
        )
    assert re.fullmatch(r"[0-9a-f]{24}", ref)
    assert st.pupils.name == "pupils"


def test_views_during_the_rebuild_after_an_upload_do_not_wait_but_an_erasure_is_waited_for(
    store, app, pupil_terms, schools, users
):
    """While one request rebuilds the enrolment after an upload (held here), others get the enrolment
    from before the upload at once; once rebuilt, the upload shows. An erasure is never served stale."""
    import threading

    from riskengine import enrolment
    from riskengine.privacy import forget

    urn = schools[2]
    email = "rebuild@school.example.org"
    add_user(store, email, PASSWORD, "school", [urn])
    client = sign_in(app, email)

    def upns() -> set[str]:
        page = client.get("/api/v1/caseload", params={"flagged_only": False, "per_page": 500})
        return {row["upn"] for row in page.json()["pupils"]}

    def ask() -> tuple[threading.Thread, dict]:
        got: dict = {}
        asking = threading.Thread(target=lambda: got.update(upns=upns()))
        asking.start()
        return asking, got

    shown = upns()
    leaver, erased = sorted(shown)[:2]
    rows = latest_rows(pupil_terms, urn)
    assert upload_term(store, rows[rows["upn"] != leaver], urn).ok  # the leaver is not on the new roll
    with enrolment._build_lock:  # another request is rebuilding the enrolment
        asking, got = ask()
        asking.join(10)
        assert got["upns"] == shown, "the enrolment from before the upload, without waiting"
    assert leaver not in upns() and erased in upns()

    forget(store, erased, users["admin"])
    with enrolment._build_lock:
        asking, got = ask()
        asking.join(0.5)
        assert asking.is_alive(), "an erasure is waited for"
    asking.join(10)
    assert erased not in got["upns"]

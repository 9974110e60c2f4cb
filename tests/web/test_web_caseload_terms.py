"""The caseload shows each school's latest scored term (issue 12, 4): schools upload and are scored at
different times, and one school's new term must not empty the others' caseloads."""

from __future__ import annotations

from tests.web.seeding import example_scores, store_pupil_terms


def test_caseload_is_kept_across_schools_scoring_at_different_times(store, pupil_terms, schools, clients):
    first, second = schools[0], schools[1]
    spring = pupil_terms[
        (pupil_terms["school_urn"] == first)
        & (pupil_terms["academic_year"] == "2026/27")
        & (pupil_terms["term"] == "spring")
    ]
    summer = spring.assign(term="summer")
    store_pupil_terms(store, summer)
    run = {
        "academic_year": "2026/27",
        "term": "summer",
        "rule_set_version": "rules-test-1",
        "feature_version": "features-test-1",
        "model_version": "model-test-1",
        "threshold": {"rule_bands": ["high"]},
        "settings": {},
    }
    store.save_scores(run, example_scores(summer, "2026/27", "summer"))

    rows = clients["admin"].get("/api/v1/caseload", params={"flagged_only": False, "per_page": 500}).json()
    terms = {(r["school_urn"], r["term"]) for r in rows["pupils"]}
    assert (first, "summer") in terms and (second, "spring") in terms, "each school's latest scored term"
    assert {term for urn, term in terms if urn != first} == {"spring"}
    for urn in (first, second):
        changes = [r["change"] for r in rows["pupils"] if r["school_urn"] == urn]
        assert any(c is not None for c in changes), f"{urn}: change against its own previous scored term"
    summer_rows = [r for r in rows["pupils"] if r["school_urn"] == first]
    assert len(summer_rows) == (summer["ncyear"] >= 9).sum()

    own = clients["school_b"].get("/api/v1/caseload", params={"flagged_only": False, "per_page": 500})
    assert own.json()["total"] > 0 and {r["school_urn"] for r in own.json()["pupils"]} == {second}
    page = clients["adviser"].get("/caseload?all_pupils=1").text
    assert "summer 2026/27" in page, "the page says which term each school's pupils were scored in"

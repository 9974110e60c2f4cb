"""`riskengine retention` purges names, dates of birth and notes after the destination window and the
retention period; `riskengine forget UPN` erases one pupil, leaving only the fact in the audit log."""

from __future__ import annotations

import re

import sqlalchemy as sa
from typer.testing import CliRunner

from riskengine.cli import app as cli
from riskengine.store import tables as st
from riskengine.upload import upload_bytes
from riskengine.web import tables as wt
from riskengine.web.pupils import refs_of
from tests.privacy.test_identity_upload import TERM, YEAR, term_rows
from tests.web.conftest import csrf_of


def counts(store, upn: str) -> dict[str, int]:
    """Rows mentioning this UPN in every table keyed by UPN."""
    with store.engine.connect() as connection:
        return {
            table.name: connection.execute(
                sa.select(sa.func.count()).select_from(table).where(table.c.upn == upn)
            ).scalar()
            for table in st.metadata.sorted_tables
            if "upn" in table.c
        }


def test_retention_purges_identity_and_notes_only_after_the_window_and_period(
    store, pupil_terms, schools, clients
):
    rows = term_rows(pupil_terms, schools[0])
    data = rows.to_csv(index=False).encode()
    assert upload_bytes(store, data, "term.csv", schools[0], YEAR, TERM).ok
    oldest = rows.loc[rows["ncyear"].idxmax()]  # Year 11 soonest: past retention first
    youngest = rows.loc[rows["ncyear"].idxmin()]
    adviser = clients["adviser"]
    token = csrf_of(adviser, "/caseload")
    for upn in (oldest["upn"], youngest["upn"]):
        ref = refs_of(store, [upn]).iloc[0]
        adviser.post(
            f"/pupils/{ref}/reviews", data={"decision": "refer", "reason": "Note", "csrf_token": token}
        )
    db = str(store.engine.url)
    now = CliRunner().invoke(cli, ["retention", "--db", db])
    assert now.exit_code == 0 and now.output.startswith("0 pupil(s)"), now.output

    # The oldest pupils' Year 11 is 2027/28 at the latest (window to March 2029, plus 12 months).
    later = CliRunner().invoke(cli, ["retention", "--as-of", "2030-06-01", "--db", db])
    assert later.exit_code == 0, later.output
    with store.engine.connect() as connection:
        kept = dict(connection.execute(sa.select(st.pupil_identity.c.upn, st.pupil_identity.c.surname)).all())
        notes = dict(connection.execute(sa.select(wt.reviews.c.upn, wt.reviews.c.reason)).all())
    assert oldest["upn"] not in kept and notes[oldest["upn"]] is None
    assert youngest["upn"] in kept and notes[youngest["upn"]] == "Note"
    assert counts(store, oldest["upn"])["pupil_terms"] > 0, "risk data stays for evaluation"


def test_forget_erases_one_pupil_and_the_audit_log_keeps_only_the_fact(store, pupil_terms, schools, clients):
    adviser = clients["adviser"]
    listed = adviser.get("/caseload?all_pupils=1").text  # and the caseload is cached now
    ref = re.search(r'href="/pupils/([0-9a-f]{24})"', listed).group(1)
    with store.engine.connect() as connection:
        upn = connection.execute(sa.select(st.pupil_refs.c.upn).where(st.pupil_refs.c.ref == ref)).scalar()
    token = csrf_of(adviser, "/caseload")
    adviser.post(
        f"/pupils/{ref}/interventions",
        data={"kind": "Mentor", "started_on": "2027-01-04", "csrf_token": token},
    )
    assert sum(counts(store, upn).values()) > 0
    db = str(store.engine.url)
    refused = CliRunner().invoke(cli, ["forget", upn, "--by", "adviser@example.org", "--db", db])
    assert refused.exit_code == 1 and "admin" in refused.output
    done = CliRunner().invoke(cli, ["forget", upn.lower(), "--by", "admin@example.org", "--db", db])
    assert done.exit_code == 0, done.output
    assert set(counts(store, upn).values()) == {0}
    assert adviser.get(f"/pupils/{ref}").status_code == 404
    assert ref not in adviser.get("/caseload?all_pupils=1").text, "erased: off the cached caseload at once"
    with store.engine.connect() as connection:
        log = connection.execute(sa.select(wt.audit_log).where(wt.audit_log.c.action == "forget_pupil")).all()
    assert len(log) == 1 and upn not in str(log[0])
    again = CliRunner().invoke(cli, ["forget", upn, "--by", "admin@example.org", "--db", db])
    assert again.exit_code == 1

"""Server-rendered pages. Thin: each route checks the session, calls one documented function, renders."""

from __future__ import annotations

import inspect
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from riskengine.enrolment import list_conflicts, resolve_conflict, school_names
from riskengine.evaluation.measures import load_measures
from riskengine.spec import upload as spec
from riskengine.upload import shipped_mappings
from riskengine.web import audit
from riskengine.web.accounts import (
    PUPIL_ROLES,
    ROLE_LABELS,
    LoginNeedsCode,
    LoginThrottled,
    authenticate,
)
from riskengine.web.auth import (
    SESSION_COOKIE,
    checked_form,
    client_ip,
    page_session,
    refused_as_404,
    session_of,
    store_of,
)
from riskengine.web.caseload import BLANK, IDENTITY_ROLES, SORTS, Caseload, CaseloadFilters, caseload
from riskengine.web.charts import pupil_chart
from riskengine.web.evaluator import (
    fairness_summary,
    headline_rows,
    latest_report,
    protected_flag_summary,
    report_headline,
    run_sizes,
    safe_report_html,
    versions_in_use,
)
from riskengine.web.export import caseload_xlsx
from riskengine.web.impact import intervention_context, latest_impact, record_assessment_form
from riskengine.web.jobs import PENDING, create_job, job_problems, problems_csv, read_job
from riskengine.web.pupils import refs_of, resolve_pupil
from riskengine.web.record import describe_threshold, pupil_record
from riskengine.web.reviews import REVIEWER_ROLES, record_intervention, record_review
from riskengine.web.sessions import Session, end_session, needs_totp_enrolment, start_session
from riskengine.web.tables import DECISIONS
from riskengine.web.uploads import UPLOAD_ROLES, UploadRequestError, check_upload, history_for
from riskengine.web.versions import Versions, read_versions

LOGIN_CSRF_COOKIE = "riskengine_login_csrf"
HOME_BY_ROLE = {"school": "/school", "adviser": "/caseload", "evaluator": "/evaluator", "admin": "/caseload"}

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.auto_reload = False  # templates ship with the package: no stat of every file on every render
templates.env.globals.update(role_labels=ROLE_LABELS, terms=spec.TERMS, decisions=DECISIONS)


def _missing(value) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value)


templates.env.filters.update(
    na=lambda value, blank=BLANK: blank if _missing(value) else value,
    pct=lambda value: BLANK if _missing(value) else f"{float(value):.0%}",
    yesno=lambda value: BLANK if _missing(value) else ("yes" if value else "no"),
    threshold=describe_threshold,
)
router = APIRouter(include_in_schema=False)


def request_versions(request: Request) -> Versions:
    """What the caches depend on, read once per request (the page and its caseload share them)."""
    if not hasattr(request.state, "versions"):
        request.state.versions = read_versions(store_of(request))
    return request.state.versions


def page_school_names(request: Request) -> dict[str, str]:
    """The school names, as cached for this request's version of the schools list."""
    return school_names(store_of(request), request_versions(request).names)


def render(request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
    session = session_of(request)
    names = page_school_names(request) if session is not None else {}
    return templates.TemplateResponse(
        request,
        name,
        {
            "session": session,
            "user": session.user if session else None,
            "status_code": status_code,
            "school_name": lambda urn: names.get(urn, urn) if urn else BLANK,
            "errors": [],
            "field_errors": {},
            **context,
        },
        status_code=status_code,
    )


def problems(*fields: tuple[str, str]) -> dict:
    """A failed form's (field id, message) pairs as the GOV.UK error pattern shows them: the error summary
    at the top, linking to each field, and the message again beside the field."""
    fields = tuple((field, text[:1].upper() + text[1:]) for field, text in fields)
    return {
        "errors": [{"text": text, "href": f"#{field}"} for field, text in fields],
        "field_errors": dict(fields),
    }


def _set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    secure = request.app.state.https_only or request.url.scheme == "https"
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax", secure=secure, path="/")


@router.get("/")
def home(request: Request) -> Response:
    session = page_session(request)
    return RedirectResponse(HOME_BY_ROLE[session.user.role], status_code=303)


@router.get("/login")
def login_page(request: Request) -> Response:
    return _login_form(request)


def _login_form(
    request: Request, error: tuple[str, str] | None = None, status_code: int = 200, email: str = ""
) -> Response:
    """The sign-in form with a fresh login CSRF token (double-submitted: cookie and hidden field); after a
    failed sign-in, the (field, message) error and the email as typed."""
    token = secrets.token_urlsafe(32)
    context = problems(error) if error else {}
    response = render(
        request, "login.html", status_code=status_code, login_csrf=token, email=email, **context
    )
    _set_cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=10)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not expected or not secrets.compare_digest(expected, str(form.get("csrf_token", ""))):
        raise HTTPException(
            status_code=403, detail="the form was missing its security token; reload the page"
        )
    email = str(form.get("email", ""))
    try:  # argon2 is deliberately slow: verify in a worker thread so other requests keep flowing
        user = await run_in_threadpool(
            authenticate,
            store_of(request),
            email,
            str(form.get("password", "")),
            client_ip(request),
            str(form.get("code", "")),
        )
    except LoginThrottled as error:
        return _login_form(request, ("email", str(error)), 429, email)
    except LoginNeedsCode:
        error = "Enter the 6-digit code from your authentication app (or check it and try again)."
        return _login_form(request, ("code", error), 401, email)
    if user is None:
        return _login_form(request, ("email", "Wrong email or password."), 401, email)
    home = "/account/totp" if needs_totp_enrolment(user) else HOME_BY_ROLE[user.role]
    response = RedirectResponse(home, status_code=303)
    _set_cookie(request, response, SESSION_COOKIE, start_session(store_of(request), user), max_age=8 * 3600)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    await checked_form(request, enrolling=True)
    end_session(store_of(request), request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


@dataclass
class CaseloadQuery:
    """The caseload's query parameters, one FastAPI dependency for the page and its XLSX export: the
    raw values as typed (for the page's links) and the filters they mean."""

    school: str | None = None
    ncyear: str | None = None
    band: str | None = None
    sort: str = "risk"
    order: str = "desc"
    all_pupils: str | None = None
    q: str | None = None
    not_reviewed: str | None = None
    page: int = 1

    def filters(self, per_page: int | None = 50) -> CaseloadFilters:
        return CaseloadFilters(
            school=self.school or None,
            ncyear=_int_or_none(self.ncyear),
            band=self.band or None,
            flagged_only=not self.all_pupils,
            sort=self.sort if self.sort in SORTS else "risk",
            descending=self.order != "asc",
            page=max(self.page, 1),
            per_page=per_page,
            search=(self.q or "").strip()[:100] or None,
            not_reviewed=bool(self.not_reviewed),
        )

    def link(self, **changes) -> str:
        """This query string with some values changed (the filters given, sort and order always)."""
        kept = ("school", "ncyear", "band", "all_pupils", "q", "not_reviewed")
        query = {k: getattr(self, k) for k in kept if getattr(self, k)}
        return "?" + urlencode({**query, "sort": self.filters().sort, "order": self.order, **changes})


async def caseload_query(**values: Any) -> CaseloadQuery:
    """CaseloadQuery as an async dependency (same parameters): FastAPI runs a class or plain function in
    a worker thread, a hop (and, under load, a wait for the GIL) that reading a query string does not need."""
    return CaseloadQuery(**values)


caseload_query.__signature__ = inspect.signature(CaseloadQuery)  # what FastAPI reads the parameters from


_rows: dict[tuple, dict[tuple, Markup]] = {}
MAX_ROWS = 20_000


def caseload_rows(result: Caseload, names: tuple, named: bool) -> Callable[[dict], Markup]:
    """Each caseload row's HTML but its review cell, rendered once and kept until what the rows were
    built from (Caseload.built_from) or the school names (`names`: their version) move: the same row shows
    on every page view until then, and escaping its cells was a quarter of a caseload request's time.
    `named`: the viewer's role sees names."""
    generation = (result.built_from, names)
    held = _rows.get(generation)
    if held is None:
        _rows.clear()
        held = _rows[generation] = {}
    macro = templates.get_template("_caseload_row.html").module.caseload_row

    def html(row: dict) -> Markup:
        key = (row["ref"], row["school_urn"], named)  # a dual registration has a row at each school
        if (found := held.get(key)) is None:
            if len(held) >= MAX_ROWS:
                held.clear()
            found = held[key] = macro(row, named)
        return found

    return html


@router.get("/caseload")
def caseload_page(request: Request, query: Annotated[CaseloadQuery, Depends(caseload_query)]) -> Response:
    session = page_session(request, *PUPIL_ROLES)
    filters = query.filters()
    result = caseload(store_of(request), session.user, filters, versions=request_versions(request))
    audit.record(
        store_of(request),
        session.user,
        "view_caseload",
        detail=f"page {filters.page}: {len(result.rows)} pupils",
    )
    return render(
        request,
        "caseload.html",
        caseload=result,
        filters=filters,
        link=query.link,
        order=query.order,
        pages=max(1, -(-result.total // filters.per_page)),
        export_link="/caseload.xlsx" + query.link(),
        row_html=caseload_rows(result, request_versions(request).names, session.user.role in IDENTITY_ROLES),
    )


@router.get("/caseload.xlsx")
def caseload_export(request: Request, query: Annotated[CaseloadQuery, Depends(caseload_query)]) -> Response:
    """The caseload as filtered on the page, every page, as an XLSX workbook."""
    session = page_session(request, *PUPIL_ROLES)
    result = caseload(
        store_of(request), session.user, query.filters(per_page=None), versions=request_versions(request)
    )
    audit.record(store_of(request), session.user, "export_caseload", detail=f"{result.total} pupils")
    return Response(
        caseload_xlsx(result.rows, with_identity=session.user.role in IDENTITY_ROLES),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": 'attachment; filename="caseload.xlsx"'},
    )


@router.get("/pupils/{ref}")
def pupil_page(request: Request, ref: str) -> Response:
    return _pupil_page(request, page_session(request, *PUPIL_ROLES), ref)


def _pupil_page(
    request: Request,
    session: Session,
    ref: str,
    status_code: int = 200,
    errors: list[dict] | None = None,
    typed: dict | None = None,
) -> Response:
    """The pupil page; after a failed form, with the error summary and what was typed kept in the form."""
    store = store_of(request)
    with refused_as_404(request, session.user, ref):
        record = pupil_record(store, session.user, ref)
    audit.record(store, session.user, "view_pupil", ref)
    chart = pupil_chart(record.score)
    return render(
        request,
        "pupil.html",
        status_code=status_code,
        record=record,
        chart=chart,
        can_review=session.user.role in REVIEWER_ROLES,
        today=date.today().isoformat(),
        errors=errors or [],
        typed=typed or {},
        **intervention_context(store, record.upn),
    )


def _pupil_for_write(request: Request, session: Session, ref: str) -> str:
    with refused_as_404(request, session.user, ref):
        return resolve_pupil(store_of(request), session.user, ref)


@router.post("/pupils/{ref}/reviews")
async def review_form(request: Request, ref: str) -> Response:
    session, form = await checked_form(request, *REVIEWER_ROLES)
    upn = _pupil_for_write(request, session, ref)
    typed = {k: str(form.get(k, "")) for k in ("decision", "reason", "shared_with_school")}
    try:
        record_review(
            store_of(request),
            session.user,
            upn,
            typed["decision"],
            typed["reason"],
            _int_or_none(str(form.get("run_id", ""))),
            shared_with_school=bool(typed["shared_with_school"]),
        )
    except ValueError as error:
        field = "decision" if "decision" in str(error) else "reason"
        errors = [{"text": str(error), "href": f"#review-{field}"}]
        return _pupil_page(request, session, ref, 422, errors, {"review": typed})
    audit.record(store_of(request), session.user, "review", ref, str(form.get("decision", "")))
    return RedirectResponse(f"/pupils/{ref}#reviews", status_code=303)


@router.post("/pupils/{ref}/interventions")
async def intervention_form(request: Request, ref: str) -> Response:
    session, form = await checked_form(request, *REVIEWER_ROLES)
    upn = _pupil_for_write(request, session, ref)
    fields = ("kind", "started_on", "ended_on", "note", "shared_with_school")
    fields += ("status", "adviser", "qualification", "intervention_id")
    typed = {k: str(form.get(k, "")) for k in fields}
    try:
        try:
            started = date.fromisoformat(typed["started_on"])
            ended = date.fromisoformat(typed["ended_on"]) if typed["ended_on"] else None
        except ValueError:
            raise ValueError("give the dates as real dates, like 2025-01-31") from None
        record_intervention(
            store_of(request),
            session.user,
            upn,
            typed["kind"],
            started,
            ended,
            typed["note"],
            status=typed["status"] or None,
            adviser=typed["adviser"].strip() or None,
            qualification=typed["qualification"] or None,
            intervention_id=typed["intervention_id"] or None,
            shared_with_school=bool(typed["shared_with_school"]),
        )
    except ValueError as error:
        message = str(error)
        field = "until" if "end" in message else "from" if "date" in message else "kind"
        errors = [{"text": message, "href": f"#intervention-{field}"}]
        return _pupil_page(request, session, ref, 422, errors, {"intervention": typed})
    audit.record(store_of(request), session.user, "intervention", ref)
    return RedirectResponse(f"/pupils/{ref}#interventions", status_code=303)


@router.post("/pupils/{ref}/assessments")
async def assessment_form(request: Request, ref: str) -> Response:
    session, form = await checked_form(request, *REVIEWER_ROLES)
    upn = _pupil_for_write(request, session, ref)
    typed = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    try:
        record_assessment_form(store_of(request), session.user, upn, typed)
    except ValueError as error:
        errors = [{"text": str(error), "href": f"#assessment-{typed.get('instrument', '')}-date"}]
        return _pupil_page(request, session, ref, 422, errors, {"assessment": typed})
    audit.record(store_of(request), session.user, "assessment", ref)
    return RedirectResponse(f"/pupils/{ref}#assessments", status_code=303)


@router.get("/evaluator/impact")
def impact_page(request: Request) -> Response:
    page_session(request, "evaluator", "admin")
    try:
        impact = latest_impact(request.app.state.reports_dir)
    except ValueError as error:
        raise HTTPException(status_code=409, detail=str(error)) from None
    return render(request, "impact.html", impact=impact, measures=load_measures())


def _school_page(request: Request, session: Session, status_code: int = 200, **context) -> HTMLResponse:
    """The upload page: the form (for roles that upload) above the scope's upload history."""
    return render(
        request,
        "school.html",
        status_code=status_code,
        uploads=history_for(store_of(request), session.user),
        can_upload=session.user.role in UPLOAD_ROLES,
        mappings=shipped_mappings(),
        **context,
    )


@router.get("/school")
def school_page(request: Request) -> Response:
    return _school_page(request, page_session(request, *PUPIL_ROLES))


@router.post("/school/upload")
async def upload_form(request: Request) -> Response:
    """Check the request (session first, before the body is read), queue the file for a worker process
    and answer at once with the job's status page."""
    session, form = await checked_form(request, *UPLOAD_ROLES)
    typed = {k: str(form.get(k, "")) for k in ("school_urn", "academic_year", "term", "mapping")}
    file = form.get("file")
    if file is None or isinstance(file, str) or not file.filename:
        missing = problems(("file", "choose a file to upload"))
        return _school_page(request, session, 422, typed=typed, **missing)
    data = await file.read()
    store = store_of(request)
    try:
        job = await run_in_threadpool(
            check_upload, session.user, data, file.filename or "upload.csv", **typed
        )
    except UploadRequestError as error:
        audit.record(store, session.user, "upload_refused", detail=str(error)[:200])
        return _school_page(request, session, 422, typed=typed, **problems((error.field, str(error))))
    job_id = await run_in_threadpool(create_job, store, job)
    await request.app.state.upload_jobs.submit(job_id, data, job)
    return RedirectResponse(f"/school/uploads/{job_id}", status_code=303)


def _own_job(request: Request, session: Session, job_id: str) -> dict:
    """The job if this user started it (or is an admin); otherwise the same 404 as an unknown id."""
    job = read_job(store_of(request), job_id) if job_id.isalnum() and len(job_id) <= 32 else None
    if job is None or (job["user_id"] != session.user.id and session.user.role != "admin"):
        raise HTTPException(status_code=404, detail="no such upload; upload the file again")
    return job


@router.get("/school/uploads/{job_id}")
def upload_status_page(request: Request, job_id: str) -> Response:
    """The upload's status: refreshes itself (a meta refresh; the CSP allows no script) until done."""
    session = page_session(request, *UPLOAD_ROLES)
    job = _own_job(request, session, job_id)
    found = job_problems(job)
    return render(
        request,
        "upload_result.html",
        job=job,
        pending=job["state"] in PENDING,
        error_rows=found[found["severity"] == "error"],
        warning_rows=found[found["severity"] == "warning"],
        uploads=history_for(store_of(request), session.user),
    )


@router.get("/school/uploads/{job_id}/problems.csv")
def problems_csv_download(request: Request, job_id: str) -> Response:
    session = page_session(request, *UPLOAD_ROLES)
    job = _own_job(request, session, job_id)
    audit.record(store_of(request), session.user, "download_problems", detail=job["filename"][:200])
    return Response(
        "\ufeff" + problems_csv(job),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="upload-problems.csv"'},
    )


@router.get("/evaluator")
def evaluator_page(request: Request) -> Response:
    page_session(request, "evaluator", "admin")
    store = store_of(request)
    report = latest_report(request.app.state.reports_dir)
    try:
        headline = report_headline(report) if report else {}
    except ValueError as error:
        raise HTTPException(status_code=409, detail=str(error)) from None
    return render(
        request,
        "evaluator.html",
        versions=run_sizes(versions_in_use(store)),
        summary=protected_flag_summary(store),
        report=report,
        headline=headline_rows(headline),
    )


@router.get("/evaluator/fairness")
def fairness_page(request: Request) -> Response:
    page_session(request, "evaluator", "admin")
    report = latest_report(request.app.state.reports_dir)
    try:
        attributes = fairness_summary(report) if report else []
    except ValueError as error:
        raise HTTPException(status_code=409, detail=str(error)) from None
    return render(request, "fairness.html", report=report, attributes=attributes)


@router.get("/evaluator/full")
def evaluator_full_report(request: Request) -> Response:
    """The full report inside the site's own page, with the way back to the overview."""
    page_session(request, "evaluator", "admin")
    return render(request, "evaluator_full.html", report=latest_report(request.app.state.reports_dir))


@router.get("/evaluator/report")
def evaluator_report(request: Request) -> Response:
    """The evaluation report itself, sandboxed: its inline styles and embedded images only."""
    page_session(request, "evaluator", "admin")
    path = latest_report(request.app.state.reports_dir)
    if path is None:
        raise HTTPException(status_code=404, detail="no evaluation report has been written yet")
    try:
        html = safe_report_html(path)
    except ValueError as error:
        raise HTTPException(status_code=409, detail=str(error)) from None
    return HTMLResponse(html, headers={"Content-Security-Policy": request.app.state.report_csp})


AUDIT_PER_PAGE = 100


def _date_or_none(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _bad_dates(**dates: str | None) -> list[tuple[str, str]]:
    """(field, message) for each date filter given that is not a real date: said, never silently ignored."""
    return [
        (field, "enter a real date, like 2025-01-31")
        for field, value in dates.items()
        if value and _date_or_none(value) is None
    ]


@router.get("/admin/audit")
def audit_page(
    request: Request,
    pupil: str | None = None,
    user: str | None = None,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
    page: int = 1,
) -> Response:
    session = page_session(request, "admin")
    store = store_of(request)
    audit.record(store, session.user, "read_audit")
    filters = audit.AuditFilters(
        email=user or None,
        action=action or None,
        since=_date_or_none(since),
        until=_date_or_none(until),
        pupil_ref=pupil or None,
    )
    page = max(page, 1)
    entries = audit.read_audit(store, AUDIT_PER_PAGE, offset=(page - 1) * AUDIT_PER_PAGE, filters=filters)
    total = audit.count_audit(store, filters)
    query = {
        k: v
        for k, v in {"pupil": pupil, "user": user, "action": action, "since": since, "until": until}.items()
        if v
    }
    return render(
        request,
        "audit.html",
        entries=entries,
        filters=filters,
        query=query,
        actions=audit.audit_actions(store),
        page=page,
        pages=max(1, -(-total // AUDIT_PER_PAGE)),
        total=total,
        link=lambda n: "?" + urlencode({**query, "page": n}),
        typed={"since": since, "until": until},
        **problems(*_bad_dates(since=since, until=until)),
    )


@router.get("/admin/conflicts")
def conflicts_page(request: Request) -> Response:
    """Pupils found on two schools' rolls in one term: conflicts to resolve, and dual registrations."""
    session = page_session(request, "admin")
    audit.record(store_of(request), session.user, "read_conflicts")
    frame = list_conflicts(store_of(request))
    refs = refs_of(store_of(request), frame["upn"]) if len(frame) else pd.Series(dtype="string")
    rows = frame.assign(ref=frame["upn"].map(refs)).to_dict("records") if len(frame) else []
    return render(request, "conflicts.html", conflicts=rows)


@router.post("/admin/conflicts/{conflict_id}/resolve")
async def conflict_resolve(request: Request, conflict_id: int) -> Response:
    """The admin has checked the rolls: the uploading school now sees the pupil."""
    session, _ = await checked_form(request, "admin")
    try:
        resolve_conflict(store_of(request), conflict_id, session.user.email)
    except LookupError as error:
        raise HTTPException(status_code=404, detail=str(error)) from None
    audit.record(store_of(request), session.user, "resolve_conflict", detail=f"conflict {conflict_id}")
    return RedirectResponse("/admin/conflicts", status_code=303)

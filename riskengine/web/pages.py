"""Server-rendered pages. Thin: each route checks the session, calls one documented function, renders."""

from __future__ import annotations

import secrets
from collections import OrderedDict
from datetime import date
from pathlib import Path
from urllib.parse import urlencode

import pandas as pd
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from riskengine.spec import upload as spec
from riskengine.upload import shipped_mappings
from riskengine.web import audit
from riskengine.web.accounts import PUPIL_ROLES, ROLE_LABELS, LoginThrottled, authenticate
from riskengine.web.auth import (
    MAX_UPLOAD_BYTES,
    SESSION_COOKIE,
    checked_form,
    client_ip,
    page_session,
    refused_as_404,
    session_of,
    store_of,
)
from riskengine.web.caseload import BLANK, SORTS, CaseloadFilters, caseload
from riskengine.web.charts import contribution_chart, feature_labels
from riskengine.web.evaluator import (
    fairness_tables,
    flag_summary,
    latest_report,
    report_headline,
    safe_report_html,
    versions_in_use,
)
from riskengine.web.impact import intervention_context, latest_impact, record_assessment_form
from riskengine.web.pupils import resolve_pupil
from riskengine.web.record import describe_threshold, pupil_record
from riskengine.web.reviews import REVIEWER_ROLES, record_intervention, record_review
from riskengine.web.sessions import Session, end_session, start_session
from riskengine.web.tables import DECISIONS
from riskengine.web.uploads import UPLOAD_ROLES, UploadRequestError, history_for, upload_for

LOGIN_CSRF_COOKIE = "riskengine_login_csrf"
HOME_BY_ROLE = {"school": "/school", "adviser": "/caseload", "evaluator": "/evaluator", "admin": "/caseload"}
MAX_ERROR_REPORTS = 200

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
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


def render(request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
    session = session_of(request)
    return templates.TemplateResponse(
        request,
        name,
        {
            "session": session,
            "user": session.user if session else None,
            "status_code": status_code,
            **context,
        },
        status_code=status_code,
    )


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


def _login_form(request: Request, error: str | None = None, status_code: int = 200) -> Response:
    """The sign-in form with a fresh login CSRF token (double-submitted: cookie and hidden field)."""
    token = secrets.token_urlsafe(32)
    response = render(request, "login.html", status_code=status_code, login_csrf=token, error=error)
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
    try:  # argon2 is deliberately slow: verify in a worker thread so other requests keep flowing
        user = await run_in_threadpool(
            authenticate,
            store_of(request),
            str(form.get("email", "")),
            str(form.get("password", "")),
            client_ip(request),
        )
    except LoginThrottled as error:
        return _login_form(request, error=str(error), status_code=429)
    if user is None:
        return _login_form(request, error="Wrong email or password.", status_code=401)
    response = RedirectResponse(HOME_BY_ROLE[user.role], status_code=303)
    _set_cookie(request, response, SESSION_COOKIE, start_session(store_of(request), user), max_age=8 * 3600)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    await checked_form(request)
    end_session(store_of(request), request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


@router.get("/caseload")
def caseload_page(
    request: Request,
    school: str | None = None,
    ncyear: str | None = None,
    band: str | None = None,
    sort: str = "risk",
    order: str = "desc",
    all_pupils: str | None = None,
    page: int = 1,
) -> Response:
    session = page_session(request, *PUPIL_ROLES)
    filters = CaseloadFilters(
        school=school or None,
        ncyear=_int_or_none(ncyear),
        band=band or None,
        flagged_only=not all_pupils,
        sort=sort if sort in SORTS else "risk",
        descending=order != "asc",
        page=max(page, 1),
    )
    result = caseload(store_of(request), session.user, filters)
    query = {
        k: v
        for k, v in {"school": school, "ncyear": ncyear, "band": band, "all_pupils": all_pupils}.items()
        if v
    }

    def link(**changes) -> str:
        return "?" + urlencode({**query, "sort": filters.sort, "order": order, **changes})

    return render(
        request,
        "caseload.html",
        caseload=result,
        filters=filters,
        link=link,
        order=order,
        pages=max(1, -(-result.total // filters.per_page)),
    )


@router.get("/pupils/{ref}")
def pupil_page(request: Request, ref: str) -> Response:
    session = page_session(request, *PUPIL_ROLES)
    store = store_of(request)
    with refused_as_404(request, session.user, ref):
        record = pupil_record(store, session.user, ref)
    audit.record(store, session.user, "view_pupil", ref)
    chart = contribution_chart(record.score.get("contributions") if record.score else None, feature_labels())
    return render(
        request,
        "pupil.html",
        record=record,
        chart=chart,
        can_review=session.user.role in REVIEWER_ROLES,
        today=date.today().isoformat(),
        **intervention_context(store, record.upn),
    )


def _pupil_for_write(request: Request, session: Session, ref: str) -> str:
    with refused_as_404(request, session.user, ref):
        return resolve_pupil(store_of(request), session.user, ref)


@router.post("/pupils/{ref}/reviews")
async def review_form(request: Request, ref: str) -> Response:
    session, form = await checked_form(request, *REVIEWER_ROLES)
    upn = _pupil_for_write(request, session, ref)
    try:
        record_review(
            store_of(request),
            session.user,
            upn,
            str(form.get("decision", "")),
            str(form.get("reason", "")),
            _int_or_none(str(form.get("run_id", ""))),
        )
    except ValueError as error:
        raise HTTPException(status_code=422, detail=str(error)) from None
    audit.record(store_of(request), session.user, "review", ref, str(form.get("decision", "")))
    return RedirectResponse(f"/pupils/{ref}#reviews", status_code=303)


@router.post("/pupils/{ref}/interventions")
async def intervention_form(request: Request, ref: str) -> Response:
    session, form = await checked_form(request, *REVIEWER_ROLES)
    upn = _pupil_for_write(request, session, ref)
    try:
        started = date.fromisoformat(str(form.get("started_on", "")))
        ended = date.fromisoformat(str(form["ended_on"])) if form.get("ended_on") else None
        record_intervention(
            store_of(request),
            session.user,
            upn,
            str(form.get("kind", "")),
            started,
            ended,
            str(form.get("note", "")),
            status=str(form.get("status", "")) or None,
            adviser=str(form.get("adviser", "")).strip() or None,
            qualification=str(form.get("qualification", "")) or None,
            intervention_id=str(form.get("intervention_id", "")) or None,
        )
    except ValueError as error:
        raise HTTPException(status_code=422, detail=str(error)) from None
    audit.record(store_of(request), session.user, "intervention", ref)
    return RedirectResponse(f"/pupils/{ref}#interventions", status_code=303)


@router.post("/pupils/{ref}/assessments")
async def assessment_form(request: Request, ref: str) -> Response:
    session, form = await checked_form(request, *REVIEWER_ROLES)
    upn = _pupil_for_write(request, session, ref)
    try:
        record_assessment_form(store_of(request), session.user, upn, dict(form))
    except ValueError as error:
        raise HTTPException(status_code=422, detail=str(error)) from None
    audit.record(store_of(request), session.user, "assessment", ref)
    return RedirectResponse(f"/pupils/{ref}#assessments", status_code=303)


@router.get("/evaluator/impact")
def impact_page(request: Request) -> Response:
    page_session(request, "evaluator", "admin")
    try:
        impact = latest_impact(request.app.state.reports_dir)
    except ValueError as error:
        raise HTTPException(status_code=409, detail=str(error)) from None
    return render(request, "impact.html", impact=impact)


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
    session, form = await checked_form(request, *UPLOAD_ROLES)
    file = form.get("file")
    if file is None or isinstance(file, str):
        raise HTTPException(status_code=422, detail="choose a file to upload")
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    store = store_of(request)
    try:
        result = upload_for(
            store,
            session.user,
            data,
            file.filename or "upload.csv",
            str(form.get("school_urn", "")),
            str(form.get("academic_year", "")),
            str(form.get("term", "")),
            str(form.get("mapping", "")),
        )
    except UploadRequestError as error:
        return _school_page(request, session, status_code=422, error=str(error))
    token = None
    if len(result.errors) or len(result.warnings):
        token = secrets.token_urlsafe(16)
        reports: OrderedDict = request.app.state.error_reports
        reports[token] = (session.user.id, result.errors_csv())
        while len(reports) > MAX_ERROR_REPORTS:
            reports.popitem(last=False)
    return render(
        request,
        "upload_result.html",
        status_code=422 if result.status == "rejected" else 200,
        result=result,
        token=token,
        uploads=history_for(store, session.user),
    )


@router.get("/school/problems/{token}.csv")
def problems_csv(request: Request, token: str) -> Response:
    session = page_session(request, *UPLOAD_ROLES)
    owner, text = request.app.state.error_reports.get(token, (None, None))
    if owner != session.user.id:
        raise HTTPException(status_code=404, detail="that report has expired; upload the file again")
    return Response(
        "\ufeff" + text,
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
        versions=versions_in_use(store),
        summary=flag_summary(store),
        report=report,
        headline=headline,
    )


@router.get("/evaluator/fairness")
def fairness_page(request: Request) -> Response:
    page_session(request, "evaluator", "admin")
    report = latest_report(request.app.state.reports_dir)
    try:
        tables = fairness_tables(report) if report else {}
    except ValueError as error:
        raise HTTPException(status_code=409, detail=str(error)) from None
    return render(request, "fairness.html", report=report, tables=tables)


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


@router.get("/admin/audit")
def audit_page(request: Request, pupil: str | None = None) -> Response:
    session = page_session(request, "admin")
    audit.record(store_of(request), session.user, "read_audit")
    return render(
        request, "audit.html", entries=audit.read_audit(store_of(request), pupil_ref=pupil), pupil=pupil
    )

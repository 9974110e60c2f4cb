"""The JSON API (/api/v1): the pages' actions for scripts and other systems, described at /openapi.json.

Authenticate with POST /api/v1/session, then send `Authorization: Bearer <token>`. Scope and roles are the
same as the pages': the same functions answer both.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any, Literal

import pandas as pd
from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from riskengine.enrolment import list_conflicts
from riskengine.web import audit
from riskengine.web.accounts import (
    PUPIL_ROLES,
    LoginNeedsCode,
    LoginThrottled,
    authenticate,
    end_all_sessions,
)
from riskengine.web.auth import (
    api_session,
    client_ip,
    refused_as_404,
    session_token,
    store_of,
)
from riskengine.web.caseload import SORTS, CaseloadFilters, caseload
from riskengine.web.evaluator import protected_flag_summary, run_sizes, versions_in_use
from riskengine.web.jobs import PENDING, create_job, job_problems, read_job
from riskengine.web.pupils import resolve_pupil
from riskengine.web.record import pupil_record
from riskengine.web.reviews import REVIEWER_ROLES, record_intervention, record_review
from riskengine.web.sessions import SESSION_LIFETIME, end_session, start_session
from riskengine.web.uploads import UPLOAD_ROLES, UploadRequestError, check_upload, history_for

router = APIRouter(prefix="/api/v1", tags=["api"])


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame as JSON-ready records (missing -> null, timestamps -> ISO strings)."""
    return json.loads(frame.to_json(orient="records", date_format="iso", default_handler=str))


class Credentials(BaseModel):
    email: str = Field(max_length=255)
    password: str = Field(max_length=1024)
    code: str | None = Field(None, max_length=8, description="the authentication app's code, if set up")


class SessionOut(BaseModel):
    token: str = Field(description="send as `Authorization: Bearer <token>`")
    role: str
    expires_in_seconds: int


class ReviewIn(BaseModel):
    decision: Literal["confirm", "dismiss", "refer"]
    reason: str = Field("", max_length=2000, description="required when dismissing")
    run_id: int | None = None
    shared_with_school: bool = Field(False, description="the pupil's school sees it only when true")


class InterventionIn(BaseModel):
    kind: str = Field(max_length=100)
    started_on: date
    ended_on: date | None = None
    note: str = Field("", max_length=5000)
    shared_with_school: bool = Field(False, description="the pupil's school sees it only when true")


class Created(BaseModel):
    id: int


@router.post("/session", response_model=SessionOut, summary="Sign in and get a bearer token")
def sign_in(request: Request, credentials: Credentials) -> SessionOut:
    try:
        user = authenticate(
            store_of(request), credentials.email, credentials.password, client_ip(request), credentials.code
        )
    except LoginThrottled as error:
        raise HTTPException(status_code=429, detail=str(error)) from None
    except LoginNeedsCode as error:
        raise HTTPException(status_code=401, detail=str(error)) from None
    if user is None:
        raise HTTPException(status_code=401, detail="wrong email or password")
    token = start_session(store_of(request), user)
    return SessionOut(token=token, role=user.role, expires_in_seconds=int(SESSION_LIFETIME.total_seconds()))


@router.delete("/session", status_code=204, summary="Sign out (the token stops working)")
def sign_out(request: Request) -> None:
    api_session(request)
    end_session(store_of(request), session_token(request))


@router.delete("/sessions", status_code=204, summary="Sign out everywhere (every token and browser session)")
def sign_out_everywhere(request: Request) -> None:
    user = api_session(request).user
    end_all_sessions(store_of(request), user.id)
    audit.record(store_of(request), user, "sign_out_everywhere", detail="api")


@router.get("/me", summary="Who the token belongs to and their schools")
def me(request: Request) -> dict[str, Any]:
    user = api_session(request).user
    return {"email": user.email, "role": user.role, "schools": user.schools}


@router.get("/caseload", summary="Flagged pupils in scope with risk, band, top reasons and change")
def caseload_api(
    request: Request,
    school: str | None = None,
    ncyear: int | None = None,
    band: str | None = None,
    flagged_only: bool = True,
    sort: Literal["risk", "points", "change", "school", "year"] = "risk",
    descending: bool = True,
    page: int = 1,
    per_page: int = 50,
    q: str | None = None,
    not_reviewed: bool = False,
) -> dict[str, Any]:
    user = api_session(request, *PUPIL_ROLES).user
    filters = CaseloadFilters(
        school,
        ncyear,
        band,
        flagged_only,
        sort if sort in SORTS else "risk",
        descending,
        max(int(page), 1),
        min(max(per_page, 1), 500),
        search=(q or "").strip()[:100] or None,
        not_reviewed=not_reviewed,
    )
    result = caseload(store_of(request), user, filters)
    audit.record(
        store_of(request), user, "view_caseload", detail=f"api page {filters.page}: {len(result.rows)} pupils"
    )
    return {
        "total": result.total,
        "page": filters.page,
        "per_page": filters.per_page,
        "run_id": None if result.run is None else int(result.run["id"]),
        "pupils": [{k: v for k, v in row.items() if not k.endswith("_text")} for row in result.rows],
    }


def _upn(request: Request, user, ref: str) -> str:
    with refused_as_404(request, user, ref):
        return resolve_pupil(store_of(request), user, ref)


@router.get(
    "/pupils/{ref}", summary="A pupil's history, latest score and versions, reviews and interventions"
)
def pupil_api(request: Request, ref: str) -> dict[str, Any]:
    user = api_session(request, *PUPIL_ROLES).user
    with refused_as_404(request, user, ref):
        record = pupil_record(store_of(request), user, ref)
    audit.record(store_of(request), user, "view_pupil", ref, "api")
    return {
        "ref": record.ref,
        "upn": record.upn,
        "schools": record.schools,
        "dual_registration": record.dual,
        "identity": json.loads(json.dumps(record.identity, default=str)),
        "history": records(record.history),
        "score": json.loads(json.dumps(record.score, default=str)) if record.score else None,
        "run": json.loads(json.dumps(record.run, default=str)) if record.run else None,
        "reviews": records(record.reviews),
        "interventions": records(record.interventions),
    }


@router.post("/pupils/{ref}/reviews", status_code=201, response_model=Created, summary="Record a review")
def review_api(request: Request, ref: str, review: ReviewIn) -> Created:
    user = api_session(request, *REVIEWER_ROLES).user
    upn = _upn(request, user, ref)
    try:
        review_id = record_review(
            store_of(request),
            user,
            upn,
            review.decision,
            review.reason,
            review.run_id,
            shared_with_school=review.shared_with_school,
        )
    except ValueError as error:
        raise HTTPException(status_code=422, detail=str(error)) from None
    audit.record(store_of(request), user, "review", ref, review.decision)
    return Created(id=review_id)


@router.post(
    "/pupils/{ref}/interventions", status_code=201, response_model=Created, summary="Record an intervention"
)
def intervention_api(request: Request, ref: str, intervention: InterventionIn) -> Created:
    user = api_session(request, *REVIEWER_ROLES).user
    upn = _upn(request, user, ref)
    try:
        new_id = record_intervention(
            store_of(request),
            user,
            upn,
            intervention.kind,
            intervention.started_on,
            intervention.ended_on,
            intervention.note,
            shared_with_school=intervention.shared_with_school,
        )
    except ValueError as error:
        raise HTTPException(status_code=422, detail=str(error)) from None
    audit.record(store_of(request), user, "intervention", ref)
    return Created(id=new_id)


@router.get("/uploads", summary="Upload history of the schools in scope")
def uploads_api(request: Request) -> list[dict[str, Any]]:
    user = api_session(request, *PUPIL_ROLES).user
    audit.record(store_of(request), user, "read_uploads", detail="api")
    return records(history_for(store_of(request), user))


#: The upload's form, described for /openapi.json (the route reads the body itself, after authentication).
_UPLOAD_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "academic_year", "term"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "academic_year": {"type": "string", "example": "2024/25"},
                        "term": {"type": "string", "enum": ["autumn", "spring", "summer"]},
                        "school_urn": {"type": "string", "description": "admins only"},
                        "mapping": {"type": "string", "description": "a shipped column mapping"},
                    },
                }
            }
        },
    }
}


@router.post(
    "/uploads",
    status_code=202,
    summary="Upload a termly file; it is checked in the background (poll status_url)",
    openapi_extra=_UPLOAD_FORM,
)
async def upload_api(request: Request) -> dict[str, Any]:
    user = api_session(request, *UPLOAD_ROLES).user  # before a byte of the body is read
    form = await request.form(max_files=1, max_fields=10)
    file = form.get("file")
    if file is None or isinstance(file, str):
        raise HTTPException(status_code=422, detail="send the file as the multipart field 'file'")
    data = await file.read()
    store = store_of(request)
    try:
        job = await run_in_threadpool(
            check_upload,
            user,
            data,
            file.filename or "upload.csv",
            str(form.get("school_urn", "")),
            str(form.get("academic_year", "")),
            str(form.get("term", "")),
            str(form.get("mapping", "")),
        )
    except UploadRequestError as error:
        audit.record(store, user, "upload_refused", detail=str(error)[:200])
        raise HTTPException(status_code=422, detail=str(error)) from None
    job_id = await run_in_threadpool(create_job, store, job)
    await request.app.state.upload_jobs.submit(job_id, data, job)
    return {"job_id": job_id, "state": "queued", "status_url": f"/api/v1/uploads/jobs/{job_id}"}


@router.get("/uploads/jobs/{job_id}", summary="An upload's state and, once done, its validation report")
def upload_job_api(request: Request, job_id: str) -> dict[str, Any]:
    user = api_session(request, *UPLOAD_ROLES).user
    job = read_job(store_of(request), job_id) if job_id.isalnum() and len(job_id) <= 32 else None
    if job is None or (job["user_id"] != user.id and user.role != "admin"):
        raise HTTPException(status_code=404, detail="no such upload")
    problems = job_problems(job)
    if job["state"] not in PENDING:  # a read of the report; polling while it is checked is not
        audit.record(store_of(request), user, "read_upload_report", detail=job["filename"][:200])
    return {
        "job_id": job_id,
        "state": job["state"],
        "status": job["status"],
        "summary": job["summary"],
        "upload_id": job["upload_id"],
        "counts": job["counts"],
        "n_errors": job["n_errors"],
        "n_warnings": job["n_warnings"],
        "errors": records(problems[problems["severity"] == "error"].drop(columns="severity")),
        "warnings": records(problems[problems["severity"] == "warning"].drop(columns="severity")),
        "problem_counts": job["problem_counts"] or [],
    }


@router.get("/evaluation", summary="Versions in use and flag counts by band (aggregates only, no pupils)")
def evaluation_api(request: Request) -> dict[str, Any]:
    user = api_session(request, "evaluator", "admin").user
    store = store_of(request)
    audit.record(store, user, "read_evaluation", detail="api")
    return {
        "versions": records(run_sizes(versions_in_use(store))),
        "flags_by_band": records(protected_flag_summary(store)),
    }


@router.get("/conflicts", summary="UPNs on two schools' rolls in one term: conflicts and dual registrations")
def conflicts_api(request: Request, include_resolved: bool = False) -> list[dict[str, Any]]:
    user = api_session(request, "admin").user
    audit.record(store_of(request), user, "read_conflicts", detail="api")
    return records(list_conflicts(store_of(request), include_resolved=include_resolved))


@router.get("/audit", summary="The audit log, newest first (admins only)")
def audit_api(request: Request, pupil_ref: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    user = api_session(request, "admin").user
    audit.record(store_of(request), user, "read_audit", detail="api")
    return records(audit.read_audit(store_of(request), limit=min(max(limit, 1), 5000), pupil_ref=pupil_ref))

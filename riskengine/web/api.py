"""The JSON API (/api/v1): the pages' actions for scripts and other systems, described at /openapi.json.

Authenticate with POST /api/v1/session, then send `Authorization: Bearer <token>`. Scope and roles are the
same as the pages': the same functions answer both.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any, Literal

import pandas as pd
from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from pydantic import BaseModel, Field

from riskengine.web import audit
from riskengine.web.accounts import PUPIL_ROLES, LoginThrottled, authenticate
from riskengine.web.auth import (
    MAX_UPLOAD_BYTES,
    api_session,
    client_ip,
    refused_as_404,
    session_token,
    store_of,
)
from riskengine.web.caseload import SORTS, CaseloadFilters, caseload
from riskengine.web.evaluator import protected_flag_summary, run_sizes, versions_in_use
from riskengine.web.pupils import resolve_pupil
from riskengine.web.record import pupil_record
from riskengine.web.reviews import REVIEWER_ROLES, record_intervention, record_review
from riskengine.web.sessions import SESSION_LIFETIME, end_session, start_session
from riskengine.web.uploads import UPLOAD_ROLES, UploadRequestError, history_for, upload_for

router = APIRouter(prefix="/api/v1", tags=["api"])


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame as JSON-ready records (missing -> null, timestamps -> ISO strings)."""
    return json.loads(frame.to_json(orient="records", date_format="iso", default_handler=str))


class Credentials(BaseModel):
    email: str = Field(max_length=255)
    password: str = Field(max_length=1024)


class SessionOut(BaseModel):
    token: str = Field(description="send as `Authorization: Bearer <token>`")
    role: str
    expires_in_seconds: int


class ReviewIn(BaseModel):
    decision: Literal["confirm", "dismiss", "refer"]
    reason: str = Field("", max_length=2000, description="required when dismissing")
    run_id: int | None = None


class InterventionIn(BaseModel):
    kind: str = Field(max_length=100)
    started_on: date
    ended_on: date | None = None
    note: str = Field("", max_length=5000)


class Created(BaseModel):
    id: int


@router.post("/session", response_model=SessionOut, summary="Sign in and get a bearer token")
def sign_in(request: Request, credentials: Credentials) -> SessionOut:
    try:
        user = authenticate(store_of(request), credentials.email, credentials.password, client_ip(request))
    except LoginThrottled as error:
        raise HTTPException(status_code=429, detail=str(error)) from None
    if user is None:
        raise HTTPException(status_code=401, detail="wrong email or password")
    token = start_session(store_of(request), user)
    return SessionOut(token=token, role=user.role, expires_in_seconds=int(SESSION_LIFETIME.total_seconds()))


@router.delete("/session", status_code=204, summary="Sign out (the token stops working)")
def sign_out(request: Request) -> None:
    api_session(request)
    end_session(store_of(request), session_token(request))


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
    )
    result = caseload(store_of(request), user, filters)
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
        review_id = record_review(store_of(request), user, upn, review.decision, review.reason, review.run_id)
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
        )
    except ValueError as error:
        raise HTTPException(status_code=422, detail=str(error)) from None
    audit.record(store_of(request), user, "intervention", ref)
    return Created(id=new_id)


@router.get("/uploads", summary="Upload history of the schools in scope")
def uploads_api(request: Request) -> list[dict[str, Any]]:
    user = api_session(request, *PUPIL_ROLES).user
    return records(history_for(store_of(request), user))


@router.post("/uploads", summary="Upload a termly file; returns the validation report")
async def upload_api(
    request: Request,
    file: UploadFile = File(...),
    academic_year: str = Form(...),
    term: str = Form(...),
    school_urn: str = Form(""),
    mapping: str = Form(""),
) -> dict[str, Any]:
    user = api_session(request, *UPLOAD_ROLES).user
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    try:
        result = upload_for(
            store_of(request),
            user,
            data,
            file.filename or "upload.csv",
            school_urn,
            academic_year,
            term,
            mapping,
        )
    except UploadRequestError as error:
        raise HTTPException(status_code=422, detail=str(error)) from None
    return {
        "status": result.status,
        "summary": result.summary(),
        "upload_id": result.upload_id,
        "counts": result.counts,
        "errors": records(result.errors),
        "warnings": records(result.warnings),
    }


@router.get("/evaluation", summary="Versions in use and flag counts by band (aggregates only, no pupils)")
def evaluation_api(request: Request) -> dict[str, Any]:
    api_session(request, "evaluator", "admin")
    store = store_of(request)
    return {
        "versions": records(run_sizes(versions_in_use(store))),
        "flags_by_band": records(protected_flag_summary(store)),
    }


@router.get("/audit", summary="The audit log, newest first (admins only)")
def audit_api(request: Request, pupil_ref: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    api_session(request, "admin")
    return records(audit.read_audit(store_of(request), limit=min(max(limit, 1), 5000), pupil_ref=pupil_ref))

"""Uploads through the web: which school a user may upload for, and whose upload history they see."""

from __future__ import annotations

import pandas as pd

from riskengine.store import Store
from riskengine.upload import shipped_mappings
from riskengine.upload.pupil_terms import check_upload_request
from riskengine.upload.reading import check_csv, check_xlsx
from riskengine.web.accounts import User
from riskengine.web.jobs import JobRequest
from riskengine.web.limits import load_limits

#: Roles that upload files: a school data manager for their school, an admin for any.
UPLOAD_ROLES = ("school", "admin")
HISTORY_COLUMNS = (
    "id",
    "school_urn",
    "academic_year",
    "term",
    "filename",
    "status",
    "n_rows",
    "n_stored",
    "n_warnings",
    "uploaded_by",
    "uploaded_at",
    "active",
)


#: The upload form's field each of check_upload_request's messages is about (by its first words).
REQUEST_FIELDS = {"school URN": "school_urn", "academic year": "academic_year", "term": "term"}


class UploadRequestError(ValueError):
    """The request itself is wrong (school outside scope, bad year or term, file too big or over the
    file limits): refused at once, before any validation work is queued. `field` names the upload form's
    field to correct."""

    def __init__(self, message: str, field: str = "file") -> None:
        super().__init__(message)
        self.field = field


def check_upload(
    user: User,
    data: bytes,
    filename: str,
    school_urn: str = "",
    academic_year: str = "",
    term: str = "",
    mapping: str = "",
) -> JobRequest:
    """Everything about an upload that can be refused cheaply, in the request: who may upload for which
    school, the year/term/mapping named, the file's size, an XLSX's declared size (read from its zip
    directory and sheet header, never its cells) and a plain CSV's line count. Returns the job to queue.

    A school data manager always uploads for their own school, whatever the form says; an admin names one.
    """
    if user.role == "school":
        school_urn = user.schools[0]
    elif user.role != "admin":
        raise UploadRequestError("only school data managers and admins upload files")
    limit = load_limits().body.max_upload_bytes
    if len(data) > limit:
        raise UploadRequestError(f"the file is larger than {limit // 2**20} MB")
    if not data:
        raise UploadRequestError("the file is empty")
    if mapping and mapping not in shipped_mappings():
        raise UploadRequestError("unknown column mapping", "mapping")
    school_urn, academic_year, term = school_urn.strip(), academic_year.strip(), term.strip()
    try:
        check_upload_request(school_urn, academic_year, term)
    except ValueError as error:
        field = next((f for words, f in REQUEST_FIELDS.items() if str(error).startswith(words)), "file")
        raise UploadRequestError(str(error), field) from None
    try:
        if data.startswith(b"PK\x03\x04"):
            check_xlsx(data)
        else:
            check_csv(data)
    except ValueError as error:  # FileProblem is a ValueError whose words are meant for the school
        raise UploadRequestError(str(error)) from None
    return JobRequest(
        user.id, user.email, school_urn, academic_year, term, filename or "upload.csv", mapping or None
    )


def history_for(store: Store, user: User) -> pd.DataFrame:
    """Pupil-term uploads of the schools in the user's scope, newest first."""
    uploads = store.list_uploads()
    if uploads.empty:
        return pd.DataFrame(columns=list(HISTORY_COLUMNS))
    uploads = uploads[uploads["kind"] == "pupil_terms"]
    if user.schools is not None:
        uploads = uploads[uploads["school_urn"].isin(user.schools)]
    return uploads[list(HISTORY_COLUMNS)].sort_values("id", ascending=False).reset_index(drop=True)

"""Uploads through the web: which school a user may upload for, and whose upload history they see."""

from __future__ import annotations

import pandas as pd

from riskengine.store import Store
from riskengine.upload import UploadResult, shipped_mappings, upload_bytes
from riskengine.web.accounts import User
from riskengine.web.auth import MAX_UPLOAD_BYTES

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


class UploadRequestError(ValueError):
    """The request itself is wrong (school outside scope, bad year or term, file too big): no file read."""


def upload_for(
    store: Store,
    user: User,
    data: bytes,
    filename: str,
    school_urn: str = "",
    academic_year: str = "",
    term: str = "",
    mapping: str = "",
) -> UploadResult:
    """Validate and (if clean) store a termly file for a school the user may upload for.

    A school data manager always uploads for their own school, whatever the form says; an admin names one.
    """
    if user.role == "school":
        school_urn = user.schools[0]
    elif user.role != "admin":
        raise UploadRequestError("only school data managers and admins upload files")
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadRequestError(f"the file is larger than {MAX_UPLOAD_BYTES // 2**20} MB")
    if not data:
        raise UploadRequestError("the file is empty")
    if mapping and mapping not in shipped_mappings():
        raise UploadRequestError("unknown column mapping")
    try:
        return upload_bytes(
            store,
            data,
            filename,
            school_urn.strip(),
            academic_year.strip(),
            term.strip(),
            mapping=mapping or None,
            uploaded_by=user.email,
        )
    except ValueError as error:
        raise UploadRequestError(str(error)) from None


def history_for(store: Store, user: User) -> pd.DataFrame:
    """Pupil-term uploads of the schools in the user's scope, newest first."""
    uploads = store.list_uploads()
    if uploads.empty:
        return pd.DataFrame(columns=list(HISTORY_COLUMNS))
    uploads = uploads[uploads["kind"] == "pupil_terms"]
    if user.schools is not None:
        uploads = uploads[uploads["school_urn"].isin(user.schools)]
    return uploads[list(HISTORY_COLUMNS)].sort_values("id", ascending=False).reset_index(drop=True)

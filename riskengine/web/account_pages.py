"""Account pages: your own account (sign out everywhere, an authentication app), and the admin's users
page (deactivate, reactivate, reset a password or an authentication app, change schools). Thin: each route
calls one function of riskengine.web.accounts, which the `riskengine users` commands call too."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from riskengine.web import audit
from riskengine.web.accounts import (
    deactivate_user,
    end_all_sessions,
    enrol_totp,
    list_users,
    new_totp_secret,
    reactivate_user,
    reset_password,
    reset_totp,
    set_schools,
    totp_uri,
)
from riskengine.web.auth import SESSION_COOKIE, checked_form, page_session, store_of
from riskengine.web.pages import HOME_BY_ROLE, problems, render
from riskengine.web.sessions import complete_enrolment

router = APIRouter(include_in_schema=False)


@router.get("/account")
def account_page(request: Request) -> Response:
    page_session(request)
    return render(request, "account.html")


@router.post("/account/sign-out-everywhere")
async def sign_out_everywhere(request: Request) -> Response:
    session, _ = await checked_form(request, enrolling=True)
    end_all_sessions(store_of(request), session.user.id)
    audit.record(store_of(request), session.user, "sign_out_everywhere")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/account/totp")
def totp_page(request: Request) -> Response:
    """Set up an authentication app: a fresh secret to type in (or paste as an otpauth:// link)."""
    session = page_session(request, enrolling=True)
    secret = new_totp_secret()
    return render(request, "totp.html", secret=secret, uri=totp_uri(secret, session.user.email))


@router.post("/account/totp")
async def totp_enrol(request: Request) -> Response:
    session, form = await checked_form(request, enrolling=True)
    secret = str(form.get("secret", ""))
    try:
        enrol_totp(store_of(request), session.user.id, secret, str(form.get("code", "")))
    except ValueError as error:
        return render(
            request,
            "totp.html",
            status_code=422,
            secret=secret,
            uri=totp_uri(secret, session.user.email),
            code=str(form.get("code", "")),
            **problems(("code", str(error))),
        )
    complete_enrolment(store_of(request), request.cookies.get(SESSION_COOKIE))
    audit.record(store_of(request), session.user, "totp_enrolled")
    return RedirectResponse(HOME_BY_ROLE[session.user.role], status_code=303)


@router.get("/admin/users")
def users_page(request: Request) -> Response:
    session = page_session(request, "admin")
    audit.record(store_of(request), session.user, "read_users")
    return render(request, "users.html", accounts=list_users(store_of(request)).to_dict("records"))


#: action -> (the accounts function, what the audit log calls it)
_ACTIONS = {
    "deactivate": (deactivate_user, "user_deactivated"),
    "reactivate": (reactivate_user, "user_reactivated"),
    "reset-totp": (reset_totp, "user_totp_reset"),
}


@router.post("/admin/users/{action}")
async def users_action(request: Request, action: str) -> Response:
    """One change to one account, named by email in the form; the page shows what happened."""
    session, form = await checked_form(request, "admin")
    store = store_of(request)
    email = str(form.get("email", "")).strip().lower()
    if action == "deactivate" and email == session.user.email:
        raise HTTPException(status_code=422, detail="you cannot deactivate your own account")
    new_password = None
    try:
        if action in _ACTIONS:
            function, logged = _ACTIONS[action]
            user_id = function(store, email)
        elif action == "reset-password":
            new_password = secrets.token_urlsafe(12)  # 16 characters, shown once to the admin
            user_id, logged = reset_password(store, email, new_password), "user_password_reset"
        elif action == "schools":
            urns = str(form.get("schools", "")).replace(",", " ").split()
            user_id, logged = set_schools(store, email, urns), "user_schools_set"
        else:
            raise HTTPException(status_code=404, detail="no such action")
    except ValueError as error:
        accounts = list_users(store).to_dict("records")
        row = next((a for a in accounts if a["email"] == email), None)
        if action != "schools" or row is None:
            raise HTTPException(status_code=422, detail=str(error)) from None
        return render(  # the users page again, with what was typed and the message beside it
            request,
            "users.html",
            status_code=422,
            accounts=accounts,
            typed_schools=str(form.get("schools", "")),
            **problems((f"schools-{row['id']}", str(error))),
        )
    audit.record(store, session.user, logged, detail=f"user {user_id}")
    done = {
        "deactivate": f"{email} is deactivated and signed out everywhere.",
        "reactivate": f"{email} can sign in again.",
        "reset-totp": f"{email}'s authentication app is forgotten and they are signed out everywhere.",
        "reset-password": f"{email} has a new password and is signed out everywhere.",
        "schools": f"{email}'s schools are changed.",
    }[action]
    return render(
        request,
        "users.html",
        accounts=list_users(store).to_dict("records"),
        done=done,
        new_password=new_password,
    )

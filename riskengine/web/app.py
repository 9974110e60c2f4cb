"""The application factory: one FastAPI app serving the pages, the JSON API and the local stylesheet."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from riskengine.store import Store
from riskengine.web import account_pages, api, audit, pages
from riskengine.web.auth import EnrolmentRequired, LoginRequired
from riskengine.web.bodylimit import BodyLimit
from riskengine.web.jobs import UploadJobs
from riskengine.web.limits import load_limits

#: Pages load nothing from elsewhere: no CDN, no inline script.
PAGE_CSP = (
    "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'self'; base-uri 'none'; object-src 'none'"
)
#: An evaluation report is self-contained HTML shown in a sandbox: its own inline styles and images only.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


class SecurityHeaders:
    """Pure ASGI middleware (cheaper than BaseHTTPMiddleware on every caseload request): CSP, nosniff,
    same-origin referrers and framing, and no caching of anything but the stylesheet."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", PAGE_CSP)
                headers.setdefault("X-Frame-Options", "SAMEORIGIN")
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"
                if not static:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(
    store: Store | None = None,
    *,
    https_only: bool | None = None,
    reports_dir: str | Path | None = None,
) -> FastAPI:
    """The web service over `store` (default: `Store.open()`, the embedded SQLite unless RISKENGINE_DB_URL).

    https_only marks cookies Secure even when the proxy in front does not say the request came over
    HTTPS (default: RISKENGINE_HTTPS_ONLY=1). reports_dir is where `riskengine evaluate` writes its reports
    (default: RISKENGINE_REPORTS_DIR, else ./evaluation-report, the CLI's default).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """The upload worker processes start with the app and stop with it. Audit entries journalled by
        a process that was killed are moved into the database at start-up, and this one's before it exits."""
        app.state.upload_jobs.warm()
        await run_in_threadpool(audit.flush, app.state.store)
        yield
        audit.flush(app.state.store)
        app.state.upload_jobs.shutdown()

    app = FastAPI(
        lifespan=lifespan,
        title="riskengine",
        summary="Early-warning flags for pupils at risk of becoming NEET",
        version="1",
        docs_url=None,
        redoc_url=None,
    )
    app.state.store = store or Store.open()
    app.state.https_only = (
        os.environ.get("RISKENGINE_HTTPS_ONLY") == "1" if https_only is None else https_only
    )
    app.state.reports_dir = Path(reports_dir or os.environ.get("RISKENGINE_REPORTS_DIR", "evaluation-report"))
    app.state.report_csp = REPORT_CSP
    app.state.upload_jobs = UploadJobs(app.state.store)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(account_pages.router)

    app.add_middleware(BodyLimit, limits=load_limits().body)  # inside SecurityHeaders: a 413 gets them too
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, _: LoginRequired) -> Response:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(EnrolmentRequired)
    async def to_enrolment(request: Request, _: EnrolmentRequired) -> Response:
        return RedirectResponse("/account/totp", status_code=303)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse(
                {"detail": error.detail}, status_code=error.status_code, headers=error.headers
            )
        return pages.render(request, "error.html", status_code=error.status_code, message=error.detail)

    return app

"""A request-body limit on every route, enforced before anything parses the body.

Pure ASGI middleware: a declared `Content-Length` over the limit is answered 413 before the app runs (the
body is never read); a body without one (chunked) is counted as it streams in and stops at the limit. The
upload routes get `max_upload_bytes`, every other route `max_bytes` (upload/limits.yaml).
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from riskengine.web.limits import BodyLimits

#: The routes that accept a file; every other route gets the small limit.
UPLOAD_PATHS = frozenset({"/school/upload", "/api/v1/uploads"})


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a streamed body passes the limit; the app answers it as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=too_large_message(limit))


def too_large_message(limit: int) -> str:
    size = f"{limit / 2**20:.0f} MB" if limit >= 2**20 else f"{limit // 1024} KB"
    return f"the request is larger than the {size} this page accepts; nothing was read"


def limit_for(scope: Scope, limits: BodyLimits) -> int:
    return limits.max_upload_bytes if scope["path"] in UPLOAD_PATHS else limits.max_bytes


class BodyLimit:
    """Refuse over-limit request bodies (413) from the header, or while streaming, before any parsing."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope, self.limits)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await _refuse(scope, send, 400, "the Content-Length header is not a number")
                return
            if int(declared) > limit:
                await _refuse(scope, send, 413, too_large_message(limit))
                return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracking)
        except BodyTooLarge as error:  # only if something let it past the app's own handler
            if started:
                raise
            await _refuse(scope, send, 413, str(error.detail))


async def _refuse(scope: Scope, send: Send, status: int, message: str) -> None:
    """A short answer without touching the body: JSON for the API, a plain page otherwise."""
    if scope["path"].startswith("/api/"):
        body, kind = json.dumps({"detail": message}).encode(), b"application/json"
    else:
        body = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Too large</title>'
            '<link rel="stylesheet" href="/static/style.css"></head><body><main><h1>Too large</h1>'
            f'<p>{message[:1].upper() + message[1:]}.</p><p><a href="/">Back</a></p></main></body></html>'
        ).encode()
        kind = b"text/html; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", kind),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

"""The web service: FastAPI with server-rendered pages and a JSON API, over the store.

`create_app(store)` builds it; `riskengine serve` runs it with uvicorn. Roles, scope and CSRF are enforced
on the server for every request (see riskengine.web.auth and riskengine.web.pupils). FastAPI is imported
only when the app is built, so the store's migrations can import `riskengine.web.tables` cheaply.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from riskengine.web.app import create_app

        return create_app
    raise AttributeError(name)

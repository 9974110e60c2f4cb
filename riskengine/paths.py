"""The declarative files: where they live (the repository's folders, or a wheel's copy) and their versions."""

from __future__ import annotations

import hashlib
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent


def data_path(*parts: str) -> Path:
    """A shipped declarative file, e.g. `data_path("rules", "default.yaml")`.

    A source checkout's own folder wins, so an analyst's edit there takes effect without reinstalling.
    """
    for root in (_CHECKOUT, _PACKAGE / "_data"):
        candidate = root.joinpath(*parts)
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"no shipped file {'/'.join(parts)}")


def content_version(content: bytes) -> str:
    """The version recorded for a declarative file: the first 12 hex digits of its sha256.

    Any edit, even to a comment, gives a new version, so a score can always be traced to the exact text.
    """
    return hashlib.sha256(content).hexdigest()[:12]

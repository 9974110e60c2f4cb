"""The declarative files: where they live (a project, the repository's folders, or a wheel's copy) and their
versions."""

from __future__ import annotations

import hashlib
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent


def data_path(*parts: str) -> Path:
    """A declarative file, e.g. `data_path("rules", "default.yaml")`: the active project's copy
    (`riskengine.project`) first, then a source checkout's folder, then the copy inside the package.

    Every stage reads its default declarative files through here, so an analyst's edit to the project's
    (or the checkout's) file takes effect on the next command, without reinstalling.
    """
    from riskengine.project import find_project

    project = find_project()
    if project is not None:
        candidate = project.root.joinpath(*parts)
        if candidate.exists():
            return candidate
    return shipped_path(*parts)


def shipped_path(*parts: str) -> Path:
    """A shipped declarative file or folder, ignoring any project: the checkout's, else the package's."""
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

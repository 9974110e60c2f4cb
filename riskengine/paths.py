"""Where the declarative files live: the repository's top-level folders, or the copy a wheel carries."""

from __future__ import annotations

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

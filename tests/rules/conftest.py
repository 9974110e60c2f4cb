"""Helpers for the rule tests: small rule files written on the fly, and one-row feature frames."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from riskengine.features import load_catalogue
from riskengine.rules.check import pupil_frame


@pytest.fixture(scope="session")
def catalogue():
    return load_catalogue()


@pytest.fixture
def rule_file(tmp_path: Path) -> Callable[[str], Path]:
    """Write a rule file from (dedented) YAML text and return its path."""

    def write(text: str, name: str = "rules.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def pupils(catalogue) -> Callable[..., pd.DataFrame]:
    """A feature frame of made-up pupils: the given values, every other feature missing."""
    return lambda *rows: pupil_frame(list(rows), catalogue)

"""Importing the model, flags or evaluation packages (or starting the CLI) loads no shap, mlflow or
matplotlib: they cost seconds and only training, promoting, explaining in SHAP and drawing need them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("shap", "mlflow", "matplotlib")
ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout, not an installed copy
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout


@pytest.mark.parametrize(
    "module", ["riskengine.model", "riskengine.flags", "riskengine.evaluation", "riskengine.cli"]
)
def test_importing_loads_no_heavy_library(module):
    code = f"import sys, {module}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    assert _run(code).strip() == ""


def test_the_names_are_still_there_when_used():
    code = (
        "import sys, riskengine.model as m; m.RiskModel; m.train; m.promote; "
        "print('shap' in sys.modules, 'mlflow' in sys.modules)"
    )
    assert _run(code).split() == ["False", "False"]  # train and promote import mlflow when called

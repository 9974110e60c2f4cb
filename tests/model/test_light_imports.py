"""Importing the model, flags or evaluation packages (or starting the CLI) loads no shap, mlflow or
matplotlib: they cost seconds and only training, promoting, explaining in SHAP and drawing need them.
`riskengine --help` loads no data library at all, and `riskengine score` (tests/flags/test_cli.py) none
of those nor scikit-learn, skops, scipy or Alembic: it reads the champion's numbers."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("shap", "mlflow", "matplotlib")
#: Not needed to score a term from a promoted champion (scikit-learn and skops: to train and promote).
NOT_TO_SCORE = (*HEAVY, "numba", "sklearn", "skops", "scipy", "alembic")
#: Not needed to start: the commands import what they use.
NOT_TO_START = (*NOT_TO_SCORE, "pandas", "numpy", "sqlalchemy", "pyarrow")
ROOT = Path(__file__).resolve().parents[2]


def cli_imports(args: list[str], env: dict[str, str], unwanted: tuple[str, ...] = NOT_TO_SCORE) -> dict:
    """Run `riskengine ARGS` in a fresh process: its exit code, output, run id if it scored, and which of
    `unwanted` it imported."""
    code = (
        "import io, json, runpy, sys, contextlib\n"
        f"sys.argv = ['riskengine', *{args!r}]\n"
        "out, status = io.StringIO(), 0\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try:\n"
        "        runpy.run_module('riskengine', run_name='__main__')\n"
        "    except SystemExit as stop:\n"
        "        status = stop.code or 0\n"
        f"loaded = [m for m in {unwanted!r} if m in sys.modules]\n"
        "print(json.dumps({'exit': status, 'output': out.getvalue(), 'loaded': loaded}))\n"
    )
    env = {**env, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    result = json.loads(done.stdout)
    run = result["output"].split(":", 1)[0]
    result["run"] = int(run.removeprefix("Run ")) if run.startswith("Run ") else None
    return result


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


def test_help_loads_no_data_library():
    started = cli_imports(["--help"], dict(os.environ), NOT_TO_START)
    assert started["exit"] == 0 and "score" in started["output"]
    assert started["loaded"] == []

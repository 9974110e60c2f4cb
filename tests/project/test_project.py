"""A project folder: `riskengine init` writes editable copies and a project file; every command finds it
(from the current folder upwards, --project or RISKENGINE_PROJECT) and uses its files, database and MLflow
store, with command options and environment variables still winning; no project: shipped defaults."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskengine.cli import app
from riskengine.model.tracking import default_tracking_uri
from riskengine.paths import data_path, shipped_path
from riskengine.project import FOLDERS, PROJECT_FILE, find_project, use
from riskengine.store import default_url
from riskengine.synth import generate, write_uploads

ROOT = Path(__file__).resolve().parents[2]
RUNNER = CliRunner()
ENVIRONMENT = ("RISKENGINE_HOME", "RISKENGINE_DB_URL", "MLFLOW_TRACKING_URI", "RISKENGINE_PROJECT")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    yield
    use(None)


def test_init_writes_editable_copies_and_refuses_to_overwrite(tmp_path) -> None:
    made = RUNNER.invoke(app, ["init", str(tmp_path / "la")])
    assert made.exit_code == 0, made.output
    for folder in FOLDERS:
        assert (tmp_path / "la" / folder).is_dir()
    copy = tmp_path / "la" / "rules" / "default.yaml"
    assert copy.read_bytes() == shipped_path("rules", "default.yaml").read_bytes()
    assert "database:" in (tmp_path / "la" / PROJECT_FILE).read_text()
    again = RUNNER.invoke(app, ["init", str(tmp_path / "la")])
    assert again.exit_code == 1 and "nothing was written" in again.output


def test_commands_find_the_project_upwards_and_options_and_environment_win(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_project() is None
    assert data_path("rules", "default.yaml") == shipped_path("rules", "default.yaml")
    RUNNER.invoke(app, ["init", "la"])
    deeper = tmp_path / "la" / "uploads" / "2026"
    deeper.mkdir(parents=True)
    monkeypatch.chdir(deeper)

    assert data_path("rules", "default.yaml") == (tmp_path / "la" / "rules" / "default.yaml").resolve()
    assert default_url() == f"sqlite:///{(tmp_path / 'la' / '.riskengine' / 'riskengine.db').resolve()}"
    assert default_tracking_uri() == f"sqlite:///{(tmp_path / 'la' / '.riskengine' / 'mlflow.db').resolve()}"
    # A file the project does not hold falls back on the shipped one.
    (tmp_path / "la" / "models" / "logistic.yaml").unlink()
    assert data_path("models", "logistic.yaml") == shipped_path("models", "logistic.yaml")

    monkeypatch.setenv("RISKENGINE_DB_URL", "sqlite:////elsewhere/x.db")  # environment beats the project
    assert default_url() == "sqlite:////elsewhere/x.db"
    monkeypatch.setenv("RISKENGINE_HOME", str(tmp_path / "home"))
    assert default_tracking_uri() == f"sqlite:///{(tmp_path / 'home' / 'mlflow.db').resolve()}"

    monkeypatch.chdir(tmp_path)  # outside the project: --project (or RISKENGINE_PROJECT) names it
    assert find_project() is None
    monkeypatch.setenv("RISKENGINE_PROJECT", str(tmp_path / "la"))
    assert find_project().root == (tmp_path / "la").resolve()
    monkeypatch.delenv("RISKENGINE_PROJECT")
    checked = RUNNER.invoke(
        app, ["--project", "la", "rules", "check", str(data_path("rules", "default.yaml"))]
    )
    assert checked.exit_code == 0, checked.output
    missing = RUNNER.invoke(app, ["--project", "nowhere", "catalogue"])
    assert missing.exit_code == 1 and "not a riskengine project" in missing.output


def installed_copy(site: Path) -> None:
    """The package laid out as the wheel installs it (pyproject's packages and force-include), without the
    checkout's top-level folders beside it: what `pip install .` (not editable) leaves in site-packages."""
    wheel = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in wheel["packages"]:
        shutil.copytree(ROOT / package, site / package, ignore=ignore)
    for source, target in wheel["force-include"].items():
        shutil.copytree(ROOT / source, site / target, ignore=ignore)


@pytest.mark.slow
def test_after_a_non_editable_install_an_edit_to_the_projects_rules_changes_the_next_score(tmp_path) -> None:
    site = tmp_path / "site-packages"
    installed_copy(site)
    env = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT} | {"PYTHONPATH": str(site)}

    def riskengine(*args: str, cwd: Path) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "riskengine", *args], cwd=cwd, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    where = subprocess.run(
        [sys.executable, "-c", "import riskengine.paths as p; print(p.shipped_path('rules'))"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert where.strip() == str(
        site / "riskengine" / "_data" / "rules"
    )  # the installed copy, not the checkout

    la = generate(pupils=120, cohorts=5, schools=2, seed=5)
    write_uploads(la, tmp_path / "files")
    riskengine("init", "project", cwd=tmp_path)
    project = tmp_path / "project"
    riskengine("upload", "../files", cwd=project)
    year, term = la.as_of

    def flagged() -> tuple[int, str]:
        out = riskengine("score", "--year", year, "--term", term, "--model", "none", cwd=project)
        return int(re.search(r"(\d+) flagged", out)[1]), re.search(r"rules (\w+)", out)[1]

    before, version_before = flagged()
    rules = project / "rules" / "default.yaml"
    rules.write_text(rules.read_text().replace("  medium: 3\n  high: 6\n", "  medium: 1\n  high: 2\n"))
    after, version_after = flagged()
    assert version_after != version_before
    assert after > before

"""A project folder, as dbt has: a local authority's own editable copies of the declarative folders and a
small project file naming its database and MLflow locations.

`riskengine init DIR` writes one. Every command then finds it from the current folder upwards, or from
`--project DIR` (before the command) or the RISKENGINE_PROJECT environment variable. Where a setting can
come from several places, the first of these wins:

1. the command's own option (`--db`, `--tracking-uri`, `--spec`, `--audit`, a file given to `rules check`);
2. environment variables: RISKENGINE_DB_URL (database), MLFLOW_TRACKING_URI (MLflow), RISKENGINE_HOME
   (a folder for both, as riskengine.db and mlflow.db);
3. the project file (`riskengine_project.yaml`) and the project's folders;
4. the shipped defaults (the package's own declarative files, and ./.riskengine for data).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

PROJECT_FILE = "riskengine_project.yaml"
#: The declarative folders a project holds its own copies of.
FOLDERS = ("upload", "features", "rules", "models", "evaluation")
HOME = ".riskengine"

_TEMPLATE = """\
# A riskengine project. The folders beside this file ({folders})
# are this local authority's own copies of the declarative files: edit them, and every riskengine
# command run in this folder or below it (or with `riskengine --project FOLDER`) uses them instead of
# the shipped ones.
name: {name}
# The database: a path relative to this folder (a SQLite file), or a URL such as
# postgresql+psycopg://user@host/riskengine. RISKENGINE_DB_URL, RISKENGINE_HOME or --db override it.
database: {home}/riskengine.db
# MLflow tracking: a path relative to this folder (a SQLite file), or a tracking URI.
# MLFLOW_TRACKING_URI, RISKENGINE_HOME or --tracking-uri override it.
mlflow: {home}/mlflow.db
"""

_chosen: Path | None = None


@dataclass(frozen=True)
class Project:
    """A project folder: `root`, and the database URL and MLflow tracking URI its file names."""

    root: Path
    name: str
    database: str
    tracking_uri: str

    @classmethod
    def load(cls, root: str | Path) -> Project:
        root = Path(root).resolve()
        path = root / PROJECT_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"{root} is not a riskengine project (no {PROJECT_FILE}); see riskengine init"
            )
        raw = yaml.safe_load(path.read_text()) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected settings such as 'database:' and 'mlflow:'")
        return cls(
            root=root,
            name=str(raw.get("name") or root.name),
            database=_as_url(root, raw.get("database") or f"{HOME}/riskengine.db"),
            tracking_uri=_as_url(root, raw.get("mlflow") or f"{HOME}/mlflow.db"),
        )


def _as_url(root: Path, value: object) -> str:
    """A URL as written, or a path (relative to the project) as a SQLite URL."""
    text = str(value)
    if "://" in text:
        return text
    path = Path(text) if Path(text).is_absolute() else root / text
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve()}"


def use(folder: str | Path | None) -> None:
    """Choose the project for this process (the CLI's `--project`); None: the environment or discovery."""
    global _chosen
    _chosen = None if folder is None else Path(folder)


def find_project(start: str | Path | None = None) -> Project | None:
    """The active project: `--project`, else RISKENGINE_PROJECT, else the nearest folder at or above
    `start` (default: the current folder) holding a project file; None when there is none."""
    explicit = _chosen or os.environ.get("RISKENGINE_PROJECT")
    if explicit:
        return Project.load(explicit)
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_FILE).is_file():
            return Project.load(folder)
    return None


def riskengine_home() -> Path:
    """The folder for data when nothing names a database or tracking URI: RISKENGINE_HOME, else the
    project's .riskengine, else ./.riskengine."""
    if home := os.environ.get("RISKENGINE_HOME"):
        return Path(home)
    project = find_project()
    return project.root / HOME if project else Path(HOME)


def database_url() -> str:
    """The database when no --db is given: RISKENGINE_DB_URL, RISKENGINE_HOME, the project, ./.riskengine."""
    if url := os.environ.get("RISKENGINE_DB_URL"):
        return url
    if "RISKENGINE_HOME" not in os.environ and (project := find_project()):
        return project.database
    home = riskengine_home()
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(home / 'riskengine.db').resolve()}"


def tracking_uri() -> str:
    """MLflow tracking when no --tracking-uri is given: MLFLOW_TRACKING_URI, RISKENGINE_HOME, the project,
    ./.riskengine."""
    if uri := os.environ.get("MLFLOW_TRACKING_URI"):
        return uri
    if "RISKENGINE_HOME" not in os.environ and (project := find_project()):
        return project.tracking_uri
    return f"sqlite:///{(riskengine_home() / 'mlflow.db').resolve()}"


def init_project(folder: str | Path) -> Project:
    """Write a project: editable copies of the shipped declarative folders and the project file.

    Refuses a folder that already holds a project or any of those folders, so nothing is overwritten.
    """
    from riskengine.paths import shipped_path

    root = Path(folder)
    clashes = [name for name in (PROJECT_FILE, *FOLDERS) if (root / name).exists()]
    if clashes:
        raise FileExistsError(f"{root} already has {', '.join(clashes)}; nothing was written")
    root.mkdir(parents=True, exist_ok=True)
    for name in FOLDERS:
        shutil.copytree(
            shipped_path(name), root / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    text = _TEMPLATE.format(folders=", ".join(f"{f}/" for f in FOLDERS), name=root.resolve().name, home=HOME)
    (root / PROJECT_FILE).write_text(text)
    return Project.load(root)

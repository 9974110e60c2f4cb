"""Every limit the service enforces before doing the work it guards, read from one YAML file.

`upload/limits.yaml` (shipped with the package, editable in a checkout) is the one place they live; this
module only reads it into frozen dataclasses. The upload reader uses the file caps too, so the CLI and the
web refuse the same files. docs/deploy.md explains each value.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from riskengine.paths import data_path


@dataclass(frozen=True)
class BodyLimits:
    """Request bodies: `max_upload_bytes` for the upload routes, `max_bytes` for every other route."""

    max_bytes: int
    max_upload_bytes: int


@dataclass(frozen=True)
class FileLimits:
    """What a termly or destinations file may hold, checked before (XLSX) and while (both) it is read."""

    max_rows: int
    max_columns: int
    xlsx_max_cells: int
    xlsx_max_uncompressed_bytes: int


@dataclass(frozen=True)
class ProblemLimits:
    max_listed: int


@dataclass(frozen=True)
class ThrottleLimits:
    """Sign-in throttling (NIST SP 800-63B 5.2.2): three fixed windows counted in the database."""

    per_account_and_address: int
    per_account_and_address_minutes: int
    per_address: int
    per_address_minutes: int
    per_account: int
    per_account_minutes: int


@dataclass(frozen=True)
class UploadJobLimits:
    workers: int
    stale_after_minutes: int


@dataclass(frozen=True)
class Limits:
    body: BodyLimits
    file: FileLimits
    problems: ProblemLimits
    throttle: ThrottleLimits
    uploads: UploadJobLimits

    @classmethod
    def from_yaml(cls, path: str | Path) -> Limits:
        """Read and check a limits file: every field present, every value a positive integer."""
        raw: dict[str, Any] = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        sections = {}
        for section in fields(cls):
            kind = section.type if isinstance(section.type, type) else globals()[str(section.type)]
            values = raw.get(section.name) or {}
            wanted = {f.name for f in fields(kind)}
            missing, unknown = wanted - set(values), set(values) - wanted
            if missing or unknown:
                raise ValueError(
                    f"{path}: section {section.name!r} "
                    + (f"lacks {sorted(missing)}" if missing else f"has unknown {sorted(unknown)}")
                )
            bad = [k for k, v in values.items() if not isinstance(v, int) or isinstance(v, bool) or v <= 0]
            if bad:
                raise ValueError(f"{path}: {section.name} {bad} must be positive whole numbers")
            sections[section.name] = kind(**values)
        return cls(**sections)


@cache
def load_limits(path: str | None = None) -> Limits:
    """The limits in force (default: the shipped `upload/limits.yaml`), read once per process."""
    return Limits.from_yaml(path or data_path("upload", "limits.yaml"))

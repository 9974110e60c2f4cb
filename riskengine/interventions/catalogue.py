"""The declarative side of interventions: the types a local authority offers (interventions/types.yaml)
and the assessment instruments its services use (interventions/instruments/*.yaml).

Both are YAML an analyst edits; this module only reads and checks them, so a typo fails loudly at load
rather than as a puzzling import error later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from riskengine.paths import content_version, data_path

STATUSES = ("planned", "active", "completed", "withdrawn")
QUALIFICATIONS = ("none", "entry_level", "level_1", "level_2")
STAGES = ("pre", "post", "review")
TOTAL = "total"


@dataclass(frozen=True)
class InterventionTypes:
    """The LA's list of intervention types: id -> label, and the file's content version."""

    labels: dict[str, str]
    version: str

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self.labels)

    def id_of(self, text: str) -> str:
        """The type an adviser meant, given its id or its label (any case); ValueError if neither."""
        folded = (text or "").strip().casefold()
        for type_id, label in self.labels.items():
            if folded in (type_id.casefold(), label.casefold()):
                return type_id
        raise ValueError(f"the intervention type should be one of: {', '.join(self.labels.values())}")


def load_types(path: str | Path | None = None) -> InterventionTypes:
    """Read the intervention types (default: the shipped interventions/types.yaml)."""
    path = Path(path) if path is not None else data_path("interventions", "types.yaml")
    raw = path.read_bytes()
    spec = yaml.safe_load(raw) or {}
    labels: dict[str, str] = {}
    for entry in spec.get("types") or []:
        if not isinstance(entry, dict) or not str(entry.get("id") or "").strip():
            raise ValueError(f"{path.name}: every type needs an id (and a label)")
        type_id = str(entry["id"]).strip()
        if type_id in labels:
            raise ValueError(f"{path.name}: type {type_id!r} is listed twice")
        labels[type_id] = str(entry.get("label") or type_id)
    if not labels:
        raise ValueError(f"{path.name}: no intervention types are listed")
    return InterventionTypes(labels, content_version(raw))


@dataclass(frozen=True)
class Scale:
    """One subscale (or the total): its reliability and norm SD, which reliable change needs."""

    name: str
    label: str
    reliability: float | None
    norm_sd: float | None

    @property
    def reliable_change_ready(self) -> bool:
        return self.reliability is not None and self.norm_sd is not None


@dataclass(frozen=True)
class Instrument:
    """An assessment instrument: subscales scored within `low`-`high`, `better` 'higher' or 'lower', and
    a total (the mean or sum of the subscales)."""

    id: str
    label: str
    low: float
    high: float
    better: str
    subscales: tuple[Scale, ...]
    total: Scale
    total_method: str
    version: str

    @property
    def subscale_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.subscales)

    @property
    def scales(self) -> tuple[Scale, ...]:
        """The subscales, then the total."""
        return (*self.subscales, self.total)

    @property
    def direction(self) -> int:
        """+1 when higher is better, -1 when lower is."""
        return 1 if self.better == "higher" else -1


def _number(value: object, what: str, low: float, high: float) -> float | None:
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number) or not low <= number <= high:
        raise ValueError(f"{what} should be a number between {low} and {high}, not {value!r}")
    return number


def _scale(name: str, entry: dict, where: str) -> Scale:
    return Scale(
        name=name,
        label=str(entry.get("label") or name),
        reliability=_number(entry.get("reliability"), f"{where} {name} reliability", 0.0, 0.999),
        norm_sd=_number(entry.get("norm_sd"), f"{where} {name} norm_sd", 1e-9, math.inf),
    )


def load_instrument(path: str | Path) -> Instrument:
    """Read and check one instrument file."""
    path = Path(path)
    raw = path.read_bytes()
    spec = yaml.safe_load(raw) or {}
    where = path.name
    low, high = (float(v) for v in spec.get("range") or (None, None))
    if not low < high:
        raise ValueError(f"{where}: range should be [lowest, highest] score")
    better = str(spec.get("better", "higher"))
    if better not in ("higher", "lower"):
        raise ValueError(f"{where}: better should be 'higher' or 'lower'")
    subscales = tuple(_scale(str(n), e or {}, where) for n, e in (spec.get("subscales") or {}).items())
    if not subscales:
        raise ValueError(f"{where}: an instrument needs at least one subscale")
    clash = {s.name for s in subscales} & {"upn", "instrument", "date", "stage", TOTAL}
    if clash:
        raise ValueError(f"{where}: subscale names {sorted(clash)} clash with the file's own columns")
    total = spec.get("total") or {}
    method = str(total.get("method", "mean"))
    if method not in ("mean", "sum"):
        raise ValueError(f"{where}: total method should be 'mean' or 'sum'")
    return Instrument(
        id=str(spec.get("id") or path.stem),
        label=str(spec.get("label") or path.stem),
        low=low,
        high=high,
        better=better,
        subscales=subscales,
        total=_scale(TOTAL, {"label": "Overall", **total}, where),
        total_method=method,
        version=content_version(raw),
    )


def load_instruments(folder: str | Path | None = None) -> dict[str, Instrument]:
    """Every instrument in `folder` (default: the shipped interventions/instruments), by id."""
    folder = Path(folder) if folder is not None else data_path("interventions", "instruments")
    instruments: dict[str, Instrument] = {}
    for path in sorted(folder.glob("*.yaml")):
        instrument = load_instrument(path)
        if instrument.id in instruments:
            raise ValueError(f"instrument id {instrument.id!r} is defined twice")
        instruments[instrument.id] = instrument
    return instruments

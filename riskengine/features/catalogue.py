"""The feature catalogue (`features/catalogue.yaml`): what each feature means and how explanations word it.

Analysts read and edit the catalogue, so it is checked hard at load: a typo in a sentence or a source column
fails there, naming the file and the feature, rather than in the middle of a scoring run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from riskengine.features.derivations import DERIVATIONS
from riskengine.paths import content_version, data_path
from riskengine.spec import upload as spec

Kind = Literal["rate", "count", "number", "flag", "category"]
#: Which way a feature moves risk, away from its reference value: the sign a model's coefficient may take.
Direction = Literal["raises", "lowers", "either"]

#: The in-memory dtype of each kind of feature in a feature frame.
KIND_DTYPES: dict[str, str] = {
    "rate": "Float64",
    "count": "Int64",
    "number": "Int64",
    "flag": "boolean",
    "category": "string",
}

#: Code lists the spec fixes; a category feature built on one of these columns must list exactly its codes.
_SPEC_CODES: dict[str, dict[str, str]] = {
    "sen_provision": spec.SEN_PROVISION,
    "sen_primary_need": spec.SEN_PRIMARY_NEED,
}
#: The kinds whose values are numbers: the ones that can be ordered, scaled and compared with a line.
NUMERIC_KINDS = ("rate", "count", "number")
_LINE_KEYS = ("line", "line_name", "when_below", "when_above")
#: For each kind, the (required, optional) keys among those that depend on the kind.
_KIND_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "rate": (("template",), _LINE_KEYS),
    "count": (("template",), (*_LINE_KEYS, "when_value")),
    "number": (("template",), (*_LINE_KEYS, "when_value")),
    "flag": (("when_true", "when_false"), ()),
    "category": (("template", "categories"), ()),
}
_KIND_SPECIFIC_KEYS = {key for keys in _KIND_KEYS.values() for group in keys for key in group}


class CatalogueError(ValueError):
    """A malformed catalogue; the message names the file, the feature and what is wrong."""


class Follows(BaseModel):
    """How a feature moves when an actionable one (a lever) moves: "what would change it" moves them together.

    `by: same` moves it by the lever's change (suspensions ever with suspensions this year); `by:
    share_of_year` by the change times this term's share of this year's possible sessions (attendance this
    year with this term's); a flag with `at_or_below` is yes where the followed feature is at or below it.
    `shown`: the "what would change it" sentence says this feature's new value too.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    feature: str
    by: Literal["same", "share_of_year"] | None = None
    at_or_below: float | None = None
    shown: bool = False

    @model_validator(mode="after")
    def _one_way(self) -> Follows:
        if (self.by is None) == (self.at_or_below is None):
            raise ValueError("follows needs exactly one of by (same, share_of_year) or at_or_below")
        return self


class FeatureSpec(BaseModel):
    """One feature's entry in the catalogue."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(min_length=1)
    kind: Kind
    unit: str = Field(min_length=1)
    source: tuple[str, ...] = Field(min_length=1)
    missing: str = Field(min_length=1)
    when_missing: str = Field(min_length=1)
    template: str | None = None
    when_true: str | None = None
    when_false: str | None = None
    line: int | float | None = None
    line_name: str | None = None
    when_below: str | None = None
    when_above: str | None = None
    when_value: dict[int, str] = Field(default_factory=dict)
    categories: dict[str, str] = Field(default_factory=dict)
    #: The value of a pupil with no such factor (or a stated line, e.g. 0.95 attendance): explanations are
    #: measured against a pupil at every feature's reference. For a category, a code or null (blank).
    reference: bool | int | float | str | None
    #: For numbers: does a higher value raise or lower risk; for flags: does "yes"; for a category: does
    #: each code other than the reference (a mapping of code -> direction, or one word for all codes).
    direction: Direction | dict[str, Direction]
    #: True when the pupil's value can change by next term through the `changes_through` upload columns.
    actionable: bool = False
    changes_through: tuple[str, ...] = ()
    #: For a feature that moves with an actionable one (see `Follows`); an actionable feature without it
    #: is a lever: "what would change it" offers a new value for it.
    follows: Follows | None = None
    #: The reason an explanation lists when a blank moves risk (a fact an adviser can act on, such as "has
    #: no Key Stage 2 reading result on record"). Without it a blank's effect stays in the contributions and
    #: the effects table but is never listed as a reason.
    when_missing_reason: str | None = None

    @property
    def dtype(self) -> str:
        """The pandas dtype of this feature's column."""
        return KIND_DTYPES[self.kind]

    @model_validator(mode="after")
    def _fits_its_kind(self) -> FeatureSpec:
        unknown = [c for c in self.source if c not in spec.COLUMNS]
        if unknown:
            raise ValueError(f"source names columns that are not in the upload spec: {unknown}")
        present = {key for key in self.model_fields_set if getattr(self, key) not in (None, "", {}, ())}
        required, optional = _KIND_KEYS[self.kind]
        missing = [key for key in required if key not in present]
        if missing:
            raise ValueError(f"a {self.kind} feature needs {', '.join(missing)}")
        extra = sorted((present & _KIND_SPECIFIC_KEYS) - set(required) - set(optional))
        if extra:
            raise ValueError(f"a {self.kind} feature cannot have {', '.join(extra)}")
        for column in set(self.source) & set(_SPEC_CODES):
            if self.kind == "category" and set(self.categories) != set(_SPEC_CODES[column]):
                raise ValueError(f"categories must be exactly the spec's codes for {column}")
        if present & {"when_below", "when_above", "line_name"} and self.line is None:
            raise ValueError("when_below, when_above and line_name need a line")
        self._check_reference_and_direction()
        for sentence in self._sentences():
            self._check_sentence(sentence)
        return self

    def _check_reference_and_direction(self) -> None:
        """The reference must be a value of the feature's kind; directions and levers must fit."""
        ref = self.reference
        if self.kind == "flag" and not isinstance(ref, bool):
            raise ValueError(f"reference of a flag must be true or false, not {ref!r}")
        if self.kind in NUMERIC_KINDS and (isinstance(ref, bool) or not isinstance(ref, int | float)):
            raise ValueError(f"reference of a {self.kind} feature must be a number, not {ref!r}")
        if self.kind == "category":
            if ref is not None and ref not in self.categories:
                raise ValueError(f"reference {ref!r} is not one of the codes {list(self.categories)}")
            if isinstance(self.direction, dict):
                unknown = sorted(set(self.direction) - set(self.categories))
                if unknown:
                    raise ValueError(f"direction names unknown codes {unknown}")
                if ref in self.direction:
                    raise ValueError("the reference code has no direction: the others are measured from it")
        elif isinstance(self.direction, dict):
            raise ValueError("only a category feature may give a direction per code")
        if self.actionable != bool(self.changes_through):
            raise ValueError(
                "an actionable feature (and only one) names the upload columns it changes through"
            )
        outside = [c for c in self.changes_through if c not in self.source]
        if outside:
            raise ValueError(f"changes_through names columns outside its source: {outside}")
        if self.follows is not None and self.kind not in ("rate", "count", "flag"):
            raise ValueError("only a rate, count or flag can follow another feature")
        if self.follows is not None and (self.follows.by is None) != (self.kind == "flag"):
            raise ValueError("a flag follows with at_or_below; a rate or count with by")
        if self.when_missing_reason and self.reference is None:
            raise ValueError("when_missing_reason: a blank is this feature's reference, never a reason")

    def code_direction(self, code: str) -> Direction:
        """The declared direction of one category code, relative to the reference code."""
        if isinstance(self.direction, dict):
            return self.direction.get(code, "either")
        return self.direction

    def _sentences(self) -> list[str]:
        keys = (
            "template",
            "when_true",
            "when_false",
            "when_missing",
            "when_below",
            "when_above",
            "when_missing_reason",
        )
        return [s for s in (getattr(self, k) for k in keys) if s] + list(self.when_value.values())

    def _check_sentence(self, sentence: str) -> None:
        """Fill the sentence with a typical value so a misspelt field or format fails at load."""
        sample = {
            "rate": 0.5,
            "count": 2,
            "number": 100,
            "flag": True,
            "category": next(iter(self.categories), ""),
        }
        fields = self.fields(sample[self.kind])
        try:
            sentence.format(**fields)
        except KeyError as error:
            allowed = ", ".join(f"{{{name}}}" for name in fields)
            raise ValueError(
                f"sentence {sentence!r} uses {{{error.args[0]}}}; it may use {allowed}"
            ) from None
        except (IndexError, ValueError) as error:
            raise ValueError(f"sentence {sentence!r} cannot be filled in: {error}") from None

    def fields(self, value: Any) -> dict[str, Any]:
        """The names a sentence may use, for a known value."""
        fields: dict[str, Any] = {"value": value, "label": self.label, "line": self.line}
        if self.kind in NUMERIC_KINDS:
            fields["magnitude"] = abs(value)
            fields["points"] = abs(value) * 100
        if self.kind == "category":
            fields["category"] = self.categories.get(value, value)
        return fields

    def describe(self, value: Any) -> str:
        """The explanation sentence for one pupil's value of this feature."""
        if value is None or value is pd.NA or (not isinstance(value, str) and pd.isna(value)):
            return self.when_missing
        if self.kind == "flag":
            return self.when_true if bool(value) else self.when_false  # type: ignore[return-value]
        if self.kind == "category":
            return self.template.format(**self.fields(str(value)))  # type: ignore[union-attr]
        value = float(value) if self.kind == "rate" else _whole(value)
        sentence = self.when_value.get(value) if isinstance(value, int) else None
        if sentence is None and self.line is not None:
            sentence = (
                self.when_below if value < self.line else self.when_above if value > self.line else None
            )
        return (sentence or self.template).format(**self.fields(value))  # type: ignore[union-attr]


def _whole(value: Any) -> int | float:
    """Counts and numbers read as whole numbers ("3", not "3.0") when they are whole."""
    number = float(value)
    return int(number) if number.is_integer() else number


@dataclass(frozen=True)
class Catalogue:
    """A loaded catalogue. `version` (a hash of the file's bytes) is recorded with every score."""

    version: str
    title: str
    path: Path
    features: dict[str, FeatureSpec]

    @property
    def names(self) -> list[str]:
        """Feature names in catalogue order: the columns of a feature frame."""
        return list(self.features)

    @property
    def dtypes(self) -> dict[str, str]:
        """Each feature's pandas dtype, in catalogue order."""
        return {name: feature.dtype for name, feature in self.features.items()}

    def kind(self, name: str) -> str:
        """rate, count, number, flag or category: how a model should treat the feature."""
        return self[name].kind

    def label(self, name: str) -> str:
        """The feature's short plain-English name."""
        return self[name].label

    def describe(self, name: str, value: Any) -> str:
        """The sentence an explanation shows for `value` of feature `name` (a blank gives `when_missing`)."""
        return self[name].describe(value)

    def reason(self, name: str, value: Any) -> str:
        """The sentence a reason list shows: as `describe`, but a blank reads as `when_missing_reason`."""
        feature = self[name]
        blank = value is None or value is pd.NA or (not isinstance(value, str) and pd.isna(value))
        return (feature.when_missing_reason or feature.when_missing) if blank else feature.describe(value)

    @property
    def levers(self) -> list[str]:
        """The actionable features that follow no other: what "what would change it" offers new values for."""
        return [n for n, f in self.features.items() if f.actionable and f.follows is None]

    def followers(self, lever: str) -> list[str]:
        """The features that move when `lever` does (directly or through another follower), nearest first."""
        found: list[str] = []
        for _ in self.features:  # each pass reaches one step further along the follows chains
            more = [
                n
                for n, f in self.features.items()
                if f.follows and f.follows.feature in (lever, *found) and n not in found
            ]
            if not more:
                break
            found += more
        return found

    def summary(self) -> pd.DataFrame:
        """One row per feature (name, label, kind, unit, source, missing): for an analyst to read."""
        rows = [
            {
                **feature.model_dump(include={"name", "label", "kind", "unit", "missing"}),
                "source": ", ".join(feature.source),
            }
            for feature in self.features.values()
        ]
        return pd.DataFrame(rows, columns=["name", "label", "kind", "unit", "source", "missing"])

    def __getitem__(self, name: str) -> FeatureSpec:
        try:
            return self.features[name]
        except KeyError:
            raise KeyError(f"feature {name!r} is not in catalogue {self.path.name}") from None


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Read and check a catalogue file; the shipped `features/catalogue.yaml` when `path` is None."""
    path = Path(path) if path is not None else data_path("features", "catalogue.yaml")
    content = path.read_bytes()
    try:
        raw = yaml.safe_load(content)
    except yaml.YAMLError as error:
        raise CatalogueError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("features"), list) or not raw["features"]:
        raise CatalogueError(f"{path}: needs a top-level 'version' and a non-empty 'features' list")
    unknown_keys = set(raw) - {"version", "features"}
    if unknown_keys or not raw.get("version"):
        raise CatalogueError(
            f"{path}: top level must have exactly 'version' and 'features' ({sorted(unknown_keys)})"
        )
    features: dict[str, FeatureSpec] = {}
    for position, entry in enumerate(raw["features"], start=1):
        name = entry.get("name", f"#{position}") if isinstance(entry, dict) else f"#{position}"
        where = f"{path}: feature {name!r}"
        try:
            feature = FeatureSpec.model_validate(entry)
        except ValidationError as error:
            reasons = "; ".join(
                ": ".join(
                    filter(None, (".".join(map(str, e["loc"])), e["msg"].removeprefix("Value error, ")))
                )
                for e in error.errors()
            )
            raise CatalogueError(f"{where}: {reasons}") from None
        _check_derivation(feature, where)
        if feature.name in features:
            raise CatalogueError(f"{where}: listed twice")
        features[feature.name] = feature
    for name, feature in features.items():
        if feature.follows is not None and not _reaches_a_lever(name, features):
            raise CatalogueError(
                f"{path}: feature {name!r}: follows {feature.follows.feature!r}, which is not an actionable "
                "feature of the catalogue or one that follows one (without a loop)"
            )
    return Catalogue(
        version=content_version(content), title=str(raw["version"]), path=path, features=features
    )


def _reaches_a_lever(name: str, features: dict[str, FeatureSpec]) -> bool:
    """Whether following `name`'s `follows` ends at an actionable feature that follows none."""
    seen = {name}
    feature = features[name]
    while feature.follows is not None:
        name = feature.follows.feature
        if name in seen or name not in features:
            return False
        seen.add(name)
        feature = features[name]
    return feature.actionable


def _check_derivation(feature: FeatureSpec, where: str) -> None:
    """The catalogue must describe what the code computes: a known name and its true source columns."""
    derivation = DERIVATIONS.get(feature.name)
    if derivation is None:
        raise CatalogueError(f"{where}: no such feature is computed (known: {', '.join(DERIVATIONS)})")
    if set(feature.source) != set(derivation.source):
        raise CatalogueError(
            f"{where}: source must be {list(derivation.source)}, as the feature is computed from"
        )
    if feature.dtype != derivation.dtype:
        raise CatalogueError(f"{where}: kind {feature.kind!r} does not fit how the feature is computed")

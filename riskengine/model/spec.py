"""The model spec (`models/*.yaml`): which features, how regularised, when trained, how flags are cut.

An analyst edits the spec, not Python; the version recorded with every model and score is a hash of the
file, so two models trained from different specs can always be told apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from riskengine.paths import content_version, data_path
from riskengine.spec import upload as spec

#: Audit-only attributes that a model spec may never list as inputs.
FORBIDDEN_FEATURES = frozenset(spec.AUDIT_COLUMNS)

#: The column scoring adds to a feature frame: the term scored. With `ncyear` it picks a pupil's point model.
#: (Here, not in pipeline.py, so scoring and `explain` can name it without importing scikit-learn.)
POINT_TERM = "scoring_term"
#: The extra model input holding the rule set's points, when the spec asks for it.
RULE_POINTS = "rule_points"
#: The extra model input saying a training pupil was supported by the service (`support: adjust`); scoring
#: sets it to "not supported", so a score is the risk without help.
SUPPORTED = "supported"


class ModelSpecError(ValueError):
    """A malformed model spec; the message names the file and the field."""


class FlagThreshold(BaseModel):
    """How many pupils the model flags: exactly one of top_n, top_percent or probability."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    top_n: int | None = Field(default=None, ge=1)
    top_percent: float | None = Field(default=None, gt=0, le=100)
    probability: float | None = Field(default=None, gt=0, lt=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> FlagThreshold:
        if sum(v is not None for v in (self.top_n, self.top_percent, self.probability)) != 1:
            raise ValueError("give exactly one of top_n, top_percent or probability")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("top_n", "top_percent", "probability") if getattr(self, k) is not None)

    @property
    def value(self) -> float:
        return getattr(self, self.kind)

    def describe(self) -> str:
        if self.kind == "top_n":
            return f"the {self.top_n} pupils with the highest risk"
        if self.kind == "top_percent":
            return f"the {self.top_percent:g}% of pupils with the highest risk"
        return f"every pupil with a risk of {self.probability:.0%} or more"


class ModelSpec(BaseModel):
    """One model spec file, checked at load."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    description: str = ""
    year_group: int = Field(ge=spec.NCYEAR_RANGE[0], le=spec.NCYEAR_RANGE[1])
    term: Literal["autumn", "spring", "summer"]
    features: tuple[str, ...] = Field(min_length=1)
    include_rule_points: bool = False
    #: Pupils the service supported, whose outcomes the support changed (riskengine.model.support):
    #: "adjust" (a supported indicator in the model, set to "not supported" when scoring), "leave_out"
    #: (dropped from training) or "ignore" (trained on like everyone else).
    support: Literal["adjust", "leave_out", "ignore"] = "adjust"
    penalty: Literal["l2"] = "l2"
    #: "auto": chosen by cross-validated log-loss on the training cohorts; or a fixed positive number.
    C: Literal["auto"] | Annotated[float, Field(gt=0)] = "auto"
    class_weight: Literal["none", "balanced"] = "none"
    calibration: Literal["none", "sigmoid", "isotonic"] = "none"
    registered_model_name: str = Field(default="riskengine-neet", pattern=r"^[A-Za-z0-9_.-]+$")
    flag_threshold: FlagThreshold = FlagThreshold(top_percent=10)
    reasons_per_side: int = Field(default=3, ge=1, le=10)
    #: Training is refused below this many positive outcomes (too few to fit or to validate).
    min_positives: int = Field(default=20, ge=2)
    #: Named groups of overlapping features explained as one reason (their contributions summed).
    explain_together: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    #: Hold each coefficient to the catalogue's declared direction (raises / lowers / either).
    sign_constraints: bool = True
    #: Flag feature -> prior log-odds per "yes": the L2 penalty pulls towards it instead of towards 0.
    priors: dict[str, float] = Field(default_factory=dict)
    #: A reason is listed only if setting that feature alone to its reference changes this pupil's model
    #: risk by at least this many percentage points.
    materiality_pp: float = Field(default=1.0, ge=0, le=100)
    #: The scoring points ("<year group> <term>") a model is trained for, one model each; scoring uses the
    #: pupil's own point's model (Years after the last point: the last point's). Empty: only the spec's
    #: `year_group` and `term`. The spec's own point is always among them (the model card's headline).
    points: tuple[Annotated[str, Field(pattern=r"^(7|8|9|10|11|12|13|14) (autumn|spring|summer)$")], ...] = ()
    version: str = ""  # filled in from the file's hash by load_model_spec

    @property
    def point(self) -> str:
        """The spec's own scoring point, e.g. "9 autumn"."""
        return _point_key(self.year_group, self.term)

    @property
    def scoring_points(self) -> list[str]:
        """Every point a model is trained for (the spec's own point first)."""
        return [self.point, *(p for p in self.points if p != self.point)]

    @field_validator("features")
    @classmethod
    def _no_audit_attributes(cls, features: tuple[str, ...]) -> tuple[str, ...]:
        forbidden = sorted(set(features) & FORBIDDEN_FEATURES)
        if forbidden:
            raise ValueError(f"{forbidden} are fairness-audit attributes, never model inputs")
        if len(set(features)) != len(features):
            raise ValueError("a feature is listed twice")
        return features

    @model_validator(mode="after")
    def _groups_of_listed_features(self) -> ModelSpec:
        problems = explain_together_problems(self.explain_together, self.features)
        problems += [
            f"priors: {name} is not among the spec's features"
            for name in self.priors
            if name not in self.features
        ]
        if self.points and self.point not in self.points:
            problems.append(f"points: the spec's own point {self.point!r} (year_group, term) must be listed")
        if len(set(self.points)) != len(self.points):
            problems.append("points: a point is listed twice")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _point_key(year_group: int, term: str) -> str:
    return f"{year_group} {term}"


def explain_together_problems(groups: Mapping[str, Sequence[str]], features: Sequence[str]) -> list[str]:
    """What is wrong with `explain_together` groups over these features (empty when nothing is).

    Each group needs two or more of the features, a feature sits in at most one group, and a group's name
    must not be a feature's, since explanations key the group's contribution by that name.
    """
    problems, seen = [], {}
    for name, members in groups.items():
        where = f"explain_together.{name}"
        if name in features:
            problems.append(f"{where}: the group name is a feature's name; choose another")
        if len(set(members)) < 2:
            problems.append(f"{where}: a group needs at least two different features")
        unknown = [m for m in members if m not in features]
        if unknown:
            problems.append(f"{where}: {unknown} are not among the spec's features")
        for member in dict.fromkeys(members):
            if member in seen:
                problems.append(f"{where}: {member} is already in group {seen[member]}")
            seen.setdefault(member, name)
    return problems


def load_model_spec(path: str | Path | None = None, **overrides: Any) -> ModelSpec:
    """Read and check a model spec; the shipped `models/logistic.yaml` when `path` is None.

    `overrides` replace fields (e.g. a notebook trying another C); they change the recorded version too.
    """
    path = Path(path) if path is not None else data_path("models", "logistic.yaml")
    content = path.read_bytes()
    try:
        raw = yaml.safe_load(content)
    except yaml.YAMLError as error:
        raise ModelSpecError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise ModelSpecError(f"{path}: expected a mapping of fields")
    raw.update(overrides)
    digest = content_version(content + repr(sorted(overrides.items())).encode() * bool(overrides))
    raw["version"] = f"{raw.get('name', path.stem)}@{digest}"
    try:
        return ModelSpec.model_validate(raw)
    except ValidationError as error:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg']}" for e in error.errors())
        raise ModelSpecError(f"{path}: {reasons}") from None

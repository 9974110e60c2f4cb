"""The rule language: a YAML rule set parsed and checked into plain objects, before any engine sees it.

An analyst edits rule files by hand, so every mistake (a YAML typo, an unknown feature, a bad operator, a
repeated id, missing points, bands out of order) is refused at load with the file, the rule and the reason,
never discovered half-way through scoring. The language is documented in rules/README.md.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from riskengine.features.catalogue import NUMERIC_KINDS, load_catalogue
from riskengine.paths import content_version, data_path

#: Comparison operators; a comparison with a missing value is false, whatever the operator.
COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
MEMBERSHIP = ("in", "not_in")
OPERATORS = (*COMPARISONS, *MEMBERSHIP, "is_missing")
_ORDERING = ("<", "<=", ">", ">=")


class RuleError(ValueError):
    """A rule file that cannot be used; says which file, which rule (if any) and why."""

    def __init__(self, file: str | Path, reason: str, rule_id: str | None = None) -> None:
        self.file = str(file)
        self.rule_id = rule_id
        self.reason = reason
        where = f"{self.file}: rule {rule_id!r}" if rule_id else self.file
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class Test:
    """One feature compared with a value: `feature op value`. `is_missing` takes true or false."""

    feature: str
    op: str
    value: Any


@dataclass(frozen=True)
class Group:
    """`all` (and) or `any` (or) over nested conditions."""

    kind: Literal["all", "any"]
    parts: tuple[Condition, ...]


Condition = Test | Group


@dataclass(frozen=True)
class Example:
    """A pupil (the named features; all others missing) and what the rule, or the set, must do with it."""

    pupil: dict[str, Any]
    fires: bool | None = None
    fired: tuple[str, ...] | None = None
    points: float | None = None
    band: str | None = None
    always_flag: bool | None = None
    name: str = ""


@dataclass(frozen=True)
class Rule:
    id: str
    reason: str
    condition: Condition
    points: float
    always_flag: bool = False
    examples: tuple[Example, ...] = ()
    #: A short plain-English name ("Attendance below 80%") that headlines and sentences use, never the id.
    title: str = ""

    @property
    def heading(self) -> str:
        """The title, or for a rule without one its reason template (never the id)."""
        return self.title or self.reason

    @property
    def features(self) -> list[str]:
        """The features the condition reads, in first-use order."""
        return list(dict.fromkeys(_features(self.condition)))


@dataclass(frozen=True)
class RuleSet:
    """A loaded rule set. `version` (a hash of the file's bytes) is stored with every result."""

    name: str
    version: str
    path: Path
    rules: tuple[Rule, ...]
    bands: tuple[tuple[float, str], ...]
    description: str = ""
    examples: tuple[Example, ...] = field(default=())

    @property
    def rule_ids(self) -> list[str]:
        return [rule.id for rule in self.rules]

    @property
    def titles(self) -> dict[str, str]:
        """Rule id -> the words a sentence uses for it (its title; its reason when it has none)."""
        return {rule.id: rule.heading for rule in self.rules}

    @property
    def band_names(self) -> list[str]:
        return [name for _, name in self.bands]

    @property
    def top_band(self) -> str:
        """The band an `always_flag` rule puts a pupil in, whatever their points."""
        return self.bands[-1][1]

    @property
    def features(self) -> list[str]:
        """Every feature any rule reads, in first-use order."""
        return list(dict.fromkeys(name for rule in self.rules for name in rule.features))

    def band_for(self, points: float) -> str:
        """The last band whose threshold is at or below `points` (the first band below every threshold)."""
        name = self.bands[0][1]
        for threshold, band in self.bands:
            if points >= threshold:
                name = band
        return name


def load_rule_set(path: str | Path | None = None, catalogue: Any = None) -> RuleSet:
    """Read and check a rule file (the shipped `rules/default.yaml` when `path` is None).

    Feature names and values are checked against `catalogue` (a `riskengine.features.Catalogue`; the
    shipped catalogue when None). Raises RuleError naming the file, the rule and the reason.
    """
    path = Path(path) if path is not None else data_path("rules", "default.yaml")
    catalogue = catalogue or load_catalogue()
    try:
        content = path.read_bytes()
    except OSError as error:
        raise RuleError(path, f"cannot read the file: {error.strerror}") from None
    try:
        raw = yaml.safe_load(content)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise RuleError(path, f"not valid YAML{line}: {problem}") from None
    return _Parser(path, catalogue).rule_set(raw, content_version(content))


class _Parser:
    """Turns the YAML structure into a RuleSet, raising RuleError at the first problem."""

    def __init__(self, path: Path, catalogue: Any) -> None:
        self.path = path
        self.catalogue = catalogue
        self.rule_id: str | None = None

    def fail(self, reason: str) -> RuleError:
        return RuleError(self.path, reason, self.rule_id)

    def rule_set(self, raw: Any, version: str) -> RuleSet:
        if not isinstance(raw, dict):
            raise self.fail("the file must be a mapping with name, bands and rules")
        self._keys(raw, required={"name", "bands", "rules"}, optional={"description", "examples"})
        if not isinstance(raw["rules"], list) or not raw["rules"]:
            raise self.fail("'rules' must be a non-empty list")
        rules: list[Rule] = []
        for position, entry in enumerate(raw["rules"], start=1):
            rule = self.rule(entry, position)
            if rule.id in {r.id for r in rules}:
                raise self.fail("duplicate rule id: each rule needs its own id")
            rules.append(rule)
        self.rule_id = None
        bands = self.bands(raw["bands"])
        ids = {rule.id for rule in rules}
        examples = tuple(self.example(e, set_level=True, ids=ids) for e in raw.get("examples") or ())
        for example in examples:
            if example.band is not None and example.band not in {name for _, name in bands}:
                raise self.fail(f"example {example.name!r} expects unknown band {example.band!r}")
        return RuleSet(
            name=str(raw["name"]),
            version=version,
            path=self.path,
            rules=tuple(rules),
            bands=bands,
            description=str(raw.get("description") or ""),
            examples=examples,
        )

    def _keys(self, raw: dict, required: set[str], optional: set[str] | frozenset[str] = frozenset()) -> None:
        missing = sorted(required - set(raw))
        if missing:
            raise self.fail(f"missing {', '.join(missing)}")
        unknown = sorted(set(map(str, raw)) - required - optional)
        if unknown:
            raise self.fail(
                f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(required | optional))})"
            )

    def rule(self, entry: Any, position: int) -> Rule:
        self.rule_id = f"#{position}"
        if not isinstance(entry, dict):
            raise self.fail("a rule must be a mapping with id, reason, when and points")
        if isinstance(entry.get("id"), str) and entry["id"].strip():
            self.rule_id = entry["id"]
        self._keys(entry, {"id", "reason", "when", "points"}, {"always_flag", "examples", "title"})
        if not isinstance(entry["id"], str) or not entry["id"].isidentifier():
            raise self.fail("id must be a word of letters, digits and underscores")
        points = entry["points"]
        if isinstance(points, bool) or not isinstance(points, int | float):
            raise self.fail(f"points must be a number, not {points!r}")
        always_flag = entry.get("always_flag", False)
        if not isinstance(always_flag, bool):
            raise self.fail("always_flag must be true or false")
        reason = entry["reason"]
        if not isinstance(reason, str) or not reason.strip():
            raise self.fail("reason must be a sentence")
        self.template(reason)
        title = entry.get("title", "")
        if not isinstance(title, str) or ("title" in entry and not title.strip()) or len(title) > 80:
            raise self.fail("title must be a short phrase (at most 80 characters)")
        examples = tuple(self.example(e, set_level=False) for e in entry.get("examples") or ())
        return Rule(
            id=entry["id"],
            reason=reason,
            condition=self.condition(entry["when"]),
            points=float(points),
            always_flag=always_flag,
            examples=examples,
            title=title.strip(),
        )

    def template(self, reason: str) -> None:
        """A reason may name features in {braces} with a Python format, e.g. {attendance_rate_term:.0%}."""
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(reason) if f is not None]
        except ValueError as error:
            raise self.fail(f"reason {reason!r} is not a valid template: {error}") from None
        for name in fields:
            if name not in self.catalogue.names:
                raise self.fail(f"reason uses {{{name}}}, which is not a catalogue feature")

    def condition(self, raw: Any) -> Condition:
        if not isinstance(raw, dict) or not raw:
            raise self.fail("a condition must be a non-empty mapping of features, all or any")
        parts: list[Condition] = []
        for key, value in raw.items():
            if key in ("all", "any"):
                if not isinstance(value, list) or not value:
                    raise self.fail(f"'{key}' needs a non-empty list of conditions")
                parts.append(Group(key, tuple(self.condition(v) for v in value)))
            else:
                parts.extend(self.tests(str(key), value))
        return parts[0] if len(parts) == 1 else Group("all", tuple(parts))

    def tests(self, feature: str, raw: Any) -> list[Test]:
        if feature not in self.catalogue.names:
            raise self.fail(f"unknown feature {feature!r} (not in the feature catalogue)")
        if not isinstance(raw, dict):
            raw = {"==": raw}
        if not raw:
            raise self.fail(f"no test given for {feature}")
        return [self.test(feature, str(op), value) for op, value in raw.items()]

    def test(self, feature: str, op: str, value: Any) -> Test:
        if op not in OPERATORS:
            raise self.fail(f"bad operator {op!r} for {feature} (use one of {', '.join(OPERATORS)})")
        kind = self.catalogue.kind(feature)
        if op == "is_missing":
            if not isinstance(value, bool):
                raise self.fail(f"is_missing takes true or false, not {value!r}")
            return Test(feature, op, value)
        if op in _ORDERING and kind not in NUMERIC_KINDS:
            raise self.fail(f"bad operator {op!r} for {feature}: a {kind} feature cannot be ordered")
        if op in MEMBERSHIP:
            if not isinstance(value, list) or not value:
                raise self.fail(f"'{op}' for {feature} needs a non-empty list of values")
            return Test(feature, op, tuple(self.value(feature, kind, v) for v in value))
        return Test(feature, op, self.value(feature, kind, value))

    def value(self, feature: str, kind: str, value: Any) -> Any:
        if kind == "flag":
            if not isinstance(value, bool):
                raise self.fail(f"{feature} is yes/no: compare it with true or false, not {value!r}")
        elif kind == "category":
            categories = self.catalogue[feature].categories
            if not isinstance(value, str) or (categories and value not in categories):
                raise self.fail(f"{value!r} is not a code of {feature} ({', '.join(categories)})")
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"{feature} is a number: compare it with a number, not {value!r}")
        return value

    def bands(self, raw: Any) -> tuple[tuple[float, str], ...]:
        if not isinstance(raw, dict) or not raw:
            raise self.fail("bad band thresholds: 'bands' must map band names to their lowest points")
        bands: list[tuple[float, str]] = []
        for name, threshold in raw.items():
            if isinstance(threshold, bool) or not isinstance(threshold, int | float):
                raise self.fail(f"bad band thresholds: band {name!r} needs a number, not {threshold!r}")
            if bands and threshold <= bands[-1][0]:
                raise self.fail(f"bad band thresholds: band {name!r} must start above {bands[-1][1]!r}")
            bands.append((float(threshold), str(name)))
        return tuple(bands)

    def example(self, raw: Any, set_level: bool, ids: set[str] | None = None) -> Example:
        if not isinstance(raw, dict):
            raise self.fail("an example must be a mapping with a pupil and the expected outcome")
        expectations = {"fired", "points", "band", "always_flag"} if set_level else {"fires"}
        self._keys(raw, {"pupil"}, {"name", *expectations})
        if not set(raw) & expectations:
            raise self.fail(
                f"example {raw.get('name', '')!r} expects nothing ({', '.join(sorted(expectations))})"
            )
        pupil = raw["pupil"] or {}
        if not isinstance(pupil, dict):
            raise self.fail("an example's pupil must map features to values")
        for feature, value in pupil.items():
            if feature not in self.catalogue.names:
                raise self.fail(f"example uses unknown feature {feature!r}")
            if value is not None:
                self.value(feature, self.catalogue.kind(feature), value)
        fired = raw.get("fired")
        if fired is not None:
            unknown = sorted(set(fired) - (ids or set()))
            if unknown:
                raise self.fail(f"example {raw.get('name', '')!r} expects unknown rule(s) {unknown}")
        if "fires" in raw and not isinstance(raw["fires"], bool):
            raise self.fail("an example's fires must be true or false")
        return Example(
            pupil=dict(pupil),
            fires=raw.get("fires"),
            fired=tuple(fired) if fired is not None else None,
            points=raw.get("points"),
            band=raw.get("band"),
            always_flag=raw.get("always_flag"),
            name=str(raw.get("name", "")),
        )


def _features(condition: Condition) -> list[str]:
    if isinstance(condition, Test):
        return [condition.feature]
    return [name for part in condition.parts for name in _features(part)]

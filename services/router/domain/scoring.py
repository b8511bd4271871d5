"""Lead scoring: fit from criteria, engagement from activities, a breakdown for every point.

The rules live in a YAML file (``deploy/config/scoring.yaml``) so sales ops can change
them without code. A criterion awards points from one band when all its conditions
hold on the lead:

- most important: 10 to 15 points, very important: 5 to 9, valid: 1 to 4;
- negative (disqualifiers): -1 or less.

Engagement is the sum over activities of ``engagement_points[kind]``, halved for every
``half_life_days`` of age, rounded per kind and capped at ``engagement_cap``. Activity
kinds not listed in ``engagement_points`` (a rep's ``touch``, a bounce) earn nothing and
do not count as the lead being active.

Inactivity: when the lead's most recent engaging activity is more than
``inactivity_days`` old, ``inactivity_penalty`` (zero or negative) is added. A lead with
no engaging activity at all gets no penalty: without an intake time we cannot tell a
new lead from a forgotten one, and its fit alone decides. (So a first engagement that is
already older than ``inactivity_days`` brings the penalty with it.)

``score`` is pure: the same lead, activities, rules and ``now`` give the same ``Score``,
and the breakdown items (all whole points) add up exactly to the total.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from services.router.domain.model import ActivityPoint, LeadProfile

Band = Literal["most_important", "very_important", "valid", "negative"]
Operator = Literal[
    "equals",
    "in",
    "contains_any",
    "ends_with_any",
    "present",
    "at_least",
    "at_most",
    "above",
    "below",
    "between",
]
Temperature = Literal["hot", "warm", "cold"]
Stage = Literal["none", "mql", "sql"]
ItemKind = Literal["fit", "engagement", "decay"]

# Inclusive point limits per band; None means unbounded.
BAND_LIMITS: Mapping[str, tuple[int | None, int | None]] = {
    "most_important": (10, 15),
    "very_important": (5, 9),
    "valid": (1, 4),
    "negative": (None, -1),
}
OPERATORS: tuple[Operator, ...] = get_args(Operator)
NUMERIC_OPERATORS: frozenset[str] = frozenset({"at_least", "at_most", "above", "below", "between"})
# The operators whose value is one number.
_BOUND_OPERATORS = ("at_least", "at_most", "above", "below")

# Fields a condition may test: the lead's attributes plus two derived names, and the
# patterns below (utm.<key>, custom.<key>, <kind>_count).
_DERIVED_FIELDS = ("email_domain", "title")
CONDITION_FIELDS: frozenset[str] = frozenset(
    {f.name for f in fields(LeadProfile) if f.name not in ("utm", "custom")} | set(_DERIVED_FIELDS)
)
UTM_KEYS = ("source", "medium", "campaign", "term", "content")
# Activity kinds whose number a condition may test as ``<kind>_count`` (a rep's touch by
# meeting counts as ``meeting``, as it does for engagement points).
ENGAGEMENT_COUNT_KINDS = ("open", "click", "page_visit", "reply", "meeting", "touch", "bounce")
_COUNT_FIELDS = {f"{kind}_count": kind for kind in ENGAGEMENT_COUNT_KINDS}
_CUSTOM_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
# A number written as text: plain decimals ("12", "-3.5"), and numbers formatted for reading
# with a currency sign, thousands commas or a percent sign ("$1,200,000", "1,200", "12%");
# not "1.200,50", "1e3" or "12 units".
_DECIMAL = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_FORMATTED_NUMBER = re.compile(
    r"^(?P<sign>[-+]?)\s*[$€£¥]?\s*(?P<digits>\d{1,3}(?:,\d{3})+|\d+)(?P<frac>\.\d+)?\s*[%$€£¥]?$"
)
# Text that means "not filled in" in a custom or UTM field (a form's or an export's
# placeholder): missing, not a value.
MISSING_TEXT = frozenset({"na", "n/a", "nan", "null", "none", "-"})
# Personal data: a breakdown names these fields but never quotes their values.
_REDACTED_FIELDS = frozenset({"email", "phone", "first_name", "last_name"})
# contains_any tokens this short match whole words only: "vp" in "VP Sales" but not "MVP",
# "intern" in "Sales Intern" but not "International"; longer ones match anywhere.
_WHOLE_WORD_MAX_LEN = 6


def band_error(band: str, points: int) -> str | None:
    """Why ``points`` does not fit ``band``, or None when it does."""
    if band not in BAND_LIMITS:
        return f"unknown band {band!r} (use one of {', '.join(BAND_LIMITS)})"
    low, high = BAND_LIMITS[band]
    if band == "negative" and high is not None and points > high:
        return f"points {points} outside band negative (must be {high} or less)"
    if (low is not None and points < low) or (high is not None and points > high):
        return f"points {points} outside band {band} ({low}-{high})"
    return None


def is_condition_field(name: str) -> bool:
    """Whether a scoring condition may test ``name``: a lead field, ``utm.<key>``,
    ``custom.<key>`` or ``<kind>_count``."""
    if name in CONDITION_FIELDS or name in _COUNT_FIELDS:
        return True
    head, dot, key = name.partition(".")
    if not dot:
        return False
    if head == "utm":
        return key in UTM_KEYS
    return head == "custom" and _CUSTOM_KEY.match(key) is not None


def engagement_counts(activities: Sequence[ActivityPoint], now: datetime) -> dict[str, int]:
    """How many activities of each kind a score considers (all of them: one after ``now``
    counts as happening now, as for engagement points)."""
    counts: dict[str, int] = {}
    for activity in activities:
        counts[activity.kind] = counts.get(activity.kind, 0) + 1
    return counts


def _value(raw: object) -> str | float | None:
    if type(raw) is str:  # the common case first: scoring runs for every decision
        return raw.strip() or None
    if raw is None:
        return None
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        try:
            number = float(raw)
        except OverflowError:  # an integer too large for a float is not a usable number
            return None
        return number if math.isfinite(number) else None
    return str(raw).strip() or None


def _free_value(raw: object) -> str | float | None:
    """A custom or UTM value, which nothing validated: a placeholder ("N/A", "-") is missing.
    (Lead fields are validated at intake, and "NA" there is Namibia.)"""
    value = _value(raw)
    if type(value) is str and len(value) <= 4 and value.casefold() in MISSING_TEXT:
        return None
    return value


def _email_domain(lead: LeadProfile, counts: Mapping[str, int]) -> str | None:
    email = (lead.email or "").strip()
    domain = email.rpartition("@")[2] if "@" in email else ""
    return domain.strip().lower() or None


Getter = Callable[[LeadProfile, Mapping[str, int]], str | float | None]


@lru_cache(maxsize=4096)
def _getter(name: str) -> Getter:
    """How to read ``name`` off a lead, decided once per field name."""
    if name == "email_domain":
        return _email_domain
    kind = _COUNT_FIELDS.get(name)
    if kind is not None:
        return lambda lead, counts: float(counts.get(kind, 0))
    if name.startswith("custom."):
        key = name[7:]
        return lambda lead, counts: _free_value(lead.custom.get(key))
    if name.startswith("utm."):
        key = name[4:]
        return lambda lead, counts: _free_value(lead.utm.get(key))
    attr = "job_title" if name == "title" else name
    return lambda lead, counts: _value(getattr(lead, attr))


def field_value(lead: LeadProfile, counts: Mapping[str, int], name: str) -> str | float | None:
    """The value a condition on ``name`` sees: stripped text (None when blank or missing),
    a float for a count or a custom value that is a number, "true"/"false" for a flag."""
    return _getter(name)(lead, counts)


def as_number(value: str | float | None) -> float | None:
    """A value as a number: a float as is; text when it is a plain decimal or a number
    formatted for reading ("$1,200,000", "1,200", "12%" is 12); else None."""
    if value is None or isinstance(value, float):
        return value
    if not _DECIMAL.match(value):
        match = _FORMATTED_NUMBER.match(value)
        if match is None:
            return None
        value = match["sign"] + match["digits"].replace(",", "") + (match["frac"] or "")
    number = float(value)
    return number if math.isfinite(number) else None


def _number_text(number: float) -> str:
    return f"{number:g}" if abs(number) < 1e15 else repr(number)


def _exact_text(number: float) -> str:
    """A number as a breakdown shows it, never rounded: 5, 1.46, 1200000, 1.00000002
    (so "x 1.00000003 is above 1.00000002" never reads "x 1 is above 1")."""
    if float(number).is_integer() and abs(number) < 1e15:
        return str(int(number))
    text = _number_text(number)
    return text if float(text) == number else repr(float(number))


@lru_cache(maxsize=1024)
def _token_pattern(token: str) -> re.Pattern[str]:
    escaped = re.escape(token)
    if len(token) <= _WHOLE_WORD_MAX_LEN:
        return re.compile(rf"(?<![^\W_]){escaped}(?![^\W_])")
    return re.compile(escaped)


@dataclass(frozen=True)
class Condition:
    """One predicate on one lead field; text comparisons ignore case.

    ``op`` and ``value``:
    - ``equals``: a string, the whole (stripped) field value;
    - ``in``: a tuple of strings, the whole field value is one of them;
    - ``contains_any``: a tuple of substrings; tokens of up to 6 characters match whole
      words only, so "vp" matches "VP Sales" and "cto" does not match "Director";
    - ``ends_with_any``: a tuple of suffixes (".edu", ".ac.uk");
    - ``present``: a bool, the field is (True) or is not (False) filled in;
    - ``at_least`` / ``at_most``: a float, the field is a number and that high / low;
    - ``above`` / ``below``: a float, the field is a number strictly greater / less
      (``above: 5`` and ``at_most: 5`` split the numbers with nothing left between them);
    - ``between``: a (low, high) pair of floats, inclusive.
    A missing field matches nothing but ``present: false``; a numeric operator never
    matches a value that is not a number. ``equals`` and ``in`` compare as numbers when
    both the value and the option are numbers ("10" equals 10.0).
    """

    field: str
    op: Operator
    value: str | tuple[str, ...] | bool | float | tuple[float, float]

    def __post_init__(self) -> None:
        if not is_condition_field(self.field):
            raise ValueError(f"unknown field {self.field!r}")
        if self.op not in OPERATORS:
            raise ValueError(f"unknown operator {self.op!r}")
        value = self.value
        if self.op == "present":
            ok = isinstance(value, bool)
        elif self.op == "equals":
            ok = isinstance(value, str)
        elif self.op in _BOUND_OPERATORS:
            ok = _is_number(value)
        elif self.op == "between":
            ok = (
                isinstance(value, tuple)
                and len(value) == 2
                and all(_is_number(v) for v in value)
                and value[0] <= value[1]  # type: ignore[operator]
            )
        else:
            ok = isinstance(value, tuple) and all(isinstance(v, str) for v in value)
        if not ok:
            raise ValueError(f"field {self.field!r}: bad value {value!r} for {self.op}")

    def matches(self, lead: LeadProfile, counts: Mapping[str, int] | None = None) -> bool:
        return self.explain(lead, counts) is not None

    @functools.cached_property
    def _options(self) -> tuple[tuple[str, str, float | None], ...]:
        """(option as written, its folded token, its number if it is one), blanks left out."""
        if isinstance(self.value, str):
            return ((self.value, self.value.strip().casefold(), as_number(self.value.strip())),)
        assert isinstance(self.value, tuple)
        folded = ((str(option), str(option).strip().casefold()) for option in self.value)
        return tuple((option, token, as_number(token)) for option, token in folded if token)

    @functools.cached_property
    def _numeric_options(self) -> bool:
        """Whether equals / in has an option that is a number (then values compare as numbers)."""
        return self.op in ("equals", "in") and any(n is not None for _, _, n in self._options)

    @functools.cached_property
    def _read(self) -> Getter:
        return _getter(self.field)

    def explain(self, lead: LeadProfile, counts: Mapping[str, int] | None = None) -> str | None:
        """Why the condition holds on ``lead`` (for the breakdown), or None if it does not.
        ``counts`` are the lead's activities per kind (``engagement_counts``)."""
        actual = self._read(lead, counts or _NO_COUNTS)
        op = self.op
        if op == "present":
            present = actual is not None
            if present != self.value:
                return None
            name = _shown_name(self.field)
            return f"{name} is present" if present else f"{name} is missing"
        if actual is None:
            return None
        if op in NUMERIC_OPERATORS:
            return self._explain_number(as_number(actual))
        if type(actual) is float:
            number: float | None = actual
            text = _number_text(actual)
        else:
            assert isinstance(actual, str)
            text = actual
            number = as_number(text) if self._numeric_options else None
        folded = text.casefold()
        for option, token, option_number in self._options:
            if op == "equals" or op == "in":
                same = (
                    number == option_number
                    if number is not None and option_number is not None
                    else folded == token
                )
                if same:
                    verb = "equals" if op == "equals" else "is"
                    return f"{_shown(_shown_name(self.field), text)} {verb} {option!r}"
            elif op == "contains_any":
                if _token_pattern(token).search(folded):
                    return f"{_shown(_shown_name(self.field), text)} contains {option!r}"
            elif folded.endswith(token):  # ends_with_any
                return f"{_shown(_shown_name(self.field), text)} ends with {option!r}"
        return None

    def _explain_number(self, number: float | None) -> str | None:
        if number is None:
            return None
        shown = _shown(_shown_name(self.field), _exact_text(number), quote=False)
        if self.op == "at_least":
            assert isinstance(self.value, float | int)
            ok = number >= self.value
            why = f"{shown} is at least {_exact_text(self.value)}"
        elif self.op == "at_most":
            assert isinstance(self.value, float | int)
            ok = number <= self.value
            why = f"{shown} is at most {_exact_text(self.value)}"
        elif self.op == "above":
            assert isinstance(self.value, float | int)
            ok = number > self.value
            why = f"{shown} is above {_exact_text(self.value)}"
        elif self.op == "below":
            assert isinstance(self.value, float | int)
            ok = number < self.value
            why = f"{shown} is below {_exact_text(self.value)}"
        else:
            assert isinstance(self.value, tuple)
            low, high = self.value
            ok = low <= number <= high  # type: ignore[operator]
            why = f"{shown} is between {_exact_text(low)} and {_exact_text(high)}"  # type: ignore[arg-type]
        return why if ok else None


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


_NO_COUNTS: Mapping[str, int] = {}


def _shown_name(field: str) -> str:
    return "job_title" if field == "title" else field


def _shown(name: str, actual: str, *, quote: bool = True) -> str:
    if name in _REDACTED_FIELDS:
        return name
    return f"{name} {actual!r}" if quote else f"{name} {actual}"


@dataclass(frozen=True)
class Criterion:
    """Points from one band, awarded when all conditions hold."""

    id: str
    label: str
    band: Band
    points: int
    conditions: tuple[Condition, ...]
    kind: Literal["fit"] = "fit"

    def __post_init__(self) -> None:
        problem = band_error(self.band, self.points)
        if problem:
            raise ValueError(f"criterion {self.id!r}: {problem}")
        if not self.conditions:
            raise ValueError(f"criterion {self.id!r}: needs at least one condition")


def thresholds_error(warm: int, hot: int, mql: int, sql: int) -> str | None:
    if warm >= hot:
        return f"thresholds: warm ({warm}) must be below hot ({hot})"
    if mql >= sql:
        return f"thresholds: mql ({mql}) must be below sql ({sql})"
    return None


@dataclass(frozen=True)
class Thresholds:
    """Score totals from which a lead is warm / hot, and an MQL / SQL."""

    warm: int
    hot: int
    mql: int
    sql: int

    def __post_init__(self) -> None:
        problem = thresholds_error(self.warm, self.hot, self.mql, self.sql)
        if problem:
            raise ValueError(problem)

    def temperature(self, total: int) -> Temperature:
        if total >= self.hot:
            return "hot"
        return "warm" if total >= self.warm else "cold"

    def stage(self, total: int) -> Stage:
        if total >= self.sql:
            return "sql"
        return "mql" if total >= self.mql else "none"


@dataclass(frozen=True)
class ScoringRules:
    criteria: tuple[Criterion, ...]
    engagement_points: Mapping[str, int]  # activity kind -> points when fresh
    engagement_cap: int
    half_life_days: float
    inactivity_days: int
    inactivity_penalty: int  # zero or negative
    thresholds: Thresholds
    version: str  # hash of the rules file, stored with every score

    @functools.cached_property
    def counts_activities(self) -> bool:
        """Whether a criterion tests ``<kind>_count`` (else scoring need not count)."""
        return any(
            c.field in _COUNT_FIELDS for criterion in self.criteria for c in criterion.conditions
        )


@dataclass(frozen=True)
class ScoreItem:
    """One contribution to a score. ``points`` is whole; ``detail`` says why."""

    criterion: str
    label: str
    kind: ItemKind
    band: str | None
    points: int
    detail: str


@dataclass(frozen=True)
class Score:
    total: int
    fit: int
    engagement: int
    temperature: Temperature
    stage: Stage
    breakdown: tuple[ScoreItem, ...]
    rules_version: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "fit": self.fit,
            "engagement": self.engagement,
            "temperature": self.temperature,
            "stage": self.stage,
            "breakdown": [
                {
                    "criterion": i.criterion,
                    "label": i.label,
                    "kind": i.kind,
                    "band": i.band,
                    "points": i.points,
                    "detail": i.detail,
                }
                for i in self.breakdown
            ],
            "rules_version": self.rules_version,
        }


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def _aware(t: datetime) -> datetime:
    """Naive datetimes are taken as UTC, so callers cannot mix the two by accident."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def score(
    lead: LeadProfile, activities: Sequence[ActivityPoint], rules: ScoringRules, now: datetime
) -> Score:
    """Score one lead at ``now``. Activities after ``now`` count as happening now."""
    items: list[ScoreItem] = []
    counts = engagement_counts(activities, now) if rules.counts_activities else None

    for criterion in rules.criteria:
        reasons: list[str] = []
        for condition in criterion.conditions:
            reason = condition.explain(lead, counts)
            if reason is None:
                break
            reasons.append(reason)
        else:
            items.append(
                ScoreItem(
                    criterion=criterion.id,
                    label=criterion.label,
                    kind="fit",
                    band=criterion.band,
                    points=criterion.points,
                    detail="; ".join(reasons),
                )
            )
    fit = sum(i.points for i in items)

    now = _aware(now)
    per_kind: dict[str, tuple[int, float]] = {}  # kind -> (count, decayed points)
    last_engaged: datetime | None = None
    for activity in activities:
        base = rules.engagement_points.get(activity.kind)
        if base is None:
            continue
        at = _aware(activity.at)
        last_engaged = at if last_engaged is None or at > last_engaged else last_engaged
        age_days = max(0.0, (now - at).total_seconds() / 86400)
        count, decayed = per_kind.get(activity.kind, (0, 0.0))
        per_kind[activity.kind] = (
            count + 1,
            decayed + base * 0.5 ** (age_days / rules.half_life_days),
        )

    engagement_items: list[ScoreItem] = []
    for kind, base in rules.engagement_points.items():  # config order, for a stable breakdown
        if kind not in per_kind:
            continue
        count, decayed = per_kind[kind]
        points = _round_half_up(decayed)
        if points == 0:
            continue
        engagement_items.append(
            ScoreItem(
                criterion=f"engagement.{kind}",
                label=f"{kind} activity",
                kind="engagement",
                band=None,
                points=points,
                detail=(
                    f"{count} x {kind} at {base} pts: {count * base} before decay, "
                    f"{decayed:.1f} after (half-life {rules.half_life_days:g} days)"
                ),
            )
        )
    uncapped = sum(i.points for i in engagement_items)
    if uncapped > rules.engagement_cap:
        engagement_items.append(
            ScoreItem(
                criterion="engagement_cap",
                label="engagement cap",
                kind="engagement",
                band=None,
                points=rules.engagement_cap - uncapped,
                detail=f"engagement {uncapped} capped at {rules.engagement_cap}",
            )
        )
    items.extend(engagement_items)
    engagement = sum(i.points for i in engagement_items)

    if last_engaged is not None and rules.inactivity_penalty != 0:
        idle_days = (now - last_engaged).total_seconds() / 86400
        if idle_days > rules.inactivity_days:
            items.append(
                ScoreItem(
                    criterion="inactivity",
                    label="inactivity",
                    kind="decay",
                    band=None,
                    points=rules.inactivity_penalty,
                    detail=(
                        f"last engagement {idle_days:.0f} days ago "
                        f"(more than {rules.inactivity_days})"
                    ),
                )
            )

    total = sum(i.points for i in items)
    return Score(
        total=total,
        fit=fit,
        engagement=engagement,
        temperature=rules.thresholds.temperature(total),
        stage=rules.thresholds.stage(total),
        breakdown=tuple(items),
        rules_version=rules.version,
    )


# --- The rules file ---------------------------------------------------------------------


class ScoringConfigError(ValueError):
    """The scoring rules file is missing or invalid; the message names what and where."""


Number = StrictInt | StrictFloat


class _ConditionModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )

    field: StrictStr
    equals: StrictStr | None = None
    in_: list[StrictStr] | None = Field(None, alias="in", min_length=1)
    contains_any: list[StrictStr] | None = Field(None, min_length=1)
    ends_with_any: list[StrictStr] | None = Field(None, min_length=1)
    present: StrictBool | None = None
    at_least: Number | None = None
    at_most: Number | None = None
    above: Number | None = None
    below: Number | None = None
    between: tuple[Number, Number] | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_known_operator(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError(
                "a condition must be a mapping like {field: title, contains_any: [vp]}"
            )
        name = data.get("field")
        if name is None:
            raise ValueError("a condition needs a field")
        if not isinstance(name, str) or not is_condition_field(name):
            known = ", ".join(sorted(CONDITION_FIELDS))
            raise ValueError(
                f"unknown field {name!r} (known: {known}; utm.<{'|'.join(UTM_KEYS)}>; "
                f"custom.<key>; <kind>_count for {', '.join(ENGAGEMENT_COUNT_KINDS)})"
            )
        ops = [k for k in data if k != "field"]
        unknown = [k for k in ops if k not in OPERATORS]
        if unknown:
            raise ValueError(
                f"field {name!r}: unknown operator {unknown[0]!r} (use one of {', '.join(OPERATORS)})"
            )
        if len(ops) != 1:
            found = ", ".join(ops) if ops else "none"
            raise ValueError(f"field {name!r}: needs exactly one operator, found {found}")
        between = data.get("between")
        if ops == ["between"] and not (isinstance(between, list) and len(between) == 2):
            raise ValueError(f"field {name!r}: between needs two numbers, like [10, 50]")
        return data

    @model_validator(mode="after")
    def _low_before_high(self) -> _ConditionModel:
        if self.between is not None and self.between[0] > self.between[1]:
            low, high = self.between
            raise ValueError(f"field {self.field!r}: between [{low}, {high}]: low above high")
        return self

    def to_condition(self) -> Condition:
        for op in OPERATORS:
            raw = getattr(self, "in_" if op == "in" else op)
            if raw is None:
                continue
            value: Any
            if op in _BOUND_OPERATORS:
                value = float(raw)
            elif op == "between":
                value = (float(raw[0]), float(raw[1]))
            else:
                value = tuple(raw) if isinstance(raw, list) else raw
            return Condition(field=self.field, op=op, value=value)
        raise AssertionError("unreachable: validated to hold one operator")


class _CriterionModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    label: str = ""
    band: Band
    points: StrictInt
    conditions: list[_ConditionModel] = Field(min_length=1)

    @model_validator(mode="after")
    def _points_in_band(self) -> _CriterionModel:
        problem = band_error(self.band, self.points)
        if problem:
            raise ValueError(problem)
        return self


class _ThresholdsModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    warm: StrictInt
    hot: StrictInt
    mql: StrictInt
    sql: StrictInt

    @model_validator(mode="after")
    def _ordered(self) -> _ThresholdsModel:
        problem = thresholds_error(self.warm, self.hot, self.mql, self.sql)
        if problem:
            raise ValueError(problem.removeprefix("thresholds: "))
        return self


class _EngagementModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    points: dict[StrictStr, Annotated[int, Field(strict=True, ge=0)]]
    cap: StrictInt = Field(ge=0)
    half_life_days: float = Field(gt=0)


class _InactivityModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    after_days: StrictInt = Field(gt=0)
    penalty: StrictInt = Field(le=0)


class _RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    thresholds: _ThresholdsModel
    engagement: _EngagementModel
    inactivity: _InactivityModel
    criteria: list[_CriterionModel]


def _describe(exc: ValidationError, raw: Any) -> str:
    """Pydantic errors as short lines naming the criterion id and field."""
    lines: list[str] = []
    raw_criteria = raw.get("criteria") if isinstance(raw, dict) else None
    for err in exc.errors():
        loc = list(err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown setting"
        if isinstance(err.get("input"), bool) and err["type"] == "string_type":
            msg += " (YAML reads yes/no/on/off/NO as booleans: quote the value)"
        where: list[str] = []
        if len(loc) >= 2 and loc[0] == "criteria" and isinstance(loc[1], int):
            index = loc[1]
            entry = raw_criteria[index] if isinstance(raw_criteria, list) else None
            cid = entry.get("id") if isinstance(entry, dict) else None
            where.append(f"criterion {cid!r}" if cid else f"criterion #{index + 1}")
            loc = loc[2:]
            if len(loc) >= 2 and loc[0] == "conditions" and isinstance(loc[1], int):
                cond = entry.get("conditions") if isinstance(entry, dict) else None
                cond_raw = cond[loc[1]] if isinstance(cond, list) and len(cond) > loc[1] else None
                name = cond_raw.get("field") if isinstance(cond_raw, dict) else None
                where.append(f"condition #{loc[1] + 1}" + (f" ({name})" if name else ""))
                loc = loc[2:]
        path = ".".join(str(p) for p in loc)
        if path:
            where.append(path)
        lines.append(": ".join([*where, msg]))
    return "; ".join(lines)


def parse_scoring_rules(text: bytes, origin: str = "<scoring rules>") -> ScoringRules:
    """Parse and check the rules file's content; ``origin`` names it in errors."""
    version = hashlib.sha256(text).hexdigest()[:12]
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScoringConfigError(f"{origin}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ScoringConfigError(
            f"{origin}: expected a mapping with thresholds, engagement, inactivity and criteria"
        )
    try:
        parsed = _RulesFile.model_validate(raw)
    except ValidationError as exc:
        raise ScoringConfigError(f"{origin}: {_describe(exc, raw)}") from exc
    seen: set[str] = set()
    for c in parsed.criteria:
        if c.id in seen:
            raise ScoringConfigError(f"{origin}: criterion {c.id!r} is defined twice")
        seen.add(c.id)
    t = parsed.thresholds
    return ScoringRules(
        criteria=tuple(
            Criterion(
                id=c.id,
                label=c.label or c.id,
                band=c.band,
                points=c.points,
                conditions=tuple(cond.to_condition() for cond in c.conditions),
            )
            for c in parsed.criteria
        ),
        engagement_points=dict(parsed.engagement.points),
        engagement_cap=parsed.engagement.cap,
        half_life_days=parsed.engagement.half_life_days,
        inactivity_days=parsed.inactivity.after_days,
        inactivity_penalty=parsed.inactivity.penalty,
        thresholds=Thresholds(warm=t.warm, hot=t.hot, mql=t.mql, sql=t.sql),
        version=version,
    )


def load_scoring_rules(path: Path) -> ScoringRules:
    """Load and check the rules file; any problem is a ``ScoringConfigError``."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ScoringConfigError(
            f"scoring rules {path}: cannot read: {exc.strerror or exc}"
        ) from exc
    return parse_scoring_rules(text, origin=str(path))


class ScoringRulesSource:
    """The current rules from one file, reloadable without a restart.

    The constructor loads the file and raises ``ScoringConfigError`` if it is bad: a
    service must not start without valid rules. ``reload_if_changed`` re-reads the file
    and compares its content hash (the file is small, and mtime ticks are too coarse
    to catch a quick rewrite): it returns True when new rules are now in force, False
    when nothing changed (or it went back to the rules in force). When the file changed into something invalid (or vanished) it
    keeps the previous rules, records the error in ``last_error`` and raises
    ``ScoringConfigError`` once for that content; later calls on the same bad content
    return False, so a polling service logs the problem once per edit.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        text = self._read()
        self._rules = parse_scoring_rules(text, origin=str(path))
        self._text = text
        self._loaded_digest = self._seen_digest = hashlib.sha256(text).digest()
        self.last_error: ScoringConfigError | None = None

    @property
    def rules(self) -> ScoringRules:
        return self._rules

    @property
    def text(self) -> bytes:
        """The file content the rules in force were parsed from (``rules.version`` is its hash)."""
        return self._text

    def _read(self) -> bytes:
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise ScoringConfigError(
                f"scoring rules {self.path}: cannot read: {exc.strerror or exc}"
            ) from exc

    def reload_if_changed(self) -> bool:
        try:
            text = self._read()
        except ScoringConfigError as exc:
            digest = b"unreadable"
            if digest == self._seen_digest:
                return False
            self._seen_digest = digest
            self.last_error = exc
            raise
        digest = hashlib.sha256(text).digest()
        if digest == self._seen_digest:
            return False
        self._seen_digest = digest
        if digest == self._loaded_digest:  # back to the rules in force after a bad edit
            self.last_error = None
            return False
        try:
            rules = parse_scoring_rules(text, origin=str(self.path))
        except ScoringConfigError as exc:
            self.last_error = exc
            raise
        self._rules, self._loaded_digest, self.last_error = rules, digest, None
        self._text = text
        return True

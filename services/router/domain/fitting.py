"""Fit points scoring rules from outcomes: binned features, a logistic regression, points.

``fit_rules`` takes rows with known outcomes (converted or qualified: True, lost: False)
and writes a scoring file in the router's own format:

1. every condition field the rows fill in becomes a feature, read with ``field_value``
   (so a feature is exactly what a condition will see): lead fields, ``custom.<key>``,
   ``utm.<key>`` and the ``<kind>_count`` engagement counts. Personal identifiers
   (email, phone, first and last name) never are;
2. numbers are cut in up to 5 quantile bins (a spike at the smallest value, such as 0
   visits, is its own bin) at cut points from the data c_1 < ... < c_k (each bin's
   largest value): ``at_most c_1``, ``above c_(i-1)`` and ``at_most c_i``, ``above c_k``,
   which puts every number in exactly one bin. Text keeps the case-folded values with
   enough support as bins; both get a "missing" bin when enough rows lack the field.
   Every bin is the conditions of one criterion (``in``, the number bounds or
   ``present: false``), so the partition the regression sees is the one the rules score;
3. a logistic regression (L2, C and class weighting picked by cross-validation on the
   training part) on the one-hot bins; per feature one bin is the reference at 0 points:
   the rows no bin takes (text values without enough support, which the grammar cannot
   name as "anything else") when there are enough of them, else the most frequent bin;
4. coefficients become whole points (the largest positive is 15, or more resolution
   when that ranks the training rows better, positives clamped to 15), zero-point bins
   are dropped, at most ``max_criteria`` are kept by |points| x support, and each lands
   in its band by points;
5. thresholds are the totals reached by the target share of training rows.

Pure: the same rows, base rules and options give the same file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import operator
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from threadpoolctl import threadpool_limits

from services.router.domain.evaluation import evaluate_scores
from services.router.domain.model import LeadProfile
from services.router.domain.scoring import (
    ENGAGEMENT_COUNT_KINDS,
    ScoringRules,
    as_number,
    engagement_counts,
    field_value,
    is_condition_field,
    parse_scoring_rules,
    score,
)
from services.router.domain.scoring_rows import ScoringRow

FeatureKind = Literal["number", "text"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Never features: they identify a person and say nothing a scoring rule should use.
PERSONAL_FIELDS = frozenset({"email", "phone", "first_name", "last_name"})
_PERSONAL_KEYS = frozenset(
    {
        "email",
        "e_mail",
        "phone",
        "mobile",
        "first_name",
        "firstname",
        "last_name",
        "lastname",
        "full_name",
        "name",
    }
)
_UTM_KEYS = ("source", "medium", "campaign", "term", "content")
_CUSTOM_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")

MAX_QUANTILE_BINS = 5
MAX_TEXT_BINS = 12  # values plus "missing"
MIN_BIN_SHARE = 0.02  # a text value or "missing" is a bin from 2% of the rows...
MIN_BIN_ROWS = 20  # ...and at least 20 rows
SPIKE_SHARE = 0.1  # the smallest number as its own bin when it holds 10% of the rows
NUMBER_SHARE = 0.9  # a field is numeric when 90% of its values are numbers
MAX_POINTS = 15
# Multipliers on the "largest positive is 15" scale tried for resolution: small
# effects round to 0 at scale 1 when one bin dominates; positives clamp to 15.
RESOLUTIONS = (1.0, 1.5, 2.0, 3.0)
C_GRID = (0.1, 1.0)
CLASS_WEIGHTS: tuple[str | None, ...] = (None, "balanced")
CV_FOLDS = 3
CV_TOL = 1e-2


class NotEnoughData(ValueError):
    """Too few rows with a known outcome (or of one outcome) to fit rules from."""


@dataclass(frozen=True)
class FitOptions:
    seed: int = 7
    holdout: float = 0.25
    max_criteria: int = 40
    min_outcomes: int = 500
    min_positives: int = 50  # and as many negatives
    mql_rate: float = 0.2
    sql_rate: float = 0.05
    warm_rate: float = 0.3
    hot_rate: float = 0.1
    source: str = "rows"  # what the rows came from, for the file's header
    fitted_at: datetime | None = None  # for the header; None leaves the time out


Conditions = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Bin:
    """One group of a feature's values, and the conditions (operator, value) that select it,
    all of which must hold: ``in`` a list of text, a number bound (``at_most``, ``above``
    and for a single value ``between`` [v, v]), ``present`` False."""

    key: str  # for the criterion id
    label: str
    conditions: Conditions


@dataclass(frozen=True)
class Feature:
    """A condition field cut into bins; ``reference`` is the group at 0 points.

    Group ``i < len(bins)`` is ``bins[i]``; group ``len(bins)`` is the rest (the values no
    bin takes), which exists only when it is the reference.
    """

    name: str
    kind: FeatureKind
    bins: tuple[Bin, ...]
    reference: int
    reference_label: str
    text_index: Mapping[str, int] = field(default_factory=dict)  # folded value -> bin
    missing: int | None = None  # the "missing" bin's index

    @property
    def groups(self) -> int:
        return len(self.bins) + (1 if self.reference == len(self.bins) else 0)

    def bin_of(self, value: str | float | None) -> int | None:
        """The bin whose condition selects this value, or None when no bin does."""
        if value is None:
            return self.missing
        if self.kind == "text":
            return self.text_index.get(_text_key(value))
        number = as_number(value)
        if number is not None:
            for i, b in enumerate(self.bins):
                if all(_holds(op, bound, number) for op, bound in b.conditions):
                    return i
        return None

    def group_of(self, value: str | float | None) -> int:
        """The group a row with this value is in: its bin, else the reference (both 0 points)."""
        found = self.bin_of(value)
        return self.reference if found is None else found


_COMPARE: Mapping[str, Callable[[Any, Any], Any]] = {
    "at_least": operator.ge,
    "at_most": operator.le,
    "above": operator.gt,
    "below": operator.lt,
}


def _holds(op: str, bound: Any, number: float) -> bool:
    """Whether a number bound of the scoring grammar holds on ``number``."""
    if op == "between":
        return bool(bound[0] <= number <= bound[1])
    compare = _COMPARE.get(op)
    return compare is not None and bool(compare(number, bound))


@dataclass(frozen=True)
class FeatureReport:
    name: str
    kind: FeatureKind | None
    used: bool
    reason: str  # why it is used or dropped
    criteria: int = 0


@dataclass(frozen=True)
class FittedCriterion:
    id: str
    label: str
    band: str
    points: int
    feature: str
    conditions: Conditions
    support: float  # share of training rows it matches


@dataclass(frozen=True)
class FitReport:
    rows: int  # rows given
    outcomes: int  # rows with a known outcome
    n_train: int
    n_holdout: int
    positives_train: int
    positives_holdout: int
    auc_learned: float  # hold-out AUC of the written rules, scored with ``score``
    auc_base: float  # of the base (current) rules
    auc_logistic: float  # of the logistic regression on the same bins
    c: float
    class_weight: str | None
    resolution: float
    criteria: tuple[FittedCriterion, ...]
    features: tuple[FeatureReport, ...]
    thresholds: Mapping[str, int]
    temperature_shares: Mapping[str, float]  # hold-out rows per temperature
    stage_shares: Mapping[str, float]  # hold-out rows per stage
    stage_rates: Mapping[str, float | None]  # share of positives among them
    engagement_from_counts: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "outcomes": self.outcomes,
            "n_train": self.n_train,
            "n_holdout": self.n_holdout,
            "positives_train": self.positives_train,
            "positives_holdout": self.positives_holdout,
            "auc": {
                "learned": self.auc_learned,
                "base": self.auc_base,
                "logistic": self.auc_logistic,
            },
            "model": {
                "c": self.c,
                "class_weight": self.class_weight,
                "resolution": self.resolution,
            },
            "criteria": [
                {
                    "id": c.id,
                    "label": c.label,
                    "band": c.band,
                    "points": c.points,
                    "field": c.feature,
                    **dict(c.conditions),
                    "support": c.support,
                }
                for c in self.criteria
            ],
            "features": [
                {
                    "name": f.name,
                    "kind": f.kind,
                    "used": f.used,
                    "reason": f.reason,
                    "criteria": f.criteria,
                }
                for f in self.features
            ],
            "thresholds": dict(self.thresholds),
            "holdout_temperature_shares": dict(self.temperature_shares),
            "holdout_stage_shares": dict(self.stage_shares),
            "holdout_stage_rates": dict(self.stage_rates),
            "engagement_from_counts": self.engagement_from_counts,
        }


@dataclass(frozen=True)
class FitResult:
    yaml_text: str
    rules: ScoringRules
    report: FitReport


# --- Features ---------------------------------------------------------------------------


def _text_key(value: str | float) -> str:
    """A text bin's key: the folded text, or the number it reads as (``in`` compares
    numbers as numbers, so "10", "10.0" and 10 are one value)."""
    number = as_number(value)
    if number is not None:
        return str(int(number)) if number.is_integer() else repr(number)
    assert isinstance(value, str)
    return value.casefold()


def _yaml_number(x: float) -> int | float:
    """A bound as a condition's value: whole numbers a float holds exactly as int (5)."""
    return int(x) if float(x).is_integer() and abs(x) < 2**53 else float(x)


_KIND_NAMES = {
    "open": "Email opens",
    "click": "Email clicks",
    "page_visit": "Page visits",
    "reply": "Replies",
    "meeting": "Meetings",
    "touch": "Rep touches",
}
_FIELD_NAMES = {
    "email_domain": "Email domain",
    "company_domain": "Company domain",
    "source_id": "Source",
    "purchased_list": "Purchased list",
    "title": "Job title",
}


def field_label(name: str) -> str:
    """A field's name as people read it: "Page visits", "Lead source", "UTM source"."""
    if name.endswith("_count") and name[: -len("_count")] in ENGAGEMENT_COUNT_KINDS:
        kind = name[: -len("_count")]
        return _KIND_NAMES.get(kind, kind.replace("_", " ").capitalize() + " count")
    if name.startswith("utm."):
        return "UTM " + name[4:]
    if name.startswith("custom."):
        name = name[len("custom.") :]
    text = _FIELD_NAMES.get(name) or re.sub(r"[_.\-]+", " ", name).strip()
    return text[:1].upper() + text[1:]


def candidate_fields(rows: Sequence[ScoringRow]) -> tuple[list[str], list[str]]:
    """(condition fields the features come from, personal fields left out), in a stable order."""
    lead_fields = [
        f.name for f in fields(LeadProfile) if f.name not in ("job_title", "utm", "custom")
    ]
    names = [*lead_fields, "email_domain", "title"]
    utm: set[str] = set()
    custom: set[str] = set()
    for row in rows:
        utm.update(k for k in getattr(row.lead, "utm", {}) if k in _UTM_KEYS)
        custom.update(k for k in getattr(row.lead, "custom", {}) if _CUSTOM_KEY.match(k))
    names += [f"utm.{k}" for k in _UTM_KEYS if k in utm]
    names += [f"custom.{k}" for k in sorted(custom)]
    names += [f"{kind}_count" for kind in ENGAGEMENT_COUNT_KINDS]
    personal: list[str] = []
    kept: list[str] = []
    for name in dict.fromkeys(names):
        if not is_condition_field(name):
            continue
        key = name.split(".", 1)[1].casefold().replace("-", "_") if "." in name else name
        if name in PERSONAL_FIELDS or ("." in name and key in _PERSONAL_KEYS):
            personal.append(name)
        else:
            kept.append(name)
    return kept, personal


def row_values(row: ScoringRow, names: Sequence[str]) -> list[str | float | None]:
    """What each condition field shows a condition for this row."""
    counts = engagement_counts(row.activities, row.at)
    return [field_value(row.lead, counts, name) for name in names]


def _min_support(n: int) -> int:
    return max(MIN_BIN_ROWS, math.ceil(MIN_BIN_SHARE * n))


def _number_cuts(numbers: FloatArray) -> list[float]:
    """Cut points c_1 < ... < c_k from the data: the largest value of each of up to 5
    quantile bins but the last (the smallest value alone when it holds 10% of the rows)."""
    lo = float(numbers.min())
    edges = {
        float(q)
        for q in np.quantile(numbers, [k / MAX_QUANTILE_BINS for k in range(1, MAX_QUANTILE_BINS)])
    }
    if np.mean(numbers == lo) >= SPIKE_SHARE:
        edges.add(lo)
    edges_below_max = sorted(e for e in edges if e < float(numbers.max()))
    index = np.searchsorted(np.array(edges_below_max), numbers, side="left")
    cuts: list[float] = []
    for b in range(len(edges_below_max)):  # the last bin (up to the largest value) has no cut
        members = numbers[index == b]
        if members.size:
            cuts.append(float(members.max()))
    top = float(numbers.max())
    if not cuts and lo < top:  # the quantiles all sit on the largest value: cut below it
        cuts.append(float(numbers[numbers < top].max()))
    return cuts


def _whole(numbers: FloatArray) -> bool:
    """Whether every value is a whole number that a float holds exactly (below 2**53)."""
    return bool(np.all(numbers == np.rint(numbers)) and np.all(np.abs(numbers) < 2**53))


LABEL_DIGITS = 6


def _bound_texts(bounds: Sequence[float], whole: bool) -> list[str]:
    """Bounds as a label shows them: whole numbers in full (5, 1200000), others with 6
    significant digits (1.46, 3e-05, 1.23457e+06), more when two bounds would read alike."""
    if whole:
        return [str(int(b)) for b in bounds]
    distinct = len(set(bounds))
    for digits in range(LABEL_DIGITS, 18):  # 17 significant digits tell any two floats apart
        texts = [f"{b:.{digits}g}" for b in bounds]
        if len(set(texts)) == distinct:
            return texts
    return [repr(b) for b in bounds]


def _number_bins(name: str, numbers: FloatArray) -> list[Bin]:
    """The bins of a number field at its cut points c_1 < ... < c_k: ``at_most c_1``, then
    ``above c_(i-1)`` and ``at_most c_i``, then ``above c_k``, so every number, seen or not,
    is in exactly one bin. A field with a single value has one bin, ``between [v, v]``."""
    label = field_label(name)
    cuts = _number_cuts(numbers)
    whole = _whole(numbers)
    lo = float(numbers.min())
    if not cuts:
        text = _bound_texts([lo], whole)[0]
        value = _yaml_number(lo)
        return [Bin(f"eq_{_slug(text)}", f"{label} {text}", (("between", [value, value]),))]
    texts = _bound_texts(cuts, whole)
    first: Conditions = (("at_most", _yaml_number(cuts[0])),)
    if cuts[0] == lo:  # the smallest value alone (a spike at 0 visits)
        bins = [Bin(f"eq_{_slug(texts[0])}", f"{label} {texts[0]}", first)]
    else:
        bins = [Bin(f"le_{_slug(texts[0])}", f"{label} {texts[0]} or less", first)]
    for i in range(1, len(cuts)):
        conditions: Conditions = (
            ("above", _yaml_number(cuts[i - 1])),
            ("at_most", _yaml_number(cuts[i])),
        )
        low, high = texts[i - 1], texts[i]
        if not whole:
            key, text = f"gt_{_slug(low)}_le_{_slug(high)}", f"over {low} up to {high}"
        elif int(cuts[i - 1]) + 1 == int(cuts[i]):
            key, text = f"eq_{_slug(high)}", high
        else:
            start = str(int(cuts[i - 1]) + 1)
            key, text = f"{_slug(start)}_to_{_slug(high)}", f"{start} to {high}"
        bins.append(Bin(key, f"{label} {text}", conditions))
    last: Conditions = (("above", _yaml_number(cuts[-1])),)
    if whole:
        start = str(int(cuts[-1]) + 1)
        bins.append(Bin(f"ge_{_slug(start)}", f"{label} {start} or more", last))
    else:
        bins.append(Bin(f"gt_{_slug(texts[-1])}", f"{label} over {texts[-1]}", last))
    return bins


def _bin_size(b: Bin, numbers: FloatArray) -> int:
    """How many of ``numbers`` the bin's conditions select (as ``_holds`` does one by one)."""
    mask = np.ones(numbers.shape, dtype=bool)
    for op, bound in b.conditions:
        if op == "between":
            mask &= (numbers >= bound[0]) & (numbers <= bound[1])
        else:
            mask &= _COMPARE[op](numbers, bound)
    return int(mask.sum())


def _one_line(text: str) -> str:
    """Text for a YAML comment: a line break in a value (a multi-line CSV cell) would end the
    comment and break the file."""
    return " ".join(text.split())


def _missing_bin(name: str) -> Bin:
    return Bin("missing", f"{field_label(name)} missing", (("present", False),))


def _with_reference(
    name: str,
    kind: FeatureKind,
    bins: list[Bin],
    sizes: list[int],
    rest: int,
    support: int,
    **extra: Any,
) -> Feature:
    """The feature with its reference: the rest when there is enough of it, else the biggest bin."""
    if rest >= support:
        return Feature(name, kind, tuple(bins), len(bins), "any other value", **extra)
    biggest = max(range(len(bins)), key=lambda i: (sizes[i], -i))
    return Feature(name, kind, tuple(bins), biggest, bins[biggest].label, **extra)


def build_feature(name: str, values: Sequence[str | float | None]) -> Feature | str:
    """The field's feature from its values on the training rows, or why there is none."""
    n = len(values)
    support = _min_support(n)
    present = [v for v in values if v is not None]
    missing = n - len(present)
    if not present:
        return "never filled in"
    numbers = [x for x in map(as_number, present) if x is not None]
    bins: list[Bin] = []
    sizes: list[int] = []
    missing_index: int | None = None
    if len(numbers) >= NUMBER_SHARE * len(present):
        arr = np.array(numbers, dtype=float)
        bins = _number_bins(name, arr)
        sizes = [_bin_size(b, arr) for b in bins]
        if missing >= support:
            missing_index = len(bins)
            bins.append(_missing_bin(name))
            sizes.append(missing)
        rest = n - sum(sizes)
        if len(bins) + (rest >= support) < 2:
            return "a single value"
        return _with_reference(
            name,
            "number",
            bins,
            sizes,
            rest,
            support,
            missing=missing_index,
        )
    raw = Counter(present)
    counts: Counter[str] = Counter()
    spelled: dict[str, Counter[str]] = {}
    for v, c in raw.items():
        key = _text_key(v)
        counts[key] += c
        spelled.setdefault(key, Counter())[v if isinstance(v, str) else key] += c
    room = MAX_TEXT_BINS - (1 if missing >= support else 0)
    frequent = [
        (k, c) for k, c in sorted(counts.items(), key=lambda kc: (-kc[1], kc[0])) if c >= support
    ][:room]
    index: dict[str, int] = {}
    for key, count in frequent:
        shown = spelled[key].most_common(1)[0][0]
        index[key] = len(bins)
        bins.append(Bin(_slug(key), f"{field_label(name)} is {shown}", (("in", [key]),)))
        sizes.append(count)
    if missing >= support:
        missing_index = len(bins)
        bins.append(_missing_bin(name))
        sizes.append(missing)
    if not frequent:
        return f"no value on {support} rows or more ({len(counts)} distinct)"
    rest = n - sum(sizes)
    if len(bins) + (rest >= support) < 2:
        return "a single value"
    return _with_reference(
        name, "text", bins, sizes, rest, support, text_index=index, missing=missing_index
    )


def design_matrix(
    features: Sequence[Feature],
    values: Sequence[Sequence[str | float | None]],
    columns: Sequence[int],
) -> FloatArray:
    """One-hot groups: one column per group of every feature (``columns[j]`` is
    the index into each row's values of ``features[j]``)."""
    widths = [f.groups for f in features]
    offsets = np.cumsum([0, *widths])
    x = np.zeros((len(values), int(offsets[-1])), dtype=float)
    for j, feature in enumerate(features):
        col = columns[j]
        seen: dict[str | float | None, int] = {}
        for i, row in enumerate(values):
            value = row[col]
            group = seen.get(value)
            if group is None:
                group = seen[value] = feature.group_of(value)
            x[i, offsets[j] + group] = 1.0
    return x


def _slug(text: str) -> str:
    """Lowercase letters, digits and _: "3.5" -> "3p5", "-2" -> "m2", "Google Ads" -> "google_ads"."""
    if re.fullmatch(r"-?[0-9.]+", text):
        text = text.replace("-", "m").replace(".", "p")
    return re.sub(r"[^a-z0-9]+", "_", text.casefold()).strip("_") or "x"


def _criterion_id(feature: str, key: str, taken: set[str]) -> str:
    base = f"fit_{_slug(feature)}_{key}"
    cid = base[:64]
    if len(base) > 64 or cid in taken:
        digest = hashlib.sha256(f"{feature}\0{key}".encode()).hexdigest()[:8]
        cid = f"{base[:55]}_{digest}"
    taken.add(cid)
    return cid


def _band(points: int) -> str:
    if points >= 10:
        return "most_important"
    if points >= 5:
        return "very_important"
    if points >= 1:
        return "valid"
    return "negative"


# --- Fitting ----------------------------------------------------------------------------


def _auc(y: IntArray, s: npt.NDArray[Any]) -> float:
    return float(roc_auc_score(y, s))


def _pick_model(x: FloatArray, y: IntArray, seed: int) -> tuple[float, str | None]:
    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed)
    best: tuple[float, float, str | None] | None = None
    for weight in CLASS_WEIGHTS:
        for c in C_GRID:
            aucs = []
            for train, test in folds.split(x, y):
                # picking C needs no more precision than the fold's AUC shows
                model = _model(c, weight, tol=CV_TOL).fit(x[train], y[train])
                aucs.append(_auc(y[test], model.decision_function(x[test])))
            mean = float(np.mean(aucs))
            if best is None or mean > best[0] + 1e-9:
                best = (mean, c, weight)
    assert best is not None
    return best[1], best[2]


def _model(c: float, weight: str | None, *, tol: float = 1e-4) -> LogisticRegression:
    return LogisticRegression(C=c, class_weight=weight, solver="lbfgs", max_iter=2000, tol=tol)


def _threshold(totals: Sequence[int], rate: float) -> int:
    """The total whose share of rows at or above it is closest to ``rate``."""
    ordered = sorted(totals, reverse=True)
    k = min(len(ordered), max(1, math.ceil(rate * len(ordered))))
    candidate = ordered[k - 1]
    arr = np.array(ordered)
    options = [candidate, candidate + 1]
    return min(options, key=lambda t: (abs(float(np.mean(arr >= t)) - rate), -t))


@dataclass(frozen=True)
class Binned:
    """The rows with an outcome split in training and hold-out parts, and their one-hot bins."""

    rows: int  # rows given, with an outcome or not
    known: tuple[ScoringRow, ...]
    train: tuple[ScoringRow, ...]
    holdout: tuple[ScoringRow, ...]
    features: tuple[Feature, ...]
    x_train: FloatArray
    x_holdout: FloatArray
    y_train: IntArray
    y_holdout: IntArray
    fields: tuple[str, ...]  # condition fields looked at, personal ones first
    dropped: Mapping[str, str]  # field -> why it is no feature


def bin_rows(rows: Sequence[ScoringRow], options: FitOptions) -> Binned:
    """Check there is enough data, split it, and cut the fields into bins on the training part."""
    known = [r for r in rows if r.outcome is not None]
    positives = sum(1 for r in known if r.outcome)
    negatives = len(known) - positives
    if (
        len(known) < options.min_outcomes
        or positives < options.min_positives
        or negatives < options.min_positives
    ):
        raise NotEnoughData(
            f"{len(known)} rows with a known outcome ({positives} positive, {negatives} "
            f"negative) of {len(rows)}: fitting needs at least {options.min_outcomes} with "
            f"an outcome and {options.min_positives} of each outcome"
        )
    y_all = np.array([1 if r.outcome else 0 for r in known], dtype=np.int64)
    train_idx, hold_idx = train_test_split(
        np.arange(len(known)),
        test_size=options.holdout,
        stratify=y_all,
        random_state=options.seed,
    )
    train_idx = np.sort(train_idx)
    hold_idx = np.sort(hold_idx)
    names, personal = candidate_fields(known)
    values = [row_values(r, names) for r in known]
    train_values = [values[i] for i in train_idx]
    hold_values = [values[i] for i in hold_idx]
    dropped: dict[str, str] = {name: "personal data" for name in personal}
    features: list[Feature] = []
    columns: list[int] = []
    for col, name in enumerate(names):
        built = build_feature(name, [v[col] for v in train_values])
        if isinstance(built, str):
            dropped[name] = built
        else:
            features.append(built)
            columns.append(col)
    if not features:
        raise NotEnoughData("no field has two or more values with enough rows to fit on")
    return Binned(
        rows=len(rows),
        known=tuple(known),
        train=tuple(known[i] for i in train_idx),
        holdout=tuple(known[i] for i in hold_idx),
        features=tuple(features),
        x_train=design_matrix(features, train_values, columns),
        x_holdout=design_matrix(features, hold_values, columns),
        y_train=y_all[train_idx],
        y_holdout=y_all[hold_idx],
        fields=(*personal, *names),
        dropped=dropped,
    )


def fit_rules(rows: Sequence[ScoringRow], *, base: ScoringRules, options: FitOptions) -> FitResult:
    """Fit rules on ``rows`` (see the module's docstring); ``NotEnoughData`` below the minimums."""
    return fit_binned(bin_rows(rows, options), base=base, options=options)


def fit_binned(binned: Binned, *, base: ScoringRules, options: FitOptions) -> FitResult:
    """``fit_rules`` on rows already split and binned (with the same options)."""
    features = binned.features
    x_train, x_hold = binned.x_train, binned.x_holdout
    y_train, y_hold = binned.y_train, binned.y_holdout
    reports: dict[str, FeatureReport] = {
        name: FeatureReport(name, None, False, why) for name, why in binned.dropped.items()
    }
    # The matrices are small: BLAS threads only contend (several times slower on 2 cores).
    with threadpool_limits(limits=1):
        c, weight = _pick_model(x_train, y_train, options.seed)
        model = _model(c, weight).fit(x_train, y_train)
    auc_logistic = _auc(y_hold, model.decision_function(x_hold))

    coef = model.coef_[0]
    offsets = np.cumsum([0, *[f.groups for f in features]])
    rel: list[FloatArray] = []
    for j, feature in enumerate(features):
        block = coef[offsets[j] : offsets[j + 1]]
        rel.append(block - block[feature.reference])
    flat = np.concatenate(rel)
    top = float(flat.max())
    unit = MAX_POINTS / top if top > 0 else MAX_POINTS / max(float(np.abs(flat).max()), 1e-9)
    support_of = x_train.mean(axis=0)

    def points_at(resolution: float) -> tuple[FloatArray, list[int]]:
        points = np.minimum(np.rint(flat * unit * resolution), MAX_POINTS).astype(int)
        for j, feature in enumerate(features):
            points[offsets[j] + feature.reference] = 0
        ranked = sorted(
            (k for k in range(points.size) if points[k] != 0),
            key=lambda k: (-abs(points[k]) * support_of[k], k),
        )
        kept = sorted(ranked[: options.max_criteria])
        pruned = np.zeros_like(points)
        pruned[kept] = points[kept]
        return pruned, kept

    best_res, best_auc = RESOLUTIONS[0], -1.0
    for resolution in RESOLUTIONS:
        pts, _ = points_at(resolution)
        if not np.any(pts):
            continue
        train_auc = _auc(y_train, x_train @ pts)
        if train_auc > best_auc + 1e-9:
            best_res, best_auc = resolution, train_auc
    points, kept = points_at(best_res)
    unpruned = np.minimum(np.rint(flat * unit * best_res), MAX_POINTS)

    criteria: list[FittedCriterion] = []
    taken: set[str] = set()
    owner = np.concatenate([np.full(f.groups, j) for j, f in enumerate(features)])
    per_feature: Counter[str] = Counter()
    for k in sorted(kept, key=lambda k: (owner[k], -points[k], k)):
        feature = features[owner[k]]
        b = feature.bins[k - offsets[owner[k]]]
        p = int(points[k])
        criteria.append(
            FittedCriterion(
                id=_criterion_id(feature.name, b.key, taken),
                label=b.label,
                band=_band(p),
                points=p,
                feature=feature.name,
                conditions=b.conditions,
                support=round(float(support_of[k]), 4),
            )
        )
        per_feature[feature.name] += 1
    for j, feature in enumerate(features):
        n = per_feature[feature.name]
        block = unpruned[offsets[j] : offsets[j + 1]].copy()
        block[feature.reference] = 0
        if n:
            reason = f"{n} criteria, reference (0 points): {feature.reference_label}"
        elif np.any(block):
            reason = f"pruned: other criteria matter more (at most {options.max_criteria})"
        else:
            reason = "no signal: its points round to 0"
        reports[feature.name] = FeatureReport(feature.name, feature.kind, n > 0, reason, n)
    counts_used = any(
        c.feature.endswith("_count") and c.feature[:-6] in ENGAGEMENT_COUNT_KINDS for c in criteria
    )

    body = _rules_yaml(
        criteria, features, base, counts_used, thresholds=(0, 1, 0, 1), rates=options
    )
    draft = parse_scoring_rules(body.encode(), "<fitted rules>")
    train_rows, hold_rows = binned.train, binned.holdout
    # A row's fit points are its bins' points (each bin is its criterion's condition);
    # engagement and inactivity come from ``score`` with the criteria left out.
    no_criteria = dataclasses.replace(draft, criteria=())
    train_totals = [
        int(fit) + score(r.lead, r.activities, no_criteria, r.at).total
        for fit, r in zip(x_train @ points, train_rows, strict=True)
    ]
    warm = _threshold(train_totals, options.warm_rate)
    hot = max(_threshold(train_totals, options.hot_rate), warm + 1)
    mql = _threshold(train_totals, options.mql_rate)
    sql = max(_threshold(train_totals, options.sql_rate), mql + 1)
    body = _rules_yaml(
        criteria, features, base, counts_used, thresholds=(warm, hot, mql, sql), rates=options
    )
    rules = parse_scoring_rules(body.encode(), "<fitted rules>")
    hold_scores = [score(r.lead, r.activities, rules, r.at) for r in hold_rows]
    expected_fit = x_hold @ points
    for s, fit in zip(hold_scores, expected_fit, strict=True):
        if s.fit != int(fit):
            raise AssertionError(f"fitted criteria score {s.fit}, their bins {int(fit)}")
    outcomes = [bool(o) for o in y_hold]
    learned = evaluate_scores(
        [s.total for s in hold_scores],
        outcomes,
        [s.temperature for s in hold_scores],
        [s.stage for s in hold_scores],
        rules_version=rules.version,
    )
    base_scores = [score(r.lead, r.activities, base, r.at) for r in hold_rows]
    base_eval = evaluate_scores(
        [s.total for s in base_scores],
        outcomes,
        [s.temperature for s in base_scores],
        [s.stage for s in base_scores],
        rules_version=base.version,
    )
    auc_learned, auc_base = learned.auc or 0.5, base_eval.auc or 0.5
    temps = Counter(s.temperature for s in hold_scores)
    stages = Counter(s.stage for s in hold_scores)
    n_hold = len(hold_rows)
    report = FitReport(
        rows=binned.rows,
        outcomes=len(binned.known),
        n_train=len(train_rows),
        n_holdout=n_hold,
        positives_train=int(y_train.sum()),
        positives_holdout=int(y_hold.sum()),
        auc_learned=round(auc_learned, 4),
        auc_base=round(auc_base, 4),
        auc_logistic=round(auc_logistic, 4),
        c=c,
        class_weight=weight,
        resolution=best_res,
        criteria=tuple(criteria),
        features=tuple(reports[n] for n in binned.fields if n in reports),
        thresholds={"warm": warm, "hot": hot, "mql": mql, "sql": sql},
        temperature_shares={t: round(temps[t] / n_hold, 4) for t in ("hot", "warm", "cold")},
        stage_shares={s: round(stages[s] / n_hold, 4) for s in ("sql", "mql", "none")},
        stage_rates={
            g.group: None if g.rate is None else round(g.rate, 4) for g in learned.by_stage
        },
        engagement_from_counts=counts_used,
    )
    text = _header(report, options) + body
    return FitResult(
        yaml_text=text, rules=parse_scoring_rules(text.encode(), "<fitted rules>"), report=report
    )


# --- The file ---------------------------------------------------------------------------


def _q(value: Any) -> str:
    """A YAML flow value that reads back as ``value``: JSON strings (valid YAML, quoting
    everything), numbers as YAML reads them (``_yaml_number_text``), lists of those."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _yaml_number_text(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_q(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=True)


def _yaml_number_text(x: float) -> str:
    """A number as YAML (1.1, PyYAML) reads back the same float: whole numbers below 2**53
    as integers (5, -3), others as repr with a '.' in the mantissa ("3.0e-05", "1.0e+17",
    "1.46"): YAML 1.1 reads "3e-05" as a string."""
    number = float(x)
    if not math.isfinite(number):
        raise ValueError(f"no YAML number for {x!r}")
    if number.is_integer() and abs(number) < 2**53:
        return str(int(number))
    text = repr(number)
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:
        text = f"{mantissa}.0e{exponent}"
    return text


def _header(report: FitReport, options: FitOptions) -> str:
    when = f" on {options.fitted_at.isoformat()}" if options.fitted_at else ""
    return (
        f"# Lead scoring rules fitted by `leadflow scoring fit`{when} from {options.source}.\n"
        f"# {report.outcomes} rows with a known outcome (of {report.rows}): {report.n_train} to fit on "
        f"({report.positives_train} positive), {report.n_holdout} held out "
        f"({report.positives_holdout} positive), seed {options.seed}.\n"
        f"# Hold-out AUC: these rules {report.auc_learned:.3f}, the rules they were fitted "
        f"against {report.auc_base:.3f}, the logistic regression they come from "
        f"{report.auc_logistic:.3f}.\n"
        "# Review the criteria before putting the file in force: they say what went with\n"
        "# conversions in this data, not why. Edit them as any scoring file.\n"
        "\n"
    )


def _rules_yaml(
    criteria: Sequence[FittedCriterion],
    features: Sequence[Feature],
    base: ScoringRules,
    counts_used: bool,
    thresholds: tuple[int, int, int, int],
    rates: FitOptions,
) -> str:
    warm, hot, mql, sql = thresholds
    out = [
        "# --- Thresholds -----------------------------------------------------------------------",
        "# The totals the top shares of the rows fitted on reach: "
        f"{rates.warm_rate:.0%} warm, {rates.hot_rate:.0%} hot,",
        f"# {rates.mql_rate:.0%} MQL, {rates.sql_rate:.0%} SQL.",
        "thresholds:",
        f"  warm: {warm}",
        f"  hot: {hot}",
        f"  mql: {mql}",
        f"  sql: {sql}",
        "",
        "# --- Engagement -------------------------------------------------------------------------",
    ]
    if counts_used:
        out += [
            "# Off: the criteria below count activities themselves (the *_count fields), so",
            "# engagement points would count the same activities a second time.",
            "engagement:",
            "  points: {}",
            "  cap: 0",
            f"  half_life_days: {_yaml_number_text(base.half_life_days)}",
        ]
    else:
        out += [
            "# Kept from the rules fitted against (no activity count made a criterion).",
            "engagement:",
        ]
        if base.engagement_points:
            out.append("  points:")
            out += [f"    {_q(kind)}: {pts}" for kind, pts in base.engagement_points.items()]
        else:
            out.append("  points: {}")
        out += [
            f"  cap: {base.engagement_cap}",
            f"  half_life_days: {_yaml_number_text(base.half_life_days)}",
        ]
    out += [
        "",
        "# --- Inactivity -------------------------------------------------------------------------",
        "# Kept from the rules fitted against.",
        "inactivity:",
        f"  after_days: {base.inactivity_days}",
        f"  penalty: {base.inactivity_penalty}",
        "",
        "# --- Fit criteria -----------------------------------------------------------------------",
        "# One group per field; a lead matches at most one criterion of a group. The value",
        "# named as reference earns 0 points and has no criterion.",
        "criteria:" + ("" if criteria else " []"),
    ]
    by_name = {f.name: f for f in features}
    current: str | None = None
    for c in criteria:
        if c.feature != current:
            current = c.feature
            out.append(
                f"  # {_one_line(field_label(c.feature))} ({c.feature}): reference "
                f"{_one_line(by_name[c.feature].reference_label)}"
            )
        out += [
            f"  - id: {c.id}",
            f"    label: {_q(c.label)}",
            f"    band: {c.band}",
            f"    points: {c.points}",
            "    conditions:",
        ]
        for op, value in c.conditions:
            out += [f"      - field: {_q(c.feature)}", f"        {op}: {_q(value)}"]
    return "\n".join(out) + "\n"

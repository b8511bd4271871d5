"""Datasets for offline scoring: CSV rows (as strings) and the router's history -> ``ScoringRow``.

Pure: no file or database I/O. ``map_columns`` says what each CSV header means,
``read_rows`` turns rows of strings into ``ScoringRow`` values, and
``outcome_from_history`` is the outcome rule for the router's own leads.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Literal

import phonenumbers
from phonenumbers import geocoder

from services.ingest.domain.badge_scans import HEADER_ALIASES, normalize_header
from services.router.domain.intake import profile_of
from services.router.domain.matching import merge_fields
from services.router.domain.model import TEXT_FIELDS, ActivityPoint, LeadProfile
from services.router.domain.scoring import ENGAGEMENT_COUNT_KINDS, MISSING_TEXT, as_number
from services.router.domain.scoring_rows import ScoringRow
from shared.domain.contact import InvalidContact, domain_from_website, normalize_company_size

TargetKind = Literal["lead", "utm", "custom", "count", "id", "outcome"]

# the lead fields a CSV column can fill: the profile's text fields and where the lead came from
LEAD_FIELDS: tuple[str, ...] = (*TEXT_FIELDS, "source_id", "channel")
UTM_KEYS: tuple[str, ...] = ("source", "medium", "campaign", "term", "content")
# the cell values read as missing: blank and the placeholders scoring reads as missing too
MISSING_VALUES = frozenset({""}) | MISSING_TEXT
_CUSTOM_KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_DECIMAL_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_INTEGER_RE = re.compile(r"^[+-]?\d+$")
_WORD_SPLIT_RE = re.compile(r"[\s\-._]+")
_CODE_RE = re.compile(r"^[A-Za-z0-9_\-.:#/]+$")
_LETTER_RE = re.compile(r"[A-Za-z]")
_DIGIT_RE = re.compile(r"\d")
# The ingest's aliases name a few fields LeadProfile does not have under that name.
_ALIAS_TARGETS = {"website": "company_domain"}
# Header words that name an identifier column ("Prospect ID", "Lead Number", "Record No").
_ID_WORDS = frozenset({"id", "uuid", "guid", "number", "no", "num", "key", "ref", "code"})
# A column whose sampled values are at least this share distinct looks like an identifier.
_DISTINCT_SHARE = 0.95
_MIN_SAMPLE = 20
# An activity count above this is a data error (and would cost that many activities).
MAX_COUNT = 10_000

_POSITIVE_OUTCOMES = frozenset(
    {"1", "true", "t", "yes", "y", "converted", "won", "closed won", "qualified"}
)
_NEGATIVE_OUTCOMES = frozenset(
    {
        "0",
        "false",
        "f",
        "no",
        "n",
        "not converted",
        "lost",
        "closed lost",
        "disqualified",
        "unqualified",
    }
)
# The first word of a CRM lead status that is still open: its outcome is not known yet.
_OPEN_STATUS_WORDS = frozenset({"open", "working", "new", "contacted", "nurturing", "pending"})


class DatasetError(ValueError):
    """The dataset cannot be read as asked; the message says why in one sentence."""


@dataclass(frozen=True)
class Target:
    """What one column feeds: a lead field, a utm or custom key, an activity count, the id, the outcome."""

    kind: TargetKind
    key: str = ""  # lead field name, utm key, custom key or activity kind

    @property
    def name(self) -> str:
        """The condition-field spelling: ``job_title``, ``utm.source``, ``custom.x``, ``open_count``."""
        if self.kind == "lead":
            return self.key
        if self.kind in ("utm", "custom"):
            return f"{self.kind}.{self.key}"
        if self.kind == "count":
            return f"{self.key}_count"
        return self.kind


@dataclass(frozen=True)
class MappedColumn:
    index: int
    header: str
    target: Target


@dataclass(frozen=True)
class ColumnMap:
    """What each CSV header means; ``notes`` are what an operator should be told."""

    headers: tuple[str, ...]
    columns: tuple[MappedColumn, ...]  # every column read (id and outcome included)
    read_as_custom: tuple[tuple[str, str], ...]  # (header, custom.<slug>) guessed from the name
    identifiers: tuple[str, ...]  # headers left out because they look like identifiers
    ignored: tuple[str, ...]  # headers left out as asked
    unnamed: tuple[int, ...] = ()  # 1-based positions of columns without a header, left out
    missing: frozenset[str] = MISSING_VALUES  # folded cell values read as missing
    # outcome values named by the caller (folded): with both, other values are unknown; with
    # one side only, every other value that is filled in is the other side
    positive: frozenset[str] = frozenset()
    negative: frozenset[str] = frozenset()

    def outcome_of(self, value: str) -> bool | None:
        """The outcome a cell says: the named values when there are, else the known words
        (``parse_outcome``); None when missing or still open. ValueError otherwise."""
        if not (self.positive or self.negative):
            return parse_outcome(value)
        if _is_missing(value, self.missing):
            return None
        folded = " ".join(value.split()).casefold()
        if folded in self.positive:
            return True
        if folded in self.negative:
            return False
        if self.positive and self.negative:
            return None
        return not self.positive  # only positives named: the rest is negative (and back)

    @property
    def id_index(self) -> int | None:
        return next((c.index for c in self.columns if c.target.kind == "id"), None)

    @property
    def outcome_index(self) -> int | None:
        return next((c.index for c in self.columns if c.target.kind == "outcome"), None)

    def notes(self) -> list[str]:
        notes = [f"column {h!r} read as {name}" for h, name in self.read_as_custom]
        notes += [f"column {h!r} left out: it looks like an identifier" for h in self.identifiers]
        notes += [f"column {h!r} left out as asked" for h in self.ignored]
        notes += [f"column {n} has no header: left out" for n in self.unnamed]
        return notes


def header_words(header: str) -> list[str]:
    """Lower-case words of a header; spaces, dashes, dots and underscores separate them alike."""
    return [w for w in _WORD_SPLIT_RE.split(header.strip().lower()) if w]


def slug(header: str) -> str:
    """``"Total Time Spent on Website"`` -> ``total_time_spent_on_website``."""
    text = re.sub(r"[^a-z0-9]+", "_", header.strip().lower()).strip("_")
    return (text or "column")[:64]


def _same_header(a: str, b: str) -> bool:
    return header_words(a) == header_words(b)


def _named_target(header: str) -> Target | None:
    """The target a header names by itself, or None when it names nothing known."""
    words = header_words(header)
    if not words:
        return None
    joined = "_".join(words)
    stripped = header.strip()
    if stripped.lower().startswith("custom."):
        key = stripped[len("custom.") :].strip()
        return Target("custom", key if _CUSTOM_KEY_RE.match(key) else slug(key))
    if words[0] == "utm" and len(words) > 1 and "_".join(words[1:]) in UTM_KEYS:
        return Target("utm", "_".join(words[1:]))
    for kind in ENGAGEMENT_COUNT_KINDS:
        if joined == f"{kind}_count":
            return Target("count", kind)
    if joined in LEAD_FIELDS:
        return Target("lead", joined)
    alias = HEADER_ALIASES.get(normalize_header(header))
    alias = _ALIAS_TARGETS.get(alias or "", alias)
    if alias in LEAD_FIELDS:
        return Target("lead", alias)
    return None


def _is_missing(value: str, missing: frozenset[str] = MISSING_VALUES) -> bool:
    return value.strip().casefold() in missing


def missing_markers(extra: Iterable[str] = ()) -> frozenset[str]:
    """The cell values read as missing: the usual ones and an export's own placeholders
    (a form's "Select", "unknown"), compared folded and stripped."""
    return MISSING_VALUES | {v.strip().casefold() for v in extra}


def _looks_like_identifier(
    header: str, values: Sequence[str], missing: frozenset[str] = MISSING_VALUES
) -> bool:
    present = [v.strip() for v in values if not _is_missing(v, missing)]
    distinct_share = len(set(present)) / len(present) if present else 0.0
    words = header_words(header)
    if words and words[-1] in _ID_WORDS:
        return not present or distinct_share >= _DISTINCT_SHARE
    if len(present) < _MIN_SAMPLE or distinct_share < _DISTINCT_SHARE:
        return False
    # Codes mix letters and digits in one word ("00Q006CBFF8AB80", UUIDs); distinct numbers
    # are a measure (seconds on site, "$7,188,653") and distinct free text has spaces.
    return all(_CODE_RE.match(v) and _LETTER_RE.search(v) and _DIGIT_RE.search(v) for v in present)


def map_columns(
    headers: Sequence[str],
    *,
    id_column: str | None,
    outcome_column: str | None,
    ignore: Sequence[str] = (),
    sample: Sequence[Sequence[str]] = (),
    missing: Iterable[str] = (),
    positive: Iterable[str] = (),
    negative: Iterable[str] = (),
) -> ColumnMap:
    """Map CSV headers to targets; ``sample`` (the first rows) lets identifiers be recognised.
    ``missing`` are the export's own placeholders for an empty cell, besides the usual ones.

    Raises ``DatasetError`` when the id or outcome column is missing or two headers feed
    the same target.
    """

    def find(name: str, what: str) -> int:
        if name in headers:
            return list(headers).index(name)
        for i, h in enumerate(headers):
            if _same_header(h, name):
                return i
        raise DatasetError(f"no {what} column {name!r} (columns: {', '.join(headers)})")

    special: dict[int, Target] = {}
    if id_column is not None:
        special[find(id_column, "id")] = Target("id")
    if outcome_column is not None:
        index = find(outcome_column, "outcome")
        if index in special:
            raise DatasetError(f"column {outcome_column!r} cannot be both the id and the outcome")
        special[index] = Target("outcome")
    ignored_idx = {find(name, "ignored") for name in ignore} - set(special)

    markers = missing_markers(missing)
    positive_values = frozenset(" ".join(v.split()).casefold() for v in positive)
    negative_values = frozenset(" ".join(v.split()).casefold() for v in negative)
    if both := positive_values & negative_values:
        raise DatasetError(f"{sorted(both)[0]!r} is named both a positive and a negative outcome")
    columns: list[MappedColumn] = []
    read_as_custom: list[tuple[str, str]] = []
    identifiers: list[str] = []
    owner: dict[Target, str] = {}
    unnamed: list[int] = []
    for i, header in enumerate(headers):
        if i in ignored_idx:
            continue
        if not header.strip() and i not in special:  # a spreadsheet's trailing empty columns
            unnamed.append(i + 1)
            continue
        target = special.get(i) or _named_target(header)
        if target is None:
            values = [row[i] if i < len(row) else "" for row in sample]
            if _looks_like_identifier(header, values, markers):
                identifiers.append(header)
                continue
            target = Target("custom", slug(header))
            read_as_custom.append((header, target.name))
        if target in owner:
            raise DatasetError(
                f"columns {owner[target]!r} and {header!r} both read as {target.name}: "
                "leave one out with --ignore"
            )
        owner[target] = header
        columns.append(MappedColumn(i, header, target))
    return ColumnMap(
        headers=tuple(headers),
        columns=tuple(columns),
        read_as_custom=tuple(read_as_custom),
        identifiers=tuple(identifiers),
        ignored=tuple(headers[i] for i in sorted(ignored_idx)),
        unnamed=tuple(unnamed),
        missing=markers,
        positive=positive_values,
        negative=negative_values,
    )


# --- Values -------------------------------------------------------------------------------


def parse_outcome(value: str) -> bool | None:
    """True / False for a known outcome word, None when missing or still open; ValueError
    otherwise. A CRM's "Closed - Converted" reads as "converted", and its open statuses
    ("Open - Not Contacted", "Working - Contacted") as not known yet."""
    if _is_missing(value):
        return None
    words = header_words(value.replace("_", " "))
    if words and words[0] in _OPEN_STATUS_WORDS:
        return None
    if len(words) > 1 and words[0] == "closed" and words[1] not in ("won", "lost"):
        words = words[1:]
    text = " ".join(words)
    if text in _POSITIVE_OUTCOMES:
        return True
    if text in _NEGATIVE_OUTCOMES:
        return False
    raise ValueError(value)


def export_number(value: str) -> int | float | None:
    """A number in an export's cell, as scoring reads numbers written as text: a plain
    decimal, or one formatted for reading ("$1,200,000" -> 1200000, "12%" -> 12). None for
    anything else ("1.200,50" and "12 units" stay text)."""
    plain = plain_number(value)
    if plain is not None:
        return plain
    number = as_number(value.strip())
    if number is None:
        return None
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def plain_number(value: str) -> int | float | None:
    """A plain decimal ("12", "-3.5") as int or float; None for anything else ("1,200")."""
    text = value.strip()
    if not _DECIMAL_RE.match(text):
        return None
    try:
        number = int(text) if _INTEGER_RE.match(text) else float(text)
    except ValueError:  # more digits than Python converts: not a usable number
        return None
    if isinstance(number, int) and abs(number) >= 2**63:
        return None  # too large to be a count or a measure scoring can compare
    return number if isinstance(number, int) or math.isfinite(number) else None


@cache
def _country_names() -> Mapping[str, str]:
    """Folded English country name -> ISO alpha-2, from the phone-number metadata the ingest uses."""
    names: dict[str, str] = {}
    for region in phonenumbers.SUPPORTED_REGIONS:
        example = phonenumbers.example_number(region)
        name = geocoder.country_name_for_number(example, "en") if example else ""
        if name:
            names[name.casefold()] = region
    names.update(
        {
            "usa": "US",
            "united states of america": "US",
            "america": "US",
            "uk": "GB",
            "great britain": "GB",
            "england": "GB",
            "scotland": "GB",
            "wales": "GB",
            "holland": "NL",
            "the netherlands": "NL",
            "south korea": "KR",
            "korea": "KR",
            "russia": "RU",
            "czech republic": "CZ",
            "uae": "AE",
        }
    )
    return names


def normalize_country(value: str) -> str:
    """An ISO alpha-2 code for a code or an English country name; the text as given otherwise."""
    text = value.strip()
    if text.upper() in phonenumbers.SUPPORTED_REGIONS:
        return text.upper()
    return _country_names().get(" ".join(text.casefold().split()), text)


def _lead_value(name: str, value: str) -> str:
    text = value.strip()
    if name == "country":
        return normalize_country(text)
    if name == "company_size":
        try:
            return normalize_company_size(text)
        except InvalidContact:
            return text
    if name == "company_domain":
        return domain_from_website(text) or text.lower()
    if name == "email":
        return text.lower()
    return text


@dataclass(frozen=True)
class RowProblem:
    line: int  # the CSV line number (the header is line 1)
    column: str
    value: str
    problem: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column!r}: {self.problem} ({self.value!r})"


@dataclass
class ReadCounts:
    """What ``read_rows`` did: rows read, rows skipped for problems (listed, the first 100)."""

    read: int = 0
    skipped: int = 0
    problems: list[RowProblem] = field(default_factory=list)

    def add(self, problem: RowProblem) -> None:
        if len(self.problems) < 100:
            self.problems.append(problem)


def read_rows(
    cmap: ColumnMap,
    rows: Iterable[Sequence[str]],
    *,
    at: datetime,
    counts: ReadCounts | None = None,
) -> Iterator[ScoringRow]:
    """Rows of strings (header left out) -> ``ScoringRow``s scored at ``at``.

    A row with a problem (a bad count or outcome) is skipped and recorded in ``counts``.
    Without an id column a row's id is ``row-<line>`` (the header is line 1).
    """
    counts = counts if counts is not None else ReadCounts()
    for offset, row in enumerate(rows):
        line = offset + 2
        if not any(cell.strip() for cell in row):
            continue  # a blank line
        lead: dict[str, str] = {}
        utm: dict[str, str] = {}
        custom: dict[str, str | int | float | bool] = {}
        activities: list[ActivityPoint] = []
        row_id = f"row-{line}"
        outcome: bool | None = None
        problems: list[RowProblem] = []
        for column in cmap.columns:
            raw = row[column.index] if column.index < len(row) else ""
            target = column.target
            if target.kind == "id":
                row_id = raw.strip() or row_id
                continue
            if target.kind == "outcome":
                try:
                    outcome = cmap.outcome_of(raw)
                except ValueError:
                    problems.append(RowProblem(line, column.header, raw, "not an outcome"))
                continue
            if _is_missing(raw, cmap.missing):
                continue
            if target.kind == "lead":
                lead[target.key] = _lead_value(target.key, raw)
            elif target.kind == "utm":
                utm[target.key] = raw.strip()
            elif target.kind == "custom":
                number = export_number(raw)
                custom[target.key] = raw.strip() if number is None else number
            else:  # count
                number = plain_number(raw)
                if isinstance(number, float) and number.is_integer():
                    number = int(number)
                if not isinstance(number, int) or not 0 <= number <= MAX_COUNT:
                    problems.append(
                        RowProblem(
                            line, column.header, raw, f"not a whole number from 0 to {MAX_COUNT:,}"
                        )
                    )
                    continue
                activities.extend(ActivityPoint(target.key, at) for _ in range(number))
        if problems:
            counts.skipped += 1
            for problem in problems:
                counts.add(problem)
            continue
        counts.read += 1
        yield ScoringRow(
            id=row_id,
            lead=LeadProfile(**lead, utm=utm, custom=custom),  # type: ignore[arg-type]
            activities=tuple(activities),
            at=at,
            outcome=outcome,
        )


# --- The router's history ----------------------------------------------------------------

POSITIVE_SALES_STATUSES = frozenset({"converted", "qualified"})
NEGATIVE_SALES_STATUSES = frozenset({"disqualified", "recycled"})
POSITIVE_STAGES = frozenset({"opportunity", "customer"})
LEFT_OUT_STATUSES = frozenset({"merged", "erased"})


@dataclass(frozen=True)
class HistoryOutcome:
    """A history lead's outcome and the moment it was decided: no activity from ``cutoff``
    on counts."""

    outcome: bool
    cutoff: datetime
    reason: str


def outcome_from_history(
    *,
    status: str,
    received_at: datetime,
    sales_statuses: Sequence[tuple[str, datetime]],
    stages: Sequence[tuple[str, datetime]],
    now: datetime,
    negative_after_days: int = 90,
) -> HistoryOutcome | None:
    """The outcome of one lead of the router's history, or None when unknown or left out.

    Positive from the first time its sales status became converted or qualified (else, from
    when its lifecycle reached opportunity or customer); else negative from the first time it was
    disqualified or recycled; else negative when still not converted ``negative_after_days``
    after it was received (cut off then). Merged and erased leads are left out (None).
    """
    if status in LEFT_OUT_STATUSES:
        return None
    # A sales status carries when it happened in the sales tool; a stage, when the router
    # recorded it (which can be later, or earlier for a report dated after it arrived): the
    # status decides the moment, the stage only when no status says so.
    positives = [t for s, t in sales_statuses if s in POSITIVE_SALES_STATUSES]
    positives = positives or [t for s, t in stages if s in POSITIVE_STAGES]
    if positives:
        return HistoryOutcome(True, min(positives), "converted")
    negatives = [t for s, t in sales_statuses if s in NEGATIVE_SALES_STATUSES]
    if negatives:
        return HistoryOutcome(False, min(negatives), "disqualified")
    deadline = received_at + timedelta(days=negative_after_days)
    if now >= deadline:
        return HistoryOutcome(False, deadline, "not converted")
    return None


def activities_before(
    activities: Iterable[ActivityPoint], cutoff: datetime
) -> tuple[ActivityPoint, ...]:
    """The activities that happened before ``cutoff``, so engagement after it does not leak."""
    return tuple(a for a in activities if a.at < cutoff)


def as_of_moment(received_at: datetime, as_of_days: int, now: datetime) -> datetime | None:
    """The moment a history lead is scored at: ``as_of_days`` after it arrived, whatever its
    outcome; None while that moment has not come (the lead is left out)."""
    at = received_at + timedelta(days=as_of_days)
    return None if at > now else min(at, now)


@dataclass(frozen=True)
class StoredSubmission:
    """One submission of a history lead: when it arrived and its fields as submitted (None
    for data stored before fields were kept)."""

    received_at: datetime
    fields: Mapping[str, Any] | None
    order: str = ""  # breaks ties of received_at, as the router does (the submission id)


@dataclass(frozen=True)
class HistoryLead:
    """What the router's history holds of one lead, as scoring needs it."""

    id: str
    status: str
    received_at: datetime
    profile: Mapping[str, Any]  # the merged profile now (a fallback: it may know later fields)
    source_id: str | None
    channel: str | None
    is_name: bool
    submissions: Sequence[StoredSubmission] = ()
    sales_statuses: Sequence[tuple[str, datetime]] = ()
    stages: Sequence[tuple[str, datetime]] = ()
    activities: Sequence[ActivityPoint] = ()


def profile_as_of(
    submissions: Sequence[StoredSubmission], fallback: Mapping[str, Any], as_of: datetime
) -> Mapping[str, Any]:
    """The lead's fields as the router had merged them at ``as_of``: its submissions received
    by then, folded in received order with ``merge_fields`` (the first value of a field wins,
    later ones fill blanks). ``fallback`` (the merged profile now) when a submission received
    by then has no stored fields, or none was (the first one then: what the lead arrived with)."""
    ordered = sorted(submissions, key=lambda s: (s.received_at, s.order))
    taken = [s for s in ordered if s.received_at <= as_of] or ordered[:1]
    if not taken or any(s.fields is None for s in taken):
        return fallback
    profile: Mapping[str, Any] = {}
    for s in taken:
        assert s.fields is not None
        profile = merge_fields(profile, s.fields).merged
    return profile


def history_row(
    lead: HistoryLead, *, now: datetime, negative_after_days: int, as_of_days: int
) -> ScoringRow | None:
    """A history lead as a scoring row, or None when its outcome is not known or its as-of
    moment has not come.

    Every lead is scored at ``received_at + as_of_days`` (see ``as_of_moment``), whatever
    its outcome and whenever it came, so the score cannot tell the outcome by its time;
    it counts the activities before that moment and before the outcome (nothing after a
    sale or a disqualification), with the profile as it was then (``profile_as_of``).
    """
    as_of = as_of_moment(lead.received_at, as_of_days, now)
    if as_of is None:
        return None
    outcome = outcome_from_history(
        status=lead.status,
        received_at=lead.received_at,
        sales_statuses=lead.sales_statuses,
        stages=lead.stages,
        now=now,
        negative_after_days=negative_after_days,
    )
    if outcome is None:
        return None
    fields = profile_as_of(lead.submissions, lead.profile, as_of)
    return ScoringRow(
        id=lead.id,
        lead=profile_of(
            fields, source_id=lead.source_id, channel=lead.channel, purchased_list=lead.is_name
        ),
        activities=activities_before(
            sorted(lead.activities, key=lambda a: a.at), min(as_of, outcome.cutoff)
        ),
        at=as_of,
        outcome=outcome.outcome,
    )

"""Fuzzy person matching and field merging for dedupe.

Exact keys (canonical email, E.164 phone) are cheap and certain; they live in
``shared.domain.contact``. This module covers the rest of "the same person arriving
twice": a typo'd name at the same company. It also decides how a matched submission is
folded into the existing lead: blanks are filled, differing values are reported as
conflicts and the existing value is kept, never silently overwritten.

Everything here is pure and deterministic: no I/O, no clock, no randomness. Given the
same inputs, every function returns the same value, in the same order.
"""

from __future__ import annotations

import copy
import functools
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz

from services.router.domain.model import LeadProfile
from shared.domain.contact import FREE_MAIL_DOMAINS, domain_from_website

# Legal-form words dropped from the end of a company name ("Acme, Inc." -> "acme").
LEGAL_SUFFIXES = frozenset(
    {
        "inc",
        "incorporated",
        "llc",
        "ltd",
        "limited",
        "gmbh",
        "ag",
        "sa",
        "sas",
        "bv",
        "plc",
        "co",
        "corp",
        "corporation",
        "company",
        "pty",
        "srl",
        "oy",
        "ab",
        "as",
        "kk",
    }
)
# Characters removed without leaving a gap, so "A.C.M.E." is "acme", "O'Brien" is
# "obrien" and "Inc." is "inc". Every other non-alphanumeric character splits words.
_JOINING_PUNCTUATION = frozenset({".", "'", "\u2019", "\u02bc", "`"})


# --- normalization --------------------------------------------------------------------


def _fold_text(text: str) -> str:
    """Case-fold, decompose (NFKD) and drop accents, repeated until nothing changes.

    One pass is not always enough: case-folding can produce characters that decompose,
    and compatibility decomposition can produce upper-case letters (``U+212B`` ANGSTROM
    SIGN -> ``A`` + ring). Iterating to a fixed point is what makes the normalizers
    idempotent; in practice it takes one or two passes.
    """
    for _ in range(8):
        folded = unicodedata.normalize("NFKD", text.casefold())
        folded = "".join(ch for ch in folded if unicodedata.category(ch) != "Mn")
        if folded == text:
            break
        text = folded
    return text


def _words(text: str) -> list[str]:
    return list(_words_cached(text))


@functools.lru_cache(maxsize=65536)
def _words_cached(text: str) -> tuple[str, ...]:
    """Folded text split into words of letters and digits; punctuation separates words."""
    chars: list[str] = []
    for ch in _fold_text(text):
        if ch in _JOINING_PUNCTUATION:
            continue
        category = unicodedata.category(ch)
        # Letters, digits and spacing marks (vowel signs in Indic scripts) are word parts.
        chars.append(ch if category[0] in "LN" or category == "Mc" else " ")
    return tuple("".join(chars).split())


# The normalizers are pure functions of short strings, and the same names (a company's
# fuzzy-match candidates) are compared again for every arrival at that company: cached.
@functools.lru_cache(maxsize=65536)
def normalize_company_name(name: str) -> str:
    """The comparable form of a company name: ``"The Acme Co., Inc."`` -> ``"acme"``.

    Case-folded, accents stripped, ``&`` read as ``and``, punctuation removed (dots and
    apostrophes join, everything else separates), trailing legal-form words
    (:data:`LEGAL_SUFFIXES`, repeatedly: "Acme Co Ltd") and a leading "the" dropped,
    whitespace collapsed. A word is never dropped when it is the only one left, so
    "The Company" stays "company" rather than becoming empty. Idempotent.
    """
    words = _words(name.replace("&", " and "))
    # "the" first, then suffixes: popping from the end never changes the first word, so
    # one pass reaches a fixed point and the function is idempotent.
    while len(words) > 1 and words[0] == "the":
        words.pop(0)
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


@functools.lru_cache(maxsize=65536)
def normalize_person_name(first: str | None, last: str | None) -> str:
    """``("José", "O'Brien-Smith")`` -> ``"jose obrien smith"``; blank parts are skipped.

    Case-folded, accents stripped, punctuation removed like company names (hyphens
    separate, apostrophes and dots join), whitespace collapsed. Idempotent when the
    result is passed back as either part.
    """
    return " ".join(_words(first or "") + _words(last or ""))


@functools.lru_cache(maxsize=65536)
def _company_domain(domain: str | None) -> str | None:
    """A domain usable as a company identity: normalized, and never a free-mail domain."""
    if not domain:
        return None
    host = domain_from_website(domain)
    if host is None or host in FREE_MAIL_DOMAINS:
        return None
    return host


# --- fuzzy matching -------------------------------------------------------------------


@dataclass(frozen=True)
class MatchThresholds:
    """Minimum rapidfuzz scores (0..100) for a fuzzy match."""

    name: float = 88.0
    company: float = 90.0

    def __post_init__(self) -> None:
        for label, value in (("name", self.name), ("company", self.company)):
            if not 0.0 <= value <= 100.0:
                raise ValueError(f"{label} threshold must be between 0 and 100, got {value}")


@dataclass(frozen=True)
class Candidate:
    """An existing lead the service found under the new lead's :func:`company_key`."""

    lead_id: str
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    company_domain: str | None = None


@dataclass(frozen=True)
class FuzzyMatch:
    """Which lead matched and why; ``detail`` is meant for the merge history."""

    lead_id: str
    name_score: float
    company_score: float
    detail: str


def _same_company(
    lead: LeadProfile, candidate: Candidate, threshold: float
) -> tuple[float, str] | None:
    """``(score, reason)`` when both are at one company, else None.

    A shared company domain is certain (score 100); free-mail domains are never a
    company. Otherwise the normalized company names must reach ``threshold`` with
    ``fuzz.ratio``: plain edit similarity over the whole name, so a one-letter typo in
    a long name passes while "acme" vs "acne" (75) does not, and a name is not
    "similar" to a longer one merely because it is contained in it.
    """
    domain = _company_domain(lead.company_domain)
    if domain is not None and domain == _company_domain(candidate.company_domain):
        return 100.0, f"same company domain {domain}"
    ours = normalize_company_name(lead.company or "")
    theirs = normalize_company_name(candidate.company or "")
    if not ours or not theirs:
        return None
    score = float(fuzz.ratio(ours, theirs))
    if score < threshold:
        return None
    return score, f"company {ours!r} ~ {theirs!r} ({score:.1f})"


def fuzzy_match(
    lead: LeadProfile,
    candidates: Sequence[Candidate],
    thresholds: MatchThresholds = MatchThresholds(),
) -> FuzzyMatch | None:
    """The candidate that is the same person as ``lead``, or None.

    A candidate matches when both of these hold:

    1. **Same company.** Either both carry the same company domain (normalized with
       ``domain_from_website``, so ``www.Acme.com`` is ``acme.com``), and it is not a
       free-mail domain -- two gmail.com users are not colleagues -- or their
       normalized company names (:func:`normalize_company_name`) score at least
       ``thresholds.company`` with ``fuzz.ratio``.
    2. **Similar person name.** Both sides have a last name (a first name alone is too
       weak to identify anyone); the normalized full names
       (:func:`normalize_person_name`) score at least ``thresholds.name`` with
       ``fuzz.token_sort_ratio``. Token sort forgives order ("Smith John") and typos
       ("Jon Smith" ~ "John Smith" is 94.7, "Katherine" ~ "Catherine" 93.3 with the
       same surname) but still compares whole names. ``WRatio`` is deliberately not
       used: its partial and token-set scores rate "Smith" against "John Smith" (and
       "Mary Smith") at 90 or more, which would merge different people sharing a
       surname.

    Among matching candidates the best is the highest name score, then the highest
    company score, then the lowest ``lead_id``, so the answer never depends on the
    order of ``candidates``.
    """
    if not _words(lead.last_name or ""):
        return None
    ours = normalize_person_name(lead.first_name, lead.last_name)
    best: tuple[float, float, str] | None = None
    found: FuzzyMatch | None = None
    for candidate in candidates:
        if not _words(candidate.last_name or ""):
            continue
        theirs = normalize_person_name(candidate.first_name, candidate.last_name)
        name_score = float(fuzz.token_sort_ratio(ours, theirs))
        if name_score < thresholds.name:
            continue
        company = _same_company(lead, candidate, thresholds.company)
        if company is None:
            continue
        company_score, company_reason = company
        # Higher scores first; among equals the smallest lead_id.
        rank = (-name_score, -company_score, candidate.lead_id)
        if best is None or rank < best:
            best = rank
            found = FuzzyMatch(
                lead_id=candidate.lead_id,
                name_score=name_score,
                company_score=company_score,
                detail=f"name {ours!r} ~ {theirs!r} ({name_score:.1f}), {company_reason}",
            )
    return found


def company_key(lead: LeadProfile) -> str | None:
    """The key under which the service indexes leads to find fuzzy-match candidates.

    The company domain when there is one and it is not free-mail, else
    ``"name:" + normalize_company_name(company)``, else None (no company: no fuzzy
    match is possible). Leads indexed under a domain are not found by a name key and
    vice versa; a service wanting both can look up the name key as well.
    """
    domain = _company_domain(lead.company_domain)
    if domain is not None:
        return domain
    name = normalize_company_name(lead.company or "")
    if name:
        return f"name:{name}"
    return None


# --- merging --------------------------------------------------------------------------


@dataclass(frozen=True)
class Conflict:
    """A field where both sides had different non-blank values; ``kept`` won."""

    field: str
    kept: str
    incoming: str


@dataclass(frozen=True)
class MergeResult:
    merged: dict[str, Any]
    filled: tuple[str, ...]
    conflicts: tuple[Conflict, ...]


def _is_blank(value: Any) -> bool:
    """None, a whitespace-only string, or an empty dict/list/tuple/set."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        return len(value) == 0
    return False


def _same_value(a: Any, b: Any) -> bool:
    """Equal, or equal once both are rendered as trimmed, case-folded text."""
    if a == b:
        return True
    return str(a).strip().casefold() == str(b).strip().casefold()


def _merge(
    existing: Mapping[str, Any],
    incoming: Mapping[str, Any],
    prefix: str,
    filled: list[str],
    conflicts: list[Conflict],
) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for key in sorted(set(existing) | set(incoming)):
        field = f"{prefix}{key}"
        ours = existing.get(key)
        theirs = incoming.get(key)
        if isinstance(theirs, Mapping) and (isinstance(ours, Mapping) or _is_blank(ours)):
            if _is_blank(theirs) and key in existing:
                merged[key] = copy.deepcopy(ours)
            else:
                # Nested fields (utm, custom) merge key by key; a blank side is {}.
                base = ours if isinstance(ours, Mapping) else {}
                merged[key] = _merge(base, theirs, f"{field}.", filled, conflicts)
        elif _is_blank(theirs):
            merged[key] = copy.deepcopy(ours if key in existing else theirs)
        elif _is_blank(ours):
            merged[key] = copy.deepcopy(theirs)
            filled.append(field)
        else:
            merged[key] = copy.deepcopy(ours)
            if not _same_value(ours, theirs):
                conflicts.append(Conflict(field=field, kept=str(ours), incoming=str(theirs)))
    return merged


def merge_fields(existing: Mapping[str, Any], incoming: Mapping[str, Any]) -> MergeResult:
    """Fold ``incoming`` into ``existing`` field by field, over the union of keys.

    - A blank incoming value (None, "", whitespace, {}, []) never replaces anything.
    - A blank existing value takes the incoming one; the field is listed in ``filled``.
    - Two non-blank values that differ: the existing one is kept and a
      :class:`Conflict` is recorded. Strings equal after trim and case-fold
      ("ACME " vs "acme") are the same value, not a conflict.
    - Nested dicts ("utm", "custom") merge key by key with the same rules; their
      fields are reported dotted ("custom.plan"). A dict against a non-blank scalar
      is an ordinary conflict.

    Keys are visited in sorted order, so ``merged``, ``filled`` and ``conflicts`` are
    deterministic. Values are deep-copied: the result shares nothing mutable with the
    inputs.
    """
    filled: list[str] = []
    conflicts: list[Conflict] = []
    merged = _merge(existing, incoming, "", filled, conflicts)
    return MergeResult(merged=merged, filled=tuple(filled), conflicts=tuple(conflicts))

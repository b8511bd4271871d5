"""Normalizing names and companies, company keys, and field merging for dedupe.

Contact keys (canonical email, E.164 phone) live in ``shared.domain.contact``; the match
policy that weighs them with names and companies is ``services.router.domain.dedupe``. This
module folds names and company names into comparable forms, says under which keys a lead is
found as a candidate (its registrable company domain, its company name), and decides how a
matched submission is folded into the existing lead: blanks are filled, differing values are
reported as conflicts and the existing value is kept, never silently overwritten.

Everything here is pure and deterministic: no I/O, no clock, no randomness. Given the
same inputs, every function returns the same value, in the same order.
"""

from __future__ import annotations

import copy
import functools
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from anyascii import anyascii
from cleanco.clean import normalized, prepare_default_terms, strip_punct, strip_tail

from services.router.domain.model import LeadProfile
from shared.domain.contact import FREE_MAIL_DOMAINS, domain_from_website, registrable_domain

# Legal-form words dropped from the end of a company name ("Acme, Inc." -> "acme"), after
# cleanco has removed the legal forms it knows ("GmbH & Co. KG", "S.A. de C.V.", "Sp. z o.o.").
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
        # forms cleanco leaves, seen on real forms
        "aktiebolag",
        "aps",
        "asa",
        "bhd",
        "dac",
        "kft",
        "kg",
        "llp",
        "ltda",
        "nv",
        "oyj",
        "pte",
        "pvt",
        "sarl",
        "sdn",
        "sl",
        "slu",
        "spa",
        "sro",
        "sti",
        "ug",
        "zrt",
    }
)
# cleanco's legal forms (its maintained term data), indexed by their last word: cleanco's own
# ``basename`` compares every term with the end of every name (tens of microseconds a name),
# this finds the same terms in the same order by looking only at those ending in its last word.
_LEGAL_TERMS = prepare_default_terms()
_LEGAL_TERMS_BY_LAST: dict[str, list[int]] = {}
for _i, (_size, _parts) in enumerate(_LEGAL_TERMS):
    _LEGAL_TERMS_BY_LAST.setdefault(_parts[-1], []).append(_i)


def strip_legal_form(name: str) -> str:
    """``cleanco.basename(name)``, faster: the name without its trailing legal forms ("Acme
    GmbH & Co. KG" -> "Acme"). cleanco scans its terms in order and removes each that ends the
    name as it is by then; so does this, among the terms ending in the name's last word."""
    name = strip_tail(name)
    parts = name.split()
    folded = [strip_punct(p) for p in normalized(name).split()]
    after = 0
    while folded:
        found = None
        for i in _LEGAL_TERMS_BY_LAST.get(folded[-1], ()):
            if i >= after:
                size, term = _LEGAL_TERMS[i]
                if folded[-size:] == term:
                    found = i
                    break
        if found is None:
            break
        size = _LEGAL_TERMS[found][0]
        del folded[-size:]
        del parts[-size:]
        after = found + 1
    return str(strip_tail(" ".join(parts)))


# Characters removed without leaving a gap, so "A.C.M.E." is "acme", "O'Brien" is
# "obrien" and "Inc." is "inc". Every other non-alphanumeric character splits words.
_JOINING_PUNCTUATION = frozenset({".", "'", "\u2019", "\u02bc", "`"})


# --- normalization --------------------------------------------------------------------


def _fold_text(text: str) -> str:
    """Case-fold, decompose (NFKD), drop accents and transliterate to Latin letters, repeated
    until nothing changes: "Müller" -> "muller", "Иванов" -> "ivanov", "Σωκράτης" ->
    "sokratis" (anyascii).

    One pass is not always enough: case-folding can produce characters that decompose,
    and compatibility decomposition can produce upper-case letters (``U+212B`` ANGSTROM
    SIGN -> ``A`` + ring). Iterating to a fixed point is what makes the normalizers
    idempotent; in practice it takes one or two passes.
    """
    for _ in range(8):
        folded = unicodedata.normalize("NFKD", text.casefold())
        folded = "".join(ch for ch in folded if unicodedata.category(ch) != "Mn")
        if not folded.isascii():
            folded = "".join(ch if ch.isascii() else (anyascii(ch) or ch) for ch in folded)
            folded = folded.casefold()
        if folded == text:
            break
        text = folded
    return text


def words_of(text: str) -> list[str]:
    return list(_words_cached(text))


@functools.lru_cache(maxsize=262144)
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
@functools.lru_cache(maxsize=262144)
def normalize_company_name(name: str) -> str:
    """The comparable form of a company name: ``"The Acme Co., Inc."`` -> ``"acme"``.

    Case-folded, accents stripped, ``&`` read as ``and``, punctuation removed (dots and
    apostrophes join, everything else separates), trailing legal-form words
    (:data:`LEGAL_SUFFIXES`, repeatedly: "Acme Co Ltd") and a leading "the" dropped,
    whitespace collapsed. A word is never dropped when it is the only one left, so
    "The Company" stays "company" rather than becoming empty. Idempotent.
    """
    for _ in range(4):  # to a fixed point, so the function is idempotent
        stripped = _company_words(strip_legal_form(name))
        folded = stripped if stripped not in ("", "the") else _company_words(name)
        if folded == name:
            break
        name = folded
    return name


# "and" between two words of a company name, as forms write it in their language
_AND_WORDS = frozenset({"e", "en", "et", "i", "og", "och", "u", "und", "y"})


def _company_words(name: str) -> str:
    words = words_of(name.replace("&", " and "))
    words = [
        "and" if 0 < i < len(words) - 1 and w in _AND_WORDS else w for i, w in enumerate(words)
    ]
    # "the" first, then suffixes: popping from the end never changes the first word.
    while len(words) > 1 and words[0] == "the":
        words.pop(0)
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


@functools.lru_cache(maxsize=262144)
def normalize_person_name(first: str | None, last: str | None) -> str:
    """``("José", "O'Brien-Smith")`` -> ``"jose obrien smith"``; blank parts are skipped.

    Case-folded, accents stripped, punctuation removed like company names (hyphens
    separate, apostrophes and dots join), whitespace collapsed. Idempotent when the
    result is passed back as either part.
    """
    return " ".join(words_of(first or "") + words_of(last or ""))


@functools.lru_cache(maxsize=262144)
def company_domain_of(domain: str | None) -> str | None:
    """A domain usable as a company identity: the registrable domain (``shop.acme.co.uk`` is
    ``acme.co.uk``), and never a free-mail domain."""
    if not domain:
        return None
    host = domain_from_website(domain)
    if host is None:
        return None
    host = registrable_domain(host)
    if host in FREE_MAIL_DOMAINS or "." not in host:
        return None
    return host


# --- candidates -----------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """What the match policy (``services.router.domain.dedupe``) compares of a submission
    or a lead."""

    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    company_domain: str | None = None

    # First and last name folded (case, accents, script), computed once per person: a
    # company's candidates are compared with every arrival at that company.
    folded_names: tuple[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        folded = " ".join(words_of(self.first_name or "")), " ".join(words_of(self.last_name or ""))
        object.__setattr__(self, "folded_names", folded)


@dataclass(frozen=True)
class Candidate(Person):
    """An existing lead the service found under one of the new lead's company keys: the
    person, with its lead id."""

    lead_id: uuid.UUID = field(kw_only=True)


def company_keys(lead: LeadProfile) -> tuple[str | None, str | None]:
    """``(company_key, company_name_key)``: where a lead is indexed for fuzzy matching.

    The first is :func:`company_key`; the second is the name key (``"name:acme"``) when the
    first is a domain and the lead also names its company, else None. A lead is found under
    either, so a submission with only a company name finds the lead that also had a domain.
    """
    first = company_key(lead)
    if first is None or first.startswith("name:"):
        return first, None
    return first, _name_key(lead.company)


def company_key(lead: LeadProfile) -> str | None:
    """The key under which the service indexes leads to find fuzzy-match candidates.

    The company domain when there is one and it is not free-mail, else
    ``"name:" + normalize_company_name(company)`` without spaces, else None (no company: no fuzzy
    match is possible). Leads indexed under a domain are not found by a name key and
    vice versa; a service wanting both can look up the name key as well.
    """
    domain = company_domain_of(lead.company_domain)
    if domain is not None:
        return domain
    return _name_key(lead.company)


def _name_key(company: str | None) -> str | None:
    """``"name:" +`` the normalized company name without spaces and with German digraphs
    read as umlauts, so "MistralSystems" and "Mistral Systems", "Mueller" and "Müller" are
    found under one key; None without a company name."""
    name = normalize_company_name(company or "").replace(" ", "")
    # German digraphs read as umlauts, as for names: "Mueller" and "Müller" are one key
    name = name.replace("ae", "a").replace("oe", "o").replace("ue", "u")
    return f"name:{name}" if name else None


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

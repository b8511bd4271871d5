"""Is this submission a person leadflow already knows? The match policy, as values.

Evidence is weighed candidate by candidate into a confidence between 0 and 1:

- **A personal email address** in common is certain (1.0). A role address (``info@``,
  ``sales@``) is not personal: it counts like a phone.
- **A phone number or a role address** in common is strong only when the names agree
  (1.0), or when one side has no name (0.95). Names that clearly differ make a separate
  lead (0.0): two colleagues behind one switchboard number are two people, and both keep
  the number. Names that only nearly agree (an initial, a short form not in the nickname
  data, an initial, Paul and Paula) are doubtful (0.7).
- **No contact key in common**, only the company (fuzzy candidates are found under the
  company's keys): the same person name at the same company is 0.95, a near name 0.7; at a
  company whose name is only similar, 0.75 and 0.5.
- An identity that many different people use (:attr:`MatchPolicy.shared_after` leads or
  more: a switchboard, ``info@``) is *shared*: it is no longer a key at all.

At ``merge_at`` or more the submission merges into the lead. Between ``review_at`` and
``merge_at`` it is doubtful: it becomes a new lead marked as a possible duplicate, for a
person to merge or dismiss; leadflow never merges on weak evidence. Below, it is a new
lead. Every candidate weighed leaves its lines of evidence, so an explanation can say why a
match was made and why another was found too weak.

Names are compared after folding case, accents and scripts (``Müller``, ``Mueller`` and
``Muller`` are one name; ``Иванов`` is ``ivanov``), with nicknames and short forms from the
``nicknames`` data package (Bob is Robert, Kate is Katherine), typos within
:attr:`MatchPolicy.name_similarity`, and first and last names swapped.

Pure and deterministic: no I/O, no clock; the same inputs give the same answer in the
same order.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from nicknames import NickNamer
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from services.router.domain.matching import (
    Person,
    company_domain_of,
    normalize_company_name,
    words_of,
)

__all__ = ["Person"]  # compared here, defined with the candidates it is the base of

Key = tuple[str, str]  # (kind, value): ("email", canonical address) | ("phone", E.164)

# Mailboxes of a function, not a person: shared by whoever does the job. A personal-looking
# local part is the default; these (and ``name.role`` forms are not guessed) are roles.
ROLE_LOCAL_PARTS = frozenset(
    {
        "accounts", "admin", "administration", "billing", "business", "careers", "contact",
        "contactus", "customerservice", "enquiries", "enquiry", "events", "finance", "hello",
        "help", "helpdesk", "hi", "hr", "info", "information", "inquiries", "inquiry", "jobs",
        "kontakt", "mail", "marketing", "media", "office", "orders", "post", "postmaster",
        "press", "purchasing", "reception", "sales", "service", "support", "team", "webmaster",
        # the same roles in the languages forms come in
        "administracion", "administracao", "amministrazione", "atendimento", "bestellung",
        "biuro", "buchhaltung", "bureau", "commercial", "comercial", "commerciale", "compras",
        "contacto", "contato", "contatti", "empfang", "facturacion", "hola", "infos",
        "kantoor", "kundenservice", "kundendienst", "recepcion", "sekretariat", "secretaria",
        "segreteria", "servicio", "ventas", "vendas", "vendite", "vente", "ventes",
        "verkauf", "verkoop", "vertrieb", "zentrale", "noreply", "norespond",
    }
)  # fmt: skip


def is_role_address(email: str) -> bool:
    """``info@acme.com``, ``Sales@acme.com``: an address of a role, not of a person."""
    local = email.rpartition("@")[0].lower()
    return local.replace("-", "").replace("_", "").replace(".", "") in ROLE_LOCAL_PARTS


class Verdict(StrEnum):
    merge = "merge"  # surely the same person
    review = "review"  # doubtful: a new lead, marked as a possible duplicate
    separate = "separate"  # surely different (or too little to tell)


class NameVerdict(StrEnum):
    same = "same"
    near = "near"
    unknown = "unknown"  # one side has no name
    different = "different"


class CompanyVerdict(StrEnum):
    same = "same"
    similar = "similar"
    unknown = "unknown"
    different = "different"


@dataclass(frozen=True)
class MatchPolicy:
    """Where the bands lie, and what counts as shared. Configurable (router settings)."""

    merge_at: float = 0.9
    review_at: float = 0.6
    # an identity held by this many different leads is shared and stops being a match key
    shared_after: int = 3
    name_similarity: float = 88.0  # full-name ratio for a typo (rapidfuzz, 0..100)
    company_similarity: float = 90.0  # company-name ratio for "the same company"
    company_near: float = 80.0  # and for "a similar company"

    def __post_init__(self) -> None:
        if not 0.0 < self.review_at <= self.merge_at <= 1.0:
            raise ValueError(
                f"need 0 < review_at <= merge_at <= 1, got {self.review_at}, {self.merge_at}"
            )
        if self.shared_after < 2:
            raise ValueError(f"shared_after must be at least 2, got {self.shared_after}")
        for label, value in (
            ("name_similarity", self.name_similarity),
            ("company_similarity", self.company_similarity),
            ("company_near", self.company_near),
        ):
            if not 0.0 <= value <= 100.0:
                raise ValueError(f"{label} must be between 0 and 100, got {value}")

    def verdict(self, confidence: float) -> Verdict:
        if confidence >= self.merge_at:
            return Verdict.merge
        if confidence >= self.review_at:
            return Verdict.review
        return Verdict.separate


@dataclass(frozen=True)
class Comparison:
    verdict: str
    why: str


@dataclass(frozen=True)
class Evidence:
    """One candidate weighed: how confident, the verdict, and why, line by line."""

    lead_id: uuid.UUID
    confidence: float
    verdict: Verdict
    via: str  # email | phone | name_company: what connected the two
    lines: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "lead_id": str(self.lead_id),
            "confidence": round(self.confidence, 3),
            "verdict": str(self.verdict),
            "via": self.via,
            "lines": list(self.lines),
        }


@dataclass(frozen=True)
class MatchDecision:
    """The verdict for one submission: the lead it merges into or may duplicate (``best``),
    and every candidate weighed, best first."""

    verdict: Verdict
    best: Evidence | None
    weighed: tuple[Evidence, ...]

    @property
    def lead_id(self) -> uuid.UUID | None:
        return self.best.lead_id if self.best is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": str(self.verdict),
            "lead_id": str(self.lead_id) if self.lead_id else None,
            "weighed": [e.to_dict() for e in self.weighed],
        }


# --- names ----------------------------------------------------------------------------


@functools.cache
def _nick_namer() -> NickNamer:
    return NickNamer()


def _fold_name(text: str | None) -> tuple[str, ...]:
    """Words of a name part, folded: case, accents, script ("Müller" -> "muller")."""
    return tuple(words_of(text or ""))


@functools.lru_cache(maxsize=262144)
def _umlauts(word: str) -> str:
    """German digraphs read as the umlauts they spell ("mueller" -> "muller", "joerg" ->
    "jorg"), for telling whether two spellings are one name; never for nickname look-ups
    ("joe" is not "jo")."""
    return word.replace("ae", "a").replace("oe", "o").replace("ue", "u")


@functools.lru_cache(maxsize=262144)
def _nickname_relation(a: str, b: str) -> str | None:
    """ "nickname" when one name is a nickname or short form of the other (Bob and Robert),
    "sibling" when both are short forms of one name (Bob and Rob), else None."""
    namer = _nick_namer()
    if b in namer.nicknames_of(a) or a in namer.nicknames_of(b):
        return "nickname"
    if namer.canonicals_of(a) & namer.canonicals_of(b):
        return "sibling"
    return None


def _first_names(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, str]:
    """(relation, note) of two folded first names: equal | nickname | typo | near |
    missing | different."""
    if not a or not b:
        return "missing", "a first name on one side only"
    x, y = a[0], b[0]
    if x == y or _umlauts(x) == _umlauts(y):
        return "equal", f"first name {x!r}"
    if len(x) == 1 or len(y) == 1:
        if x[0] == y[0]:
            return "near", f"first name {x!r} vs {y!r}: an initial"
        return "different", f"first names {x!r} and {y!r} differ"
    if _ending_variant(x, y):
        # another name more often than a typo: Paul and Paula, Louis and Louise, Maria and
        # Mario, Christina and Christine are usually two people
        return "near", f"first names {x!r} and {y!r} differ only at the end"
    relation = _nickname_relation(x, y)
    if relation == "nickname":
        return "nickname", f"first name {x!r} is a form of {y!r} (nicknames)"
    ratio = fuzz.ratio(x, y)
    if min(len(x), len(y)) >= 5 and OSA.distance(x, y) == 1:
        return "typo", f"first name {x!r} ~ {y!r} (one letter)"
    if ratio >= 85.0:
        return "typo", f"first name {x!r} ~ {y!r} ({ratio:.0f})"
    if relation == "sibling":
        return "near", f"first names {x!r} and {y!r} are forms of one name"
    if x.startswith(y) or y.startswith(x):
        return "near", f"first name {x!r} vs {y!r}: a short form"
    if ratio >= 75.0:
        return "near", f"first names {x!r} ~ {y!r} ({ratio:.0f})"
    return "different", f"first names {x!r} and {y!r} differ"


def _ending_variant(x: str, y: str) -> bool:
    """Two names that differ only in their last one or two letters, as names of two people
    do (Paul and Paula, Louis and Louise, Maria and Mario, Alexander and Alexandra, Christina
    and Christine): one extends the other, or their last letters differ. A letter doubled or
    changed inside the name (Marry and Mary, Frima and Frida) is a typo, not this."""
    if len(x) > len(y):
        x, y = y, x
    prefix = 0
    while prefix < len(x) and x[prefix] == y[prefix]:
        prefix += 1
    if prefix < 3 or len(y) - prefix > 2 or len(x) - prefix > 2:
        return False
    return prefix == len(x) or x[-1] != y[-1]


def _last_names(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, str, float]:
    """(relation, note, ratio) of two folded last names: equal | typo | near | missing |
    different. A compound surname that contains the other ("garcia lopez" and "garcia") is
    near."""
    if not a or not b:
        return "missing", "a last name on one side only", 0.0
    a, b = tuple(_umlauts(w) for w in a), tuple(_umlauts(w) for w in b)
    x, y = " ".join(a), " ".join(b)
    if x == y:
        return "equal", f"last name {x!r}", 100.0
    ratio = fuzz.ratio(x, y)
    if ratio >= 88.0:
        return "typo", f"last name {x!r} ~ {y!r} ({ratio:.0f})", ratio
    if set(a) <= set(b) or set(b) <= set(a):
        return "near", f"last name {x!r} is part of {y!r}", ratio
    if ratio >= 75.0:
        return "near", f"last names {x!r} ~ {y!r} ({ratio:.0f})", ratio
    return "different", f"last names {x!r} and {y!r} differ", ratio


_RANK = {NameVerdict.same: 3, NameVerdict.near: 2, NameVerdict.unknown: 1, NameVerdict.different: 0}


@functools.lru_cache(maxsize=262144)
def compare_names(a: Person, b: Person, policy: MatchPolicy = MatchPolicy()) -> Comparison:
    """Do two people's names agree? same, near (doubtful), unknown (one side has no name) or
    different; first and last names are also tried swapped."""
    (af, al), a_gen = _generation(_fold_name(a.first_name), _fold_name(a.last_name))
    (bf, bl), b_gen = _generation(_fold_name(b.first_name), _fold_name(b.last_name))
    if not (af or al) or not (bf or bl):
        return Comparison(NameVerdict.unknown, "one side has no name")
    found = _compare_names(af, al, bf, bl, policy)
    if a_gen != b_gen and found.verdict == NameVerdict.same:
        # John Smith and John Smith Jr. at one company are father and son more often than not
        return Comparison(
            NameVerdict.near, f"{found.why}; generations differ ({a_gen or '-'} vs {b_gen or '-'})"
        )
    return found


# Generational suffixes, read as one mark each: a different one (or one on a side only)
# tells two people apart however alike the names are.
_GENERATIONS = {
    "jr": "jr", "jnr": "jr", "junior": "jr", "jun": "jr", "filho": "jr",
    "sr": "sr", "snr": "sr", "senior": "sr", "sen": "sr",
    "ii": "ii", "iii": "iii", "iv": "iv", "neto": "iii",
}  # fmt: skip


def _generation(
    first: tuple[str, ...], last: tuple[str, ...]
) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], str]:
    """The name parts without generational suffixes, and the suffix ("" when none). A word
    that is a whole name part stays (Amartya Sen's surname is not "senior")."""
    marks: list[str] = []
    parts = []
    for words in (first, last):
        kept = tuple(w for w in words if w not in _GENERATIONS)
        if kept and len(kept) < len(words):
            marks.extend(_GENERATIONS[w] for w in words if w in _GENERATIONS)
            words = kept
        parts.append(words)
    return (parts[0], parts[1]), "+".join(sorted(marks))


def _compare_names(
    af: tuple[str, ...],
    al: tuple[str, ...],
    bf: tuple[str, ...],
    bl: tuple[str, ...],
    policy: MatchPolicy,
) -> Comparison:
    straight = _compare_oriented(af, al, bf, bl, policy)
    if straight.verdict == NameVerdict.same:
        return straight
    # swapped on either side, so the comparison is symmetric; a swap is only "the same name"
    # when both parts are equal (or a nickname): a swap and a typo together are doubtful
    swapped = max(
        (
            _compare_oriented(af, al, bl, bf, policy, swapped=True),
            _compare_oriented(al, af, bf, bl, policy, swapped=True),
        ),
        key=lambda c: _RANK[NameVerdict(c.verdict)],
    )
    if _RANK[NameVerdict(swapped.verdict)] > _RANK[NameVerdict(straight.verdict)]:
        return Comparison(swapped.verdict, f"first and last names swapped; {swapped.why}")
    return straight


def _compare_oriented(
    af: tuple[str, ...],
    al: tuple[str, ...],
    bf: tuple[str, ...],
    bl: tuple[str, ...],
    policy: MatchPolicy,
    *,
    swapped: bool = False,
) -> Comparison:
    first, first_note = _first_names(af, bf)
    last, last_note, _ = _last_names(al, bl)
    why = f"{first_note}; {last_note}"
    if swapped and (first, last) not in (("equal", "equal"), ("nickname", "equal")):
        same_or_near = first not in ("different", "missing") and last not in (
            "different",
            "missing",
        )
        return Comparison(NameVerdict.near if same_or_near else NameVerdict.different, why)
    if first == "different" or last == "different":
        # A one-letter typo spread over the whole name still reads as one name.
        if first != "different" and _full_ratio(af, al, bf, bl) >= policy.name_similarity:
            return Comparison(NameVerdict.near, why)
        return Comparison(NameVerdict.different, why)
    if first in ("equal", "nickname") and last in ("equal", "typo"):
        return Comparison(NameVerdict.same, why)
    if (
        first in ("equal", "nickname")
        and last == "near"
        and _full_ratio(af, al, bf, bl) >= policy.name_similarity
    ):
        return Comparison(NameVerdict.same, why)  # a letter swapped in a short surname
    if first == "typo" and last == "equal":
        return Comparison(NameVerdict.same, why)
    if first == "missing" and last == "missing":
        # one side has only a first name, the other only a last name: nothing to compare
        return Comparison(NameVerdict.unknown, why)
    return Comparison(NameVerdict.near, why)


def _full_ratio(
    af: tuple[str, ...], al: tuple[str, ...], bf: tuple[str, ...], bl: tuple[str, ...]
) -> float:
    return float(fuzz.token_sort_ratio(" ".join(af + al), " ".join(bf + bl)))


# --- companies ------------------------------------------------------------------------


@functools.lru_cache(maxsize=262144)
def compare_companies(a: Person, b: Person, policy: MatchPolicy = MatchPolicy()) -> Comparison:
    """Same registrable company domain (never free mail), else the company names folded
    (legal forms, case, accents) compared: same, similar, unknown or different."""
    domain = company_domain_of(a.company_domain)
    if domain is not None and domain == company_domain_of(b.company_domain):
        return Comparison(CompanyVerdict.same, f"same company domain {domain}")
    ours = normalize_company_name(a.company or "")
    theirs = normalize_company_name(b.company or "")
    if not ours or not theirs:
        if domain is not None and company_domain_of(b.company_domain) is not None:
            return Comparison(CompanyVerdict.different, "different company domains")
        return Comparison(CompanyVerdict.unknown, "a company on one side only")
    score = float(fuzz.ratio(ours, theirs))
    if score >= policy.company_similarity:
        return Comparison(CompanyVerdict.same, f"company {ours!r} ~ {theirs!r} ({score:.0f})")
    if score >= policy.company_near:
        return Comparison(CompanyVerdict.similar, f"company {ours!r} ~ {theirs!r} ({score:.0f})")
    return Comparison(CompanyVerdict.different, f"companies {ours!r} and {theirs!r} differ")


# --- weighing -------------------------------------------------------------------------


def _describe(key: Key) -> str:
    return f"{key[0]} {key[1]}"


def weigh(
    arrival: Person,
    lead_id: uuid.UUID,
    candidate: Person,
    common: Iterable[Key],
    policy: MatchPolicy = MatchPolicy(),
) -> Evidence:
    """How sure is it that ``arrival`` is the person of lead ``lead_id``? ``common``: the
    contact keys both have that are still match keys (shared ones already left out)."""
    keys = sorted(common)
    personal = [k for k in keys if k[0] == "email" and not is_role_address(k[1])]
    if personal:
        return Evidence(
            lead_id, 1.0, policy.verdict(1.0), "email", (f"same personal {_describe(personal[0])}",)
        )
    names = compare_names(arrival, candidate, policy)
    company = compare_companies(arrival, candidate, policy)
    lines = [f"names {names.verdict}: {names.why}", f"company {company.verdict}: {company.why}"]
    if keys:
        via = "phone" if any(k[0] == "phone" for k in keys) else "email"
        shared_key = next(k for k in keys if k[0] == via)
        strength = "a role address" if via == "email" else "a phone number"
        lines.insert(0, f"same {_describe(shared_key)} ({strength}: strong only if names agree)")
        if names.verdict == NameVerdict.same:
            confidence = 1.0
        elif names.verdict == NameVerdict.unknown:
            confidence = 0.95
        elif names.verdict == NameVerdict.near:
            confidence = 0.7  # names that only nearly agree: a person decides
        else:
            confidence = 0.0
            lines.append("a different person at the same number or address: a lead of their own")
    else:
        via = "name_company"
        table = {
            CompanyVerdict.same: {NameVerdict.same: 0.95, NameVerdict.near: 0.7},
            CompanyVerdict.similar: {NameVerdict.same: 0.75, NameVerdict.near: 0.5},
        }
        confidence = table.get(CompanyVerdict(company.verdict), {}).get(
            NameVerdict(names.verdict), 0.0
        )
    return Evidence(lead_id, confidence, policy.verdict(confidence), via, tuple(lines))


def decide_match(
    arrival: Person,
    candidates: Sequence[tuple[uuid.UUID, Person, frozenset[Key]]],
    policy: MatchPolicy = MatchPolicy(),
) -> MatchDecision:
    """Weigh every candidate ``(lead id, person, contact keys in common)`` and decide.

    The best candidate is the most confident, then the one with a contact key in common,
    then the lowest lead id, so the answer never depends on the order of ``candidates``.
    A candidate listed twice (found by a key and under its company) is weighed once, with
    its keys."""
    # The names filter first, on the raw list: a company may have hundreds of leads, and
    # only those whose names might agree are worth weighing (or even indexing).
    bare = [c for c in candidates if not c[2]]
    plausible = _plausible_names(arrival, [c[1] for c in bare])
    index: dict[uuid.UUID, int] = {}
    ids: list[uuid.UUID] = []
    people: list[Person] = []
    common: list[frozenset[Key]] = []
    for lead_id, person, keys in [c for c in candidates if c[2]] + [bare[i] for i in plausible]:
        i = index.get(lead_id)
        if i is None:
            index[lead_id] = len(ids)
            ids.append(lead_id)
            people.append(person)
            common.append(keys)
        else:
            common[i] = common[i] | keys
    weighed = sorted(
        (weigh(arrival, ids[i], people[i], common[i], policy) for i in range(len(ids))),
        key=lambda e: (-e.confidence, e.via == "name_company", str(e.lead_id)),
    )
    best = weighed[0] if weighed else None
    if best is None or best.verdict == Verdict.separate:
        return MatchDecision(Verdict.separate, None, tuple(weighed))
    rivals = [
        e for e in weighed[1:] if e.verdict == Verdict.merge and e.via == best.via != "name_company"
    ]
    if best.verdict == Verdict.merge and best.confidence < 1.0 and rivals:
        # a number (or role address) two people hold, and nothing tells which one this is
        doubt = replace(
            best,
            verdict=Verdict.review,
            lines=(
                *best.lines,
                f"as sure of {len(rivals)} other lead(s) holding it: ambiguous, a person decides",
            ),
        )
        return MatchDecision(Verdict.review, doubt, (doubt, *weighed[1:]))
    return MatchDecision(best.verdict, best, tuple(weighed))


# Below this rapidfuzz ratio between every pairing of last names (and last with first, for
# swapped names) two names are never "near": company evidence alone cannot reach review.
_PLAUSIBLE_NAME_RATIO = 60.0


def _plausible_names(arrival: Person, people: Sequence[Person]) -> list[int]:
    """The positions of ``people`` whose names might be near the arrival's or better, in
    order: a cheap filter (a C loop per pairing of name parts) before weighing.

    Names are near only if the last names agree (a typo, one containing the other, a ratio of
    75) or, swapped, a last name agrees with the other's first; so a candidate is kept when
    one of those pairings reaches 60, or one last name contains the other, or either side
    lacks a last name (the first names then decide, weighed in full). Without any name,
    company evidence says nothing: none is kept."""
    af, al = _folded(arrival)
    if not people or (not af and not al):
        return []
    if not al:
        return list(range(len(people)))
    parts = [_folded(p) for p in people]
    lasts = [last for _, last in parts]
    keep = {n for n, last in enumerate(lasts) if not last or al in last or last in al}
    for query, choices in ((al, lasts), (al, [first for first, _ in parts]), (af, lasts)):
        if query:
            for _, _, n in process.extract(
                query, choices, scorer=fuzz.ratio, score_cutoff=_PLAUSIBLE_NAME_RATIO, limit=None
            ):
                keep.add(n)
    return sorted(keep)


def _folded(person: Person) -> tuple[str, str]:
    return person.folded_names


def shared_now(holders: int, policy: MatchPolicy) -> bool:
    """Whether an identity held by ``holders`` different leads is shared (stops being a key)."""
    return holders >= policy.shared_after

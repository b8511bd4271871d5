"""Fuzzy person matching and field merging: pure, fixture-free."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.router.domain.matching import (
    Candidate,
    Conflict,
    FuzzyMatch,
    MatchThresholds,
    company_key,
    fuzzy_match,
    merge_fields,
    normalize_company_name,
    normalize_person_name,
)
from services.router.domain.model import LeadProfile
from shared.domain.contact import FREE_MAIL_DOMAINS


def lead(
    first: str | None = "John",
    last: str | None = "Smith",
    company: str | None = None,
    domain: str | None = "acme.com",
) -> LeadProfile:
    return LeadProfile(first_name=first, last_name=last, company=company, company_domain=domain)


# --- normalize_company_name -----------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["Acme, Inc.", "ACME Inc", "acme", "  The Acme Co. Ltd ", "Ácme LLC"]
)
def test_company_name_variants_normalize_alike(raw: str) -> None:
    assert normalize_company_name(raw) == "acme"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Johnson & Johnson", "johnson and johnson"),
        ("A.C.M.E. GmbH", "acme"),
        ("Müller-Lüdenscheidt AG", "muller ludenscheidt"),
        ("The Company", "company"),  # never emptied
        ("The Inc", "inc"),
        ("The The", "the"),
        ("Theater Works Pty Ltd", "theater works"),
        ("Co-operative Bank plc", "co operative bank"),
        ("", ""),
        ("!!!", ""),
    ],
)
def test_normalize_company_name_examples(raw: str, expected: str) -> None:
    assert normalize_company_name(raw) == expected


@given(st.text())
def test_normalize_company_name_is_idempotent(raw: str) -> None:
    once = normalize_company_name(raw)
    assert normalize_company_name(once) == once


@given(
    st.lists(st.sampled_from(["the", "Acme", "Inc.", "co", "LTD", "&", "Widgets", ","]), max_size=8)
)
def test_normalize_company_name_is_idempotent_on_suffix_soup(words: list[str]) -> None:
    once = normalize_company_name(" ".join(words))
    assert normalize_company_name(once) == once


# --- normalize_person_name ------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        ("John", "Smith", "john smith"),
        ("  JOSÉ ", " Núñez  ", "jose nunez"),
        ("Mary  Ann", None, "mary ann"),
        (None, "O'Brien-Smith", "obrien smith"),
        (None, None, ""),
        ("Straße", "", "strasse"),
    ],
)
def test_normalize_person_name_examples(first: str | None, last: str | None, expected: str) -> None:
    assert normalize_person_name(first, last) == expected


@given(st.text(), st.text())
def test_normalize_person_name_is_idempotent(first: str, last: str) -> None:
    once = normalize_person_name(first, last)
    assert normalize_person_name(once, None) == once
    assert normalize_person_name(None, once) == once


# --- fuzzy_match ----------------------------------------------------------------------


def test_typo_in_first_name_at_same_domain_matches() -> None:
    found = fuzzy_match(lead("Jon", "Smith"), [Candidate("L1", "John", "Smith", None, "acme.com")])
    assert found is not None
    assert found.lead_id == "L1"
    assert found.name_score == pytest.approx(94.74, abs=0.01)
    assert found.company_score == 100.0
    assert found.detail == "name 'jon smith' ~ 'john smith' (94.7), same company domain acme.com"


def test_katherine_matches_catherine_at_same_domain() -> None:
    found = fuzzy_match(
        lead("Katherine", "Smith"), [Candidate("L1", "Catherine", "Smith", None, "acme.com")]
    )
    assert found is not None
    assert found.lead_id == "L1"


def test_domain_comparison_ignores_case_and_www() -> None:
    found = fuzzy_match(
        lead("Jon", "Smith", domain="www.ACME.com"),
        [Candidate("L1", "John", "Smith", None, "acme.com")],
    )
    assert found is not None


def test_swapped_name_order_matches() -> None:
    assert fuzzy_match(lead("Smith", "John"), [Candidate("L1", "John", "Smith", None, "acme.com")])


def test_different_person_at_same_company_does_not_match() -> None:
    assert (
        fuzzy_match(lead("John", "Smith"), [Candidate("L1", "Mary", "Jones", None, "acme.com")])
        is None
    )


def test_same_name_at_different_company_does_not_match() -> None:
    candidate = Candidate("L1", "John", "Smith", "Globex Corporation", "globex.com")
    assert fuzzy_match(lead("John", "Smith", company="Acme Inc"), [candidate]) is None


def test_same_name_without_any_company_does_not_match() -> None:
    candidate = Candidate("L1", "John", "Smith", None, None)
    assert fuzzy_match(lead("John", "Smith", domain=None), [candidate]) is None


@pytest.mark.parametrize("domain", sorted(FREE_MAIL_DOMAINS))
def test_free_mail_domain_is_never_the_same_company(domain: str) -> None:
    candidate = Candidate("L1", "John", "Smith", None, domain)
    assert fuzzy_match(lead("John", "Smith", domain=domain), [candidate]) is None


def test_company_name_match_without_domain() -> None:
    candidate = Candidate("L1", "John", "Smith", "ACME Incorporated", None)
    found = fuzzy_match(lead("Jon", "Smith", company="Acme, Inc.", domain=None), [candidate])
    assert found is not None
    assert found.company_score == 100.0
    assert found.detail.endswith("company 'acme' ~ 'acme' (100.0)")


def test_company_name_typo_below_threshold_does_not_match() -> None:
    candidate = Candidate("L1", "John", "Smith", "Acne", None)
    assert fuzzy_match(lead("John", "Smith", company="Acme", domain=None), [candidate]) is None


def test_surname_alone_does_not_match_a_full_name() -> None:
    candidate = Candidate("L1", "John", "Smith", None, "acme.com")
    assert fuzzy_match(lead(None, "Smith"), [candidate]) is None


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (("John", None), ("John", "Smith")),
        (("John", "Smith"), ("John", None)),
        (("John", "  "), ("John", "  ")),
        ((None, None), (None, None)),
    ],
)
def test_last_name_required_on_both_sides(
    ours: tuple[str | None, str | None], theirs: tuple[str | None, str | None]
) -> None:
    candidate = Candidate("L1", theirs[0], theirs[1], None, "acme.com")
    assert fuzzy_match(lead(*ours), [candidate]) is None


def test_last_name_alone_on_both_sides_may_match() -> None:
    assert fuzzy_match(lead(None, "Smith"), [Candidate("L1", None, "Smith", None, "acme.com")])


def test_best_match_wins_and_ties_go_to_lowest_lead_id() -> None:
    candidates = [
        Candidate("L9", "John", "Smith", None, "acme.com"),
        Candidate("L5", "Jon", "Smith", None, "acme.com"),
        Candidate("L7", "John", "Smith", None, "acme.com"),
    ]
    found = fuzzy_match(lead("John", "Smith"), candidates)
    assert found is not None
    assert (found.lead_id, found.name_score) == ("L7", 100.0)
    assert fuzzy_match(lead("John", "Smith"), list(reversed(candidates))) == found


def test_thresholds_are_configurable() -> None:
    candidate = [Candidate("L1", "Jon", "Smith", None, "acme.com")]
    assert fuzzy_match(lead(), candidate, MatchThresholds(name=95.0)) is None
    assert fuzzy_match(lead(), candidate, MatchThresholds(name=90.0)) is not None


@pytest.mark.parametrize(("name", "company"), [(-1.0, 90.0), (88.0, 100.5)])
def test_thresholds_out_of_range_are_rejected(name: float, company: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        MatchThresholds(name=name, company=company)


def test_no_candidates_no_match() -> None:
    assert fuzzy_match(lead(), []) is None


names = st.text(alphabet=st.characters(categories=["L"]), min_size=1, max_size=12)


@given(names, names)
def test_a_lead_always_matches_itself_at_its_company(first: str, last: str) -> None:
    profile = lead(first, last, domain="acme.com")
    found = fuzzy_match(profile, [Candidate("L1", first, last, None, "acme.com")])
    assert found == FuzzyMatch(
        lead_id="L1",
        name_score=100.0,
        company_score=100.0,
        detail=(
            f"name {normalize_person_name(first, last)!r} ~ "
            f"{normalize_person_name(first, last)!r} (100.0), same company domain acme.com"
        ),
    )


@given(st.lists(st.tuples(names, names, st.sampled_from(["acme.com", "gmail.com", "x.io"]))))
def test_fuzzy_match_ignores_candidate_order(people: list[tuple[str, str, str]]) -> None:
    candidates = [Candidate(f"L{i}", f, last, None, d) for i, (f, last, d) in enumerate(people)]
    profile = lead("John", "Smith")
    assert fuzzy_match(profile, candidates) == fuzzy_match(profile, candidates[::-1])


# --- company_key ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        (LeadProfile(company="Acme, Inc.", company_domain="acme.com"), "acme.com"),
        (LeadProfile(company_domain="WWW.Acme.com"), "acme.com"),
        (LeadProfile(company="Acme, Inc.", company_domain="gmail.com"), "name:acme"),
        (LeadProfile(company="The Acme Co"), "name:acme"),
        (LeadProfile(company_domain="yahoo.com"), None),
        (LeadProfile(company="  "), None),
        (LeadProfile(), None),
    ],
)
def test_company_key(profile: LeadProfile, expected: str | None) -> None:
    assert company_key(profile) == expected


# --- merge_fields ---------------------------------------------------------------------


def test_merge_fills_blanks_and_keeps_conflicts() -> None:
    existing = {"first_name": "John", "job_title": None, "city": "", "company": "Acme"}
    incoming = {"first_name": "Jon", "job_title": "CTO", "city": "Paris", "country": "FR"}
    result = merge_fields(existing, incoming)
    assert result.merged == {
        "city": "Paris",
        "company": "Acme",
        "country": "FR",
        "first_name": "John",
        "job_title": "CTO",
    }
    assert result.filled == ("city", "country", "job_title")
    assert result.conflicts == (Conflict(field="first_name", kept="John", incoming="Jon"),)


def test_merge_never_overwrites_a_non_blank_value() -> None:
    result = merge_fields({"phone": "+14155550123"}, {"phone": "+14155550199"})
    assert result.merged == {"phone": "+14155550123"}
    assert result.filled == ()
    assert result.conflicts == (Conflict("phone", "+14155550123", "+14155550199"),)


def test_merge_treats_case_and_whitespace_differences_as_equal() -> None:
    result = merge_fields(
        {"company": "ACME", "country": "fr"}, {"company": " acme ", "country": "FR"}
    )
    assert result.merged == {"company": "ACME", "country": "fr"}
    assert result.conflicts == ()


def test_merge_nested_dicts_key_by_key_with_dotted_fields() -> None:
    existing = {"custom": {"plan": "pro", "seats": None}, "utm": None}
    incoming = {"custom": {"plan": "free", "seats": 5, "trial": True}, "utm": {"source": "ads"}}
    result = merge_fields(existing, incoming)
    assert result.merged == {
        "custom": {"plan": "pro", "seats": 5, "trial": True},
        "utm": {"source": "ads"},
    }
    assert result.filled == ("custom.seats", "custom.trial", "utm.source")
    assert result.conflicts == (Conflict("custom.plan", "pro", "free"),)


def test_merge_dict_against_scalar_is_a_conflict() -> None:
    result = merge_fields({"custom": "legacy"}, {"custom": {"plan": "pro"}})
    assert result.merged == {"custom": "legacy"}
    assert result.conflicts == (Conflict("custom", "legacy", "{'plan': 'pro'}"),)


def test_merge_result_shares_nothing_mutable_with_inputs() -> None:
    incoming: dict[str, Any] = {"custom": {"tags": ["a"]}}
    result = merge_fields({}, incoming)
    result.merged["custom"]["tags"].append("b")
    assert incoming == {"custom": {"tags": ["a"]}}


# Field values as the router sees them: scalars, blanks, and one level of nesting.
scalars = st.one_of(
    st.none(),
    st.sampled_from(["", "  ", "Acme", "ACME ", "acme", "Paris", "FR", "fr"]),
    st.text(max_size=6),
    st.integers(-3, 3),
    st.booleans(),
)
keys = st.sampled_from(["city", "company", "country", "first_name", "phone", "utm", "custom"])
nested = st.dictionaries(
    st.sampled_from(["plan", "seats", "source", "campaign"]), scalars, max_size=4
)
records = st.dictionaries(keys, st.one_of(scalars, nested), max_size=7)


def _blank(value: Any) -> bool:
    if isinstance(value, dict):
        return not value
    return value is None or (isinstance(value, str) and not value.strip())


def _blank_like(record: dict[str, Any]) -> dict[str, Any]:
    return {k: ({} if isinstance(v, dict) else None) for k, v in record.items()}


@given(records)
def test_merge_with_itself_has_no_conflicts_and_no_fills(record: dict[str, Any]) -> None:
    result = merge_fields(record, record)
    assert result.merged == record
    assert result.filled == ()
    assert result.conflicts == ()


@given(records)
def test_merging_blank_into_full_changes_nothing(record: dict[str, Any]) -> None:
    for blank in ({}, _blank_like(record)):
        result = merge_fields(record, blank)
        assert result.merged == record
        assert result.filled == ()
        assert result.conflicts == ()


@given(records, records)
def test_merge_is_deterministic(existing: dict[str, Any], incoming: dict[str, Any]) -> None:
    first = merge_fields(existing, incoming)
    reordered = merge_fields(
        dict(reversed(list(existing.items()))), dict(reversed(list(incoming.items())))
    )
    assert first == merge_fields(existing, incoming) == reordered
    assert list(first.merged) == sorted(first.merged)
    assert list(first.filled) == sorted(first.filled)
    assert [c.field for c in first.conflicts] == sorted(c.field for c in first.conflicts)


@given(records, records)
def test_merge_keeps_every_existing_value_and_fills_only_blanks(
    existing: dict[str, Any], incoming: dict[str, Any]
) -> None:
    result = merge_fields(existing, incoming)
    assert set(result.merged) == set(existing) | set(incoming)
    conflicted = {c.field for c in result.conflicts}
    assert not conflicted & set(result.filled)
    for key, ours in existing.items():
        theirs = incoming.get(key)
        if isinstance(ours, dict) and isinstance(theirs, dict):
            for sub, value in ours.items():
                if not _blank(value):
                    assert result.merged[key][sub] == value
        elif not _blank(ours):
            assert result.merged[key] == ours  # never overwritten
    for field in result.filled:
        key, _, sub = field.partition(".")
        ours = existing.get(key)
        value = result.merged[key][sub] if sub else result.merged[key]
        assert not _blank(value)
        assert _blank(ours.get(sub) if sub and isinstance(ours, dict) else ours)

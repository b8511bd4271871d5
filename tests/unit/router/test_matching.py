"""Fuzzy person matching and field merging: pure, fixture-free."""

from __future__ import annotations

from typing import Any

import pytest
from cleanco import basename
from cleanco.termdata import terms_by_type
from hypothesis import given
from hypothesis import strategies as st

from services.router.domain.matching import (
    Conflict,
    company_key,
    company_keys,
    merge_fields,
    normalize_company_name,
    normalize_person_name,
    strip_legal_form,
)
from services.router.domain.model import LeadProfile


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
        ("Acme GmbH & Co. KG", "acme"),
        ("Acme S.A. de C.V.", "acme"),
        ("Acme Sp. z o.o.", "acme"),
        ("ACME S.p.A.", "acme"),
        ("Acme Pty Ltd", "acme"),
        ("Müller Maschinenbau GmbH", "muller maschinenbau"),
        # "Ivanov and partners" with the Russian legal form OOO, in Cyrillic
        (
            "\u0418\u0432\u0430\u043d\u043e\u0432 \u0438 \u043f\u0430\u0440\u0442\u043d\u0435\u0440\u044b \u041e\u041e\u041e",
            "ivanov and partnery",
        ),
        ("Mendes e Filhos Ltda.", "mendes and filhos"),
        ("Breval et Fils", "breval and fils"),
        ("Y Combinator", "y combinator"),
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


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        (
            LeadProfile(company="Acme Ltd", company_domain="shop.acme.co.uk"),
            ("acme.co.uk", "name:acme"),
        ),
        (LeadProfile(company_domain="mail.acme.com.au"), ("acme.com.au", None)),
        (LeadProfile(company="Acme GmbH & Co. KG"), ("name:acme", None)),
        (LeadProfile(company="Acme", company_domain="googlemail.com"), ("name:acme", None)),
        (LeadProfile(), (None, None)),
    ],
)
def test_company_keys_are_the_registrable_domain_and_the_name(
    profile: LeadProfile, expected: tuple[str | None, str | None]
) -> None:
    assert company_keys(profile) == expected


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


# --- legal forms --------------------------------------------------------------------


legal_terms = sorted({t for ts in terms_by_type.values() for t in ts})
name_words = st.sampled_from(["Acme", "Blue", "Pine", "&", "Co.", "and", "Sons", "The", "Müller"])


@given(
    st.lists(name_words | st.sampled_from(legal_terms), min_size=1, max_size=5),
    st.sampled_from(["", ".", ",", " ,"]),
)
def test_strip_legal_form_is_cleancos_basename(words: list[str], tail: str) -> None:
    name = " ".join(words) + tail
    assert strip_legal_form(name) == basename(name)

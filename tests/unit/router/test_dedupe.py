"""The match policy: identity strength, names, companies and the review band. Pure."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.router.domain.dedupe import (
    MatchPolicy,
    NameVerdict,
    Person,
    Verdict,
    compare_companies,
    compare_names,
    decide_match,
    is_role_address,
    shared_now,
    weigh,
)
from services.router.domain.matching import words_of
from shared.domain.contact import FREE_MAIL_DOMAINS, registrable_domain

L1 = uuid.UUID(int=1)
L2 = uuid.UUID(int=2)
L3 = uuid.UUID(int=3)
SWITCHBOARD = ("phone", "+442079460000")


def at_acme(first: str | None, last: str | None, domain: str | None = "acme.com") -> Person:
    return Person(first, last, "Acme Ltd", domain)


# --- identity strength ----------------------------------------------------------------


def test_a_personal_email_is_certain_whatever_the_names() -> None:
    e = weigh(at_acme("Jane", "Doe"), L1, at_acme("John", "Smith"), [("email", "js@acme.com")])
    assert (e.verdict, e.confidence, e.via) == (Verdict.merge, 1.0, "email")


def test_a_shared_number_with_a_different_name_is_not_a_merge() -> None:
    e = weigh(at_acme("Mary", "Jones"), L1, at_acme("John", "Smith"), [SWITCHBOARD])
    assert e.verdict == Verdict.separate
    assert e.confidence == 0.0
    assert "a lead of their own" in e.lines[-1]
    assert e.lines[0].startswith("same phone +442079460000")


def test_a_number_with_agreeing_names_is_a_merge() -> None:
    e = weigh(Person("Bob", "Smith"), L1, at_acme("Robert", "Smith"), [SWITCHBOARD])
    assert (e.verdict, e.via) == (Verdict.merge, "phone")


def test_a_number_where_one_side_has_no_name_is_a_merge() -> None:
    e = weigh(Person(), L1, at_acme("John", "Smith"), [SWITCHBOARD])
    assert e.verdict == Verdict.merge


def test_a_number_with_a_near_name_is_doubtful_even_at_the_same_company() -> None:
    e = weigh(Person("R.", "Smith"), L1, at_acme("Robert", "Smith"), [SWITCHBOARD])
    assert e.verdict == Verdict.review
    e = weigh(at_acme("Jana", "Braun"), L1, at_acme("Jan", "Braun"), [SWITCHBOARD])
    assert e.verdict == Verdict.review


@pytest.mark.parametrize(
    "address",
    [
        "info@acme.com",
        "Sales@acme.com",
        "customer.service@acme.com",
        "hello@x.io",
        "ventas@tecnorte.com.mx",
        "vertrieb@rheinlog.de",
        "verkoop@vdberg.nl",
        "biuro@wislatech.pl",
        "comercial@solucionesibericas.es",
    ],
)
def test_role_addresses_are_not_personal(address: str) -> None:
    assert is_role_address(address)
    key = ("email", address.lower())
    e = weigh(at_acme("Mary", "Jones"), L1, at_acme("John", "Smith"), [key])
    assert e.verdict == Verdict.separate


@pytest.mark.parametrize("address", ["john.smith@acme.com", "infosec.lead@acme.com", "ana@x.io"])
def test_personal_addresses_are_personal(address: str) -> None:
    assert not is_role_address(address)


def test_an_identity_is_shared_from_the_configured_number_of_people() -> None:
    assert not shared_now(2, MatchPolicy())
    assert shared_now(3, MatchPolicy())
    assert not shared_now(4, MatchPolicy(shared_after=5))
    with pytest.raises(ValueError, match="shared_after"):
        MatchPolicy(shared_after=1)


# --- names and companies --------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("Robert", "Smith"), ("Bob", "Smith")),
        (("William", "Brown"), ("Bill", "Brown")),
        (("Katherine", "Jones"), ("Kate", "Jones")),
        (("Jon", "Smith"), ("John", "Smith")),
        (("John", "Smith"), ("John", "Smiht")),
        (("Hans", "Müller"), ("Hans", "Mueller")),
        (("Hans", "Muller"), ("Hans", "Mueller")),
        (("José", "García"), ("Jose", "Garcia")),
        (("Zoë", "Dvořák"), ("Zoe", "Dvorak")),
        (("Smith", "John"), ("John", "Smith")),
        (("Wei", "Zhang"), ("Zhang", "Wei")),
        (("Ivan", "\u0418\u0432\u0430\u043d\u043e\u0432"), ("Ivan", "Ivanov")),
        (("Joe", "Collins"), ("Joseph", "Collins")),  # umlaut folding never hides a nickname
        (("Mike", "Brown"), ("Michael", "Brown")),
        (("Jörg", "Weiß"), ("Joerg", "Weiss")),
        (("Pvael", "Kucera"), ("Pavel", "Kucera")),  # one letter: a transposition
        (("Frima", "Sorensen"), ("Frida", "Sorensen")),
        (("Marry", "Major"), ("Mary", "Major")),
        (("Bob", "Smith"), ("Smith", "Robert")),  # swapped, and a nickname
        (("Robert", "Miller Jr"), ("Bob", "Miller Jr.")),  # the same generation
        (("Amartya", "Sen"), ("Amartya", "Sen")),  # a surname, not "senior"
    ],
)
def test_names_that_are_one_name(a: tuple[str, str], b: tuple[str, str]) -> None:
    assert compare_names(Person(*a), Person(*b)).verdict == NameVerdict.same
    assert compare_names(Person(*b), Person(*a)).verdict == NameVerdict.same


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("R.", "Smith"), ("Robert", "Smith")),
        (("John", "Smith"), ("Joan", "Smith")),
        (("José", "García"), ("José", "García López")),
        ((None, "Smith"), ("John", "Smith")),
        (("Paul", "Pena"), ("Paula", "Pena")),  # usually two people: a person decides
        (("Louis", "Lopez"), ("Louise", "Lopez")),
        (("Maria", "Rossi"), ("Mario", "Rossi")),
        (("Christina", "Berg"), ("Christine", "Berg")),
        (("Jan", "Braun"), ("Jana", "Braun")),
        (("Gross", "Julia"), ("Julian", "Gross")),  # swapped and another letter
        (("Alexander", "Papas"), ("Alexandra", "Papas")),
        (("Robert", "Miller"), ("Robert", "Miller Jr.")),  # father and son
        (("James Jr.", "Walsh"), ("James", "Walsh")),
        (("William", "Carter II"), ("William", "Carter")),
    ],
)
def test_names_that_might_be_one_name(a: tuple[str, str], b: tuple[str, str]) -> None:
    assert compare_names(Person(*a), Person(*b)).verdict == NameVerdict.near


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("Mary", "Smith"), ("John", "Smith")),  # colleagues with one surname
        (("John", "Smith"), ("John", "Jones")),
        (("Mary", "Jones"), ("John", "Smith")),
    ],
)
def test_names_of_different_people(a: tuple[str, str], b: tuple[str, str]) -> None:
    assert compare_names(Person(*a), Person(*b)).verdict == NameVerdict.different


def test_no_name_is_unknown() -> None:
    assert compare_names(Person(), Person("John", "Smith")).verdict == NameVerdict.unknown


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("shop.acme.co.uk", "acme.co.uk"),
        ("acme.co.uk", "acme.co.uk"),
        ("mail.acme.com.au", "acme.com.au"),
        ("a.b.acme.co.jp", "acme.co.jp"),
        ("eu.acme.com", "acme.com"),
        ("ACME.DE.", "acme.de"),
    ],
)
def test_the_registrable_domain_is_right_for_multi_part_suffixes(host: str, expected: str) -> None:
    assert registrable_domain(host) == expected


def test_subdomains_of_one_company_are_the_same_company() -> None:
    a = Person("Bob", "Smith", None, "shop.acme.co.uk")
    b = Person("Robert", "Smith", None, "acme.co.uk")
    assert compare_companies(a, b).verdict == "same"


@pytest.mark.parametrize("domain", sorted(FREE_MAIL_DOMAINS))
def test_free_mail_is_never_one_company(domain: str) -> None:
    a, b = Person("John", "Smith", None, domain), Person("John", "Smith", None, domain)
    assert compare_companies(a, b).verdict == "unknown"
    assert decide_match(a, [(L1, b, frozenset())]).verdict == Verdict.separate


def test_legal_forms_are_folded() -> None:
    a, b = Person(company="Acme GmbH & Co. KG"), Person(company="ACME")
    assert compare_companies(a, b).verdict == "same"


# --- decisions ------------------------------------------------------------------------


def test_a_nickname_at_the_same_company_domain_is_a_merge() -> None:
    found = decide_match(
        Person("Bob", "Smith", None, "acme.com"),
        [(L1, Person("Robert", "Smith", "Acme", "acme.com"), frozenset())],
    )
    assert found.verdict == Verdict.merge
    assert found.lead_id == L1
    assert found.best is not None and found.best.via == "name_company"


def test_an_initial_at_the_same_company_is_doubtful() -> None:
    found = decide_match(at_acme("R.", "Smith"), [(L1, at_acme("Robert", "Smith"), frozenset())])
    assert found.verdict == Verdict.review
    assert found.lead_id == L1


def test_the_same_name_at_another_company_is_a_new_lead() -> None:
    found = decide_match(
        Person("John", "Smith", "Globex", "globex.com"),
        [(L1, at_acme("John", "Smith"), frozenset())],
    )
    assert found.verdict == Verdict.separate
    assert found.lead_id is None
    assert len(found.weighed) == 1  # weighed, and found too weak


def test_colleagues_behind_one_switchboard_stay_apart() -> None:
    found = decide_match(
        at_acme("Mary", "Jones"),
        [(L1, at_acme("John", "Smith"), frozenset({SWITCHBOARD}))],
    )
    assert found.verdict == Verdict.separate
    assert "a lead of their own" in found.weighed[0].lines[-1]


def test_a_candidate_found_twice_is_weighed_once_with_its_key() -> None:
    found = decide_match(
        Person(None, None, None, None),
        [
            (L1, at_acme("John", "Smith"), frozenset()),
            (L1, at_acme("John", "Smith"), frozenset({SWITCHBOARD})),
        ],
    )
    assert found.verdict == Verdict.merge
    assert len(found.weighed) == 1
    assert found.weighed[0].via == "phone"


def test_the_band_is_configurable_and_not_empty_by_default() -> None:
    policy = MatchPolicy()
    assert policy.review_at < policy.merge_at
    assert policy.verdict(0.7) == Verdict.review
    strict = MatchPolicy(merge_at=0.99, review_at=0.9)
    found = decide_match(
        at_acme("Bob", "Smith"), [(L1, at_acme("Robert", "Smith"), frozenset())], strict
    )
    assert found.verdict == Verdict.review
    with pytest.raises(ValueError, match="review_at"):
        MatchPolicy(merge_at=0.5, review_at=0.8)


def test_the_most_confident_wins_then_a_key_then_the_lowest_id() -> None:
    people = [
        (L3, at_acme("John", "Smith"), frozenset()),
        (L2, at_acme("John", "Smith"), frozenset({SWITCHBOARD})),
        (L1, at_acme("J.", "Smith"), frozenset()),
    ]
    found = decide_match(at_acme("John", "Smith"), people)
    assert found.lead_id == L2  # 1.0 by phone and agreeing names
    assert [e.lead_id for e in found.weighed] == [L2, L3, L1]


names = st.text(alphabet=st.characters(categories=["L"]), min_size=1, max_size=12)
people = st.builds(
    Person,
    st.none() | names,
    st.none() | names,
    st.none() | st.sampled_from(["Acme", "Acme Inc", "Globex", "Initech GmbH"]),
    st.none() | st.sampled_from(["acme.com", "shop.acme.com", "globex.com", "gmail.com"]),
)
keys = st.frozensets(st.sampled_from([SWITCHBOARD, ("email", "info@acme.com")]), max_size=2)


# a name part that folds to at least one word (some letters fold to nothing: no name at all)
named = names.filter(lambda n: bool(words_of(n)))


@given(named, named)
def test_a_person_always_merges_with_themself_at_their_company(first: str, last: str) -> None:
    me = at_acme(first, last)
    assert decide_match(me, [(L1, me, frozenset())]).verdict == Verdict.merge


@given(
    people,
    st.tuples(people, people, people),
    st.lists(st.tuples(st.sampled_from([0, 1, 2]), keys), max_size=6),
)
def test_the_decision_ignores_candidate_order(
    me: Person,
    leads: tuple[Person, Person, Person],
    found: list[tuple[int, frozenset[tuple[str, str]]]],
) -> None:
    ids = (L1, L2, L3)
    candidates = [(ids[i], leads[i], common) for i, common in found]
    assert decide_match(me, candidates) == decide_match(me, candidates[::-1])


@given(people, people, keys)
def test_names_that_clearly_differ_never_merge_on_a_shared_number(
    me: Person, other: Person, common: frozenset[tuple[str, str]]
) -> None:
    e = weigh(me, L1, other, common)
    if compare_names(me, other).verdict == NameVerdict.different:
        assert e.verdict == Verdict.separate
    assert 0.0 <= e.confidence <= 1.0


@given(people, people)
def test_name_comparison_is_symmetric(a: Person, b: Person) -> None:
    assert compare_names(a, b).verdict == compare_names(b, a).verdict

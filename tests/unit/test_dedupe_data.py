"""The dedupe benchmark's generated people: deterministic, every kind present, forms that
ingest accepts, and labels that are the truth (look-alikes really look alike)."""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations

import pytest

from services.ingest.leads.schemas import validate_lead
from shared.domain.contact import canonical_email
from tests.bench.dedupe import prf
from tests.bench.dedupe_data import (
    ALL_PAIR_KINDS,
    APART_KINDS,
    FRESH_CONTACT_KINDS,
    SAME_KINDS,
    Dataset,
    generate,
    transliterations,
)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return generate(people=200, seed=7)


def _identities(form: dict[str, object]) -> set[tuple[str, str]]:
    lead = validate_lead(form)
    out = set()
    if lead.email:
        out.add(("email", canonical_email(lead.email)))
    if lead.phone:
        out.add(("phone", lead.phone))
    return out


def test_the_same_seed_gives_the_same_dataset(data: Dataset) -> None:
    again = generate(people=200, seed=7)
    assert again.people == data.people
    assert again.companies == data.companies
    assert again.submissions == data.submissions
    assert again.groups == data.groups
    other = generate(people=200, seed=8)
    assert [s.form for s in other.submissions] != [s.form for s in data.submissions]


def test_every_kind_is_there(data: Dataset) -> None:
    assert {s.kind for s in data.submissions} == {"first", *SAME_KINDS}
    assert {kind for kind, _ in data.groups.values()} == set(APART_KINDS)
    subs = data.submissions
    found = set()
    for a, b in combinations(subs, 2):
        found.add(data.pair_kind(a, b))
        if len(found) == len(ALL_PAIR_KINDS):
            break
    assert found == set(ALL_PAIR_KINDS)


def test_most_people_submit_one_to_three_times(data: Dataset) -> None:
    per_person = defaultdict(int)
    for s in data.submissions:
        per_person[s.person] += 1
    assert len(per_person) == len(data.people) == 200
    assert sum(1 for n in per_person.values() if n <= 3) / len(per_person) > 0.6
    assert [s.at for s in data.submissions] == sorted(s.at for s in data.submissions)
    assert all(s.kind == "first" for s in _firsts(data).values())


def _firsts(data: Dataset) -> dict[int, object]:
    firsts = {}
    for s in data.submissions:
        firsts.setdefault(s.person, s)
    return firsts


def test_ingest_accepts_every_form_and_phones_normalize_to_the_same_number(
    data: Dataset,
) -> None:
    by_person = defaultdict(list)
    for s in data.submissions:
        lead = validate_lead(s.form)  # raises when ingest would reject the form
        assert lead.email or lead.phone
        by_person[s.person].append((s, lead))
    for subs in by_person.values():
        _, first = subs[0]
        for s, lead in subs[1:]:
            if s.kind in ("phone_format",) or (
                s.kind == "phone_only" and s.detail == "known phone"
            ):
                assert lead.phone == first.phone  # another format, same E.164
                assert lead.email is None or lead.email != first.email  # the phone decides
            if s.kind in ("exact_repeat", "email_case_dots_plus") and first.email:
                assert lead.email is not None
                if s.detail in ("upper case", "gmail dots moved", "gmail plus tag"):
                    assert canonical_email(lead.email) == canonical_email(first.email)


def test_name_and_company_variants_carry_a_contact_never_used_before(data: Dataset) -> None:
    used: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for s in data.submissions:
        ids = _identities(s.form)
        if s.kind in FRESH_CONTACT_KINDS:
            assert ids and not ids & used[s.person], (s.kind, s.detail, s.form)
        used[s.person] |= ids


def test_variants_change_what_they_say(data: Dataset) -> None:
    firsts = _firsts(data)
    for s in data.submissions:
        first = firsts[s.person].form  # type: ignore[attr-defined]
        person = data.people[s.person]
        if s.kind == "swapped_name":
            assert (s.form["first_name"], s.form["last_name"]) == (person.last, person.first)
        elif s.kind == "diacritics":
            changed = [p for p in ("first_name", "last_name") if s.form[p] != first[p]]
            assert len(changed) == 1 and s.form[changed[0]] in transliterations(first[changed[0]])
        elif s.kind in ("name_typo", "nickname"):
            assert (s.form["first_name"], s.form["last_name"]) != (first["first_name"], first["last_name"])  # fmt: skip
        elif s.kind in ("company_written_differently", "legal_suffix"):
            assert s.form["company"] != first["company"]
        elif s.kind == "subdomain":
            domain = data.companies[person.company].domain
            assert validate_lead(s.form).company_domain.endswith("." + domain)  # type: ignore[union-attr]
            assert validate_lead(first).company_domain == domain


def test_look_alikes_look_alike_and_the_rest_do_not(data: Dataset) -> None:
    firsts = _firsts(data)
    for kind, members in data.groups.values():
        people = [data.people[i] for i in members]
        forms = [validate_lead(firsts[i].form) for i in members]  # type: ignore[attr-defined]
        assert len(members) >= 2
        if kind == "shared_number":
            assert len({f.phone for f in forms}) == 1 and forms[0].phone
            assert len({(p.first, p.last) for p in people}) == len(people)
        elif kind == "role_address":
            assert len({f.email for f in forms}) == 1
            assert forms[0].email.split("@")[0] in ("info", "sales", "contact", "office", "hello", "team", "marketing", "admin")  # type: ignore[union-attr]  # fmt: skip
        elif kind == "same_name_other_company":
            assert len({(p.first, p.last) for p in people}) == 1
            assert len({p.company for p in people}) == len(people)
        elif kind == "same_surname_colleagues":
            assert len({p.last for p in people}) == 1 and len({p.company for p in people}) == 1
            assert len({p.first for p in people}) == len(people)
    # outside the groups: names unique, no shared surname at a company, no shared contact
    loners = [p for p in data.people if p.group is None]
    assert len({(p.first, p.last) for p in loners}) == len(loners)
    surnames = [(p.company, p.last) for p in data.people]
    for p in loners:
        assert surnames.count((p.company, p.last)) == 1
    owners: dict[tuple[str, str], set[int]] = defaultdict(set)
    for s in data.submissions:
        for key in _identities(s.form):
            owners[key].add(s.person)
    for key, who in owners.items():
        if len(who) > 1:
            groups = {data.people[i].group for i in who}
            assert len(groups) == 1 and None not in groups, key


def test_pairwise_precision_and_recall() -> None:
    truth = [1, 1, 1, 2, 2, 3]
    assert prf(["a", "a", "a", "b", "b", "c"], truth)["f1"] == 1.0
    split = prf(["a", "a", "x", "b", "b", "c"], truth)  # one of three submissions apart
    assert split["precision"] == 1.0 and split["recall"] == 0.5  # 2 of the 4 true pairs
    lumped = prf(["a", "a", "a", "a", "a", "c"], truth)  # two people in one lead
    assert lumped["recall"] == 1.0 and lumped["precision"] == 0.4  # 4 of 10 pairs

"""An admin's merges and splits as values: pure, fixture-free."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.router.domain.merge_split import (
    FieldsNotKept,
    LeadSide,
    NothingToMove,
    NotInPair,
    NotOnLead,
    StoredSubmission,
    WouldMoveAll,
    evidence_lines,
    identities_of,
    merge_leads,
    plan_split,
    rebuild,
    survivor_of,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
OLD, NEW = uuid.UUID(int=1), uuid.UUID(int=2)


def sub(
    n: int, fields: dict[str, Any] | None, *, channel: str = "web", source: str = "website"
) -> StoredSubmission:
    return StoredSubmission(
        submission_id=uuid.UUID(int=100 + n),
        fields=fields,
        source_id=source,
        channel=channel,
        received_at=T0 + timedelta(minutes=n),
    )


# --- survivor_of ----------------------------------------------------------------------------


def test_the_older_lead_survives_unless_the_admin_names_the_other():
    assert survivor_of(NEW, OLD, None) == (OLD, NEW)
    assert survivor_of(NEW, OLD, OLD) == (OLD, NEW)
    assert survivor_of(NEW, OLD, NEW) == (NEW, OLD)
    with pytest.raises(NotInPair):
        survivor_of(NEW, OLD, uuid.UUID(int=3))


# --- merge_leads ----------------------------------------------------------------------------


def side(lead_id: uuid.UUID, profile: dict[str, Any], **kw: Any) -> LeadSide:
    return LeadSide(
        id=lead_id,
        profile=profile,
        first_name=kw.get("first_name", profile.get("first_name")),
        last_name=kw.get("last_name", profile.get("last_name")),
        is_name=kw.get("is_name", False),
        last_activity_at=kw.get("last_activity_at"),
    )


def test_merging_fills_the_survivors_blanks_and_keeps_its_values():
    survivor = side(OLD, {"email": "r.smith@acme.example", "first_name": "R.", "last_name": "Smith",
                          "phone": None, "custom": {"plan": "pro"}}, first_name=None)  # fmt: skip
    merged = side(NEW, {"email": "robert@acme.example", "first_name": "Robert", "phone": "+4930123",
                        "custom": {"seats": "10"}}, last_activity_at=T0)  # fmt: skip
    result = merge_leads(survivor, merged)
    assert result.profile["email"] == "r.smith@acme.example"
    assert result.profile["phone"] == "+4930123"
    assert result.profile["custom"] == {"plan": "pro", "seats": "10"}
    assert result.first_name == "Robert"  # blank name column filled
    assert result.last_name == "Smith"
    assert "phone" in result.filled and "custom.seats" in result.filled
    assert {c.field for c in result.conflicts} == {"email", "first_name"}
    assert result.last_activity_at == T0


def test_a_merge_with_a_real_lead_is_no_longer_a_name():
    assert merge_leads(side(OLD, {}, is_name=True), side(NEW, {}, is_name=False)).is_name is False
    assert merge_leads(side(OLD, {}, is_name=True), side(NEW, {}, is_name=True)).is_name is True


def test_evidence_lines_of_a_doubtful_match_and_of_a_rep_report():
    doubtful = {"confidence": 0.7, "lines": ["initial R. ~ Robert", "same domain acme.example"]}
    assert evidence_lines("doubtful_match", doubtful, NEW, OLD) == doubtful["lines"]
    rep = {"reported_by": "crm", "rep_id": "rep-a", "occurred_at": "2026-12-01T09:00:00+00:00"}
    (line,) = evidence_lines("rep_marked", rep, NEW, OLD)
    assert line.startswith(f"rep-a marked lead {NEW} a duplicate of lead {OLD}")
    assert "crm" in line and "2026-12-01" in line
    assert evidence_lines("other", {}, NEW, OLD) == [f"other: lead {NEW} may be lead {OLD}"]


def test_the_evidence_lines_of_a_doubtful_match_are_those_of_the_lead_it_may_be():
    weighed = {
        "verdict": "review",
        "lead_id": str(OLD),
        "weighed": [
            {"lead_id": str(uuid.UUID(int=7)), "confidence": 0.9, "via": "phone", "lines": ["x"]},
            {"lead_id": str(OLD), "confidence": 0.7, "via": "name_company",
             "lines": ["names near: initial R. ~ Robert", "company same: acme.example"]},
        ],
    }  # fmt: skip
    assert evidence_lines("doubtful_match", weighed, NEW, OLD) == [
        "confidence 0.7 via name_company",
        "names near: initial R. ~ Robert",
        "company same: acme.example",
    ]


# --- rebuild and plan_split -----------------------------------------------------------------


def test_a_lead_is_its_submissions_folded_in_received_order():
    later = sub(2, {"email": "b@acme.example", "first_name": "Bob", "job_title": "CTO"})
    first = sub(1, {"email": "a@acme.example", "first_name": None, "last_name": "Stone",
                    "company": "Acme Inc"}, channel="trade_show", source="expo")  # fmt: skip
    lead = rebuild([later, first])
    assert lead.profile["email"] == "a@acme.example"  # the first value wins
    assert lead.profile["job_title"] == "CTO" and lead.first_name == "Bob"
    assert (lead.source_id, lead.channel, lead.received_at) == (
        "expo",
        "trade_show",
        first.received_at,
    )
    assert lead.company_key == "name:acme"
    assert lead.is_name is False
    assert rebuild([sub(1, {}, channel="purchased_list")]).is_name is True


def test_identities_are_the_canonical_email_and_the_phone_as_stored():
    fields = {"email": "John.Smith+x@GoogleMail.com", "phone": "+14155550100"}
    assert identities_of(fields) == (("email", "johnsmith@gmail.com"), ("phone", "+14155550100"))
    assert identities_of({"email": None, "phone": ""}) == ()


def test_a_split_moves_what_only_the_moved_submissions_carry_and_shares_the_rest():
    # two colleagues behind one switchboard and one team address, merged by mistake
    ann = sub(1, {"email": "ann@acme.example", "phone": "+442079460000", "first_name": "Ann",
                  "last_name": "Lee", "company": "Acme"})  # fmt: skip
    team = sub(2, {"email": "team@acme.example", "first_name": "Ann"})
    bob = sub(3, {"email": "bob@acme.example", "phone": "+442079460000", "first_name": "Bob",
                  "last_name": "Ray", "company": "Acme"})  # fmt: skip
    bob_team = sub(4, {"email": "team@acme.example", "first_name": "Bob", "job_title": "CFO"})
    held = {
        ("email", "ann@acme.example"),
        ("email", "bob@acme.example"),
        ("email", "team@acme.example"),
        ("phone", "+442079460000"),
    }
    plan = plan_split([ann, team, bob, bob_team], [bob_team.submission_id, bob.submission_id], held)
    assert plan.moved == (bob.submission_id, bob_team.submission_id)  # received order
    assert plan.kept == (ann.submission_id, team.submission_id)
    assert plan.move_identities == (("email", "bob@acme.example"),)
    assert plan.shared_identities == (("email", "team@acme.example"), ("phone", "+442079460000"))
    assert plan.shared_emails == (("email", "team@acme.example"),)
    assert (plan.new_lead.first_name, plan.new_lead.last_name) == ("Bob", "Ray")
    assert plan.new_lead.profile["job_title"] == "CFO"
    assert plan.new_lead.received_at == bob.received_at
    assert (plan.old_lead.first_name, plan.old_lead.profile.get("job_title")) == ("Ann", None)


def test_an_identity_the_lead_does_not_hold_goes_to_neither():
    a = sub(1, {"email": "a@x.example"})
    b = sub(2, {"email": "b@x.example", "phone": "+4930111"})
    plan = plan_split(
        [a, b], [b.submission_id], {("email", "a@x.example"), ("email", "b@x.example")}
    )
    assert plan.move_identities == (("email", "b@x.example"),)
    assert plan.shared_identities == ()


def test_a_split_is_refused_when_it_cannot_be_done():
    a, b = sub(1, {"email": "a@x.example"}), sub(2, {"email": "b@x.example"})
    with pytest.raises(NothingToMove):
        plan_split([a, b], [], set())
    with pytest.raises(NotOnLead) as not_on:
        plan_split([a, b], [uuid.UUID(int=9)], set())
    assert not_on.value.submission_ids == (uuid.UUID(int=9),)
    with pytest.raises(WouldMoveAll):
        plan_split([a, b], [a.submission_id, b.submission_id, a.submission_id], set())
    old = sub(0, None)
    with pytest.raises(FieldsNotKept) as no_fields:
        plan_split([old, a, b], [b.submission_id], set())
    assert no_fields.value.submission_ids == (old.submission_id,)


# --- properties -----------------------------------------------------------------------------

VALUES = st.one_of(st.none(), st.sampled_from(["", "Acme", "ACME ", "Beta", "x"]))
FIELDS = st.fixed_dictionaries(
    {"first_name": VALUES, "last_name": VALUES, "company": VALUES, "job_title": VALUES},
    optional={
        "email": st.sampled_from(["a@x.example", "b@x.example", "A@X.example", "c@y.example"]),
        "phone": st.sampled_from(["+4930111", "+4930222"]),
    },
)
SUBMISSIONS = st.lists(FIELDS, min_size=2, max_size=6).map(
    lambda fs: [sub(i, f, channel="web" if i % 2 else "purchased_list") for i, f in enumerate(fs)]
)


@given(SUBMISSIONS, st.randoms(use_true_random=False))
def test_rebuilding_does_not_depend_on_the_order_submissions_are_given_in(subs, rnd):
    shuffled = list(subs)
    rnd.shuffle(shuffled)
    assert rebuild(shuffled) == rebuild(subs)


@given(SUBMISSIONS, st.data())
def test_a_split_partitions_submissions_and_identities(subs, data):
    n = data.draw(st.integers(min_value=1, max_value=len(subs) - 1))
    move = [s.submission_id for s in data.draw(st.permutations(subs))[:n]]
    every = {k for s in subs for k in identities_of(s.fields or {})}
    held = set(data.draw(st.lists(st.sampled_from(sorted(every)), unique=True))) if every else set()
    plan = plan_split(subs, move, held)
    assert set(plan.moved) == set(move) and set(plan.kept).isdisjoint(move)
    assert set(plan.moved) | set(plan.kept) == {s.submission_id for s in subs}
    kept = {k for s in subs if s.submission_id in plan.kept for k in identities_of(s.fields or {})}
    moved = {
        k for s in subs if s.submission_id in plan.moved for k in identities_of(s.fields or {})
    }
    assert set(plan.move_identities).isdisjoint(plan.shared_identities)
    assert set(plan.move_identities) == (moved - kept) & held  # the old lead keeps none of these
    assert set(plan.shared_identities) == moved & kept & held
    assert set(plan.new_lead_identities) <= held
    # each side is what its own submissions alone would make
    assert plan.new_lead == rebuild([s for s in subs if s.submission_id in plan.moved])
    assert plan.old_lead == rebuild([s for s in subs if s.submission_id in plan.kept])

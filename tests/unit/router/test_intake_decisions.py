"""Whole decisions as values: a batch of arrivals decided against loaded state, no I/O."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.router.domain.assignment import Rep, RoutingRule, Team, took_lead
from services.router.domain.business_hours import WorkingHours
from services.router.domain.caps import PeriodCounts
from services.router.domain.holiday_calendar import HolidayCalendar
from services.router.domain.intake import (
    Arrival,
    BatchState,
    Config,
    LeadRow,
    ShowRef,
    decide_batch,
    teams_touched,
)
from services.router.domain.scoring import load_scoring_rules

RULES = load_scoring_rules(Path(__file__).parents[3] / "deploy" / "config" / "scoring.yaml")
NOW = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)  # a Wednesday
CONFIG = Config(
    rules=RULES,
    routing_rules=(RoutingRule(name="everyone", team_id="sales"),),
    follow_the_sun=(),
    fallback_queue="unassigned",
)
QUALIFIED: dict[str, Any] = {
    "job_title": "VP of Sales",
    "company_size": "201-500",
    "industry": "Software",
    "country": "US",
    "message": "We need a demo for 40 seats this quarter",
}


def sales_team() -> dict[str, Team]:
    return {"sales": Team(id="sales", name="Sales")}


def reps(weights: dict[str, int], capacity: int = 10_000) -> dict[str, Rep]:
    return {
        rep_id: Rep(id=rep_id, team_id="sales", name=rep_id, weight=w, capacity=capacity)
        for rep_id, w in weights.items()
    }


def empty_state(**overrides: Any) -> BatchState:
    values: dict[str, Any] = {
        "identities": {},
        "candidates": {},
        "leads": {},
        "activities": {},
        "clocks": {},
        "teams": sales_team(),
        "team_timezones": {"sales": "UTC"},
        "reps": reps({"a": 3, "b": 2, "c": 1}),
    }
    values.update(overrides)
    return BatchState(**values)


def arrival(n: int = 0, **fields: Any) -> Arrival:
    incoming = {
        "email": f"person{n}@acme{n}.com",
        "first_name": "Pat",
        "last_name": f"Lee{n}",
        "company": f"Acme {n}",
        "company_domain": f"acme{n}.com",
        **QUALIFIED,
    }
    show = fields.pop("trade_show", None)
    incoming.update(fields)
    return Arrival(
        event_id=str(uuid.uuid4()),
        submission_id=uuid.uuid4(),
        source_id="website",
        channel="trade_show" if show else "web",
        purchased_list=False,
        received_at=NOW - timedelta(seconds=2),
        incoming={k: v for k, v in incoming.items() if v is not None},
        trade_show=show,
    )


def test_the_same_new_person_twice_in_one_batch_is_one_lead_back_to_its_owner() -> None:
    first = arrival(1)
    again = arrival(1, email="PERSON1@acme1.com", phone="+14155550123")
    out = decide_batch(empty_state(), [first, again], CONFIG, NOW)
    assert len(out.created) == 1
    (lead_id,) = out.created
    assert [s.matched_by for s in out.submissions] == ["new", "email"]
    assert {s.lead_id for s in out.submissions} == {lead_id}
    first_decision, second = out.assignments
    assert first_decision.outcome == "assigned" and first_decision.ended_at == NOW
    assert second.kind == "sticky" and second.rep_id == first_decision.rep_id
    assert second.ended_at is None
    # the phone the second form added is claimed by the same lead, once
    assert sorted(k for k, _, owner in out.identities if owner == lead_id) == ["email", "phone"]
    assert out.open_lead_deltas == {first_decision.rep_id: 1}
    assert out.end_assignments_of == set()  # nothing stored to end: the lead is new


def test_each_decision_carries_its_own_submissions_consent_not_the_profiles() -> None:
    first = arrival(3, marketing_consent=False)
    again = arrival(3, marketing_consent=True)
    silent = arrival(3)
    out = decide_batch(empty_state(), [first, again, silent], CONFIG, NOW)
    assert len(out.created) == 1
    assert [e.marketing_consent for e in out.emits] == [False, True, None]
    assert out.emits[1].lead.profile["marketing_consent"] is False  # the profile keeps the first


def test_a_typod_name_at_the_same_company_in_one_batch_merges() -> None:
    first = arrival(2, email=None, first_name="Katherine", last_name="Johnson")
    twin = arrival(2, email=None, first_name="Katherine", last_name="Jonson")
    out = decide_batch(empty_state(), [first, twin], CONFIG, NOW)
    assert len(out.created) == 1
    assert out.submissions[1].matched_by == "name_company"


SWITCHBOARD = "+442079460000"


def test_colleagues_behind_one_switchboard_are_two_leads_and_both_keep_the_number() -> None:
    john = arrival(3, email="john.smith@acme3.com", first_name="John", last_name="Smith")
    mary = arrival(3, email="mary.jones@acme3.com", first_name="Mary", last_name="Jones")
    john = replace(john, incoming={**john.incoming, "phone": SWITCHBOARD})
    mary = replace(mary, incoming={**mary.incoming, "phone": SWITCHBOARD})
    out = decide_batch(empty_state(), [john, mary], CONFIG, NOW)
    assert len(out.created) == 2
    assert [a.outcome for a in out.assignments] == ["assigned", "assigned"]
    holders = [
        lead for kind, value, lead in out.identities if (kind, value) == ("phone", SWITCHBOARD)
    ]
    assert sorted(holders) == sorted(out.created)
    assert out.submissions[1].matched_by == "new"
    assert "weighed and found too weak" in out.submissions[1].detail
    assert out.merges == [] and out.reviews == []


def test_a_number_many_people_use_stops_being_a_key_and_is_counted_once() -> None:
    people = [("John", "Smith"), ("Mary", "Jones"), ("Ali", "Khan"), ("Eva", "Berg")]
    arrivals = [
        replace(a, incoming={**a.incoming, "phone": SWITCHBOARD})
        for a in (
            arrival(4, email=f"{f}@acme4.com".lower(), first_name=f, last_name=last)
            for f, last in people
        )
    ]
    nameless = arrival(4, email=None, first_name=None, last_name=None, phone=SWITCHBOARD)
    state = empty_state()
    out = decide_batch(state, [*arrivals, nameless], CONFIG, NOW)
    assert len(out.created) == 5  # the nameless one matches nobody: the number is shared
    assert [(r.kind, r.value, r.lead_count) for r in out.shared_identities] == [
        ("phone", SWITCHBOARD, 3)
    ]
    assert ("phone", SWITCHBOARD) in state.shared


def test_a_nameless_form_on_a_number_two_people_hold_is_doubtful() -> None:
    john = arrival(9, email="john@acme9.com", first_name="John", last_name="Smith")
    mary = arrival(9, email="mary@acme9.com", first_name="Mary", last_name="Jones")
    nameless = arrival(9, email=None, first_name=None, last_name=None)
    john, mary, nameless = (
        replace(a, incoming={**a.incoming, "phone": SWITCHBOARD}) for a in (john, mary, nameless)
    )
    out = decide_batch(empty_state(), [john, mary, nameless], CONFIG, NOW)
    assert len(out.created) == 3  # not merged into one of them at random
    (review,) = out.reviews
    assert review.other_lead_id in {out.submissions[0].lead_id, out.submissions[1].lead_id}
    assert "ambiguous" in out.submissions[2].detail


def test_robert_then_bob_at_the_same_company_is_one_lead_and_the_merge_is_published() -> None:
    robert = arrival(5, email="robert@acme5.com", first_name="Robert", last_name="Smith")
    bob = arrival(5, email="bob.smith@acme5.com", first_name="Bob", last_name="Smith")
    out = decide_batch(empty_state(), [robert, bob], CONFIG, NOW)
    assert len(out.created) == 1
    assert out.submissions[1].matched_by == "name_company"
    (merge,) = out.merges
    assert merge.submission_id == bob.submission_id
    assert merge.lead_id == out.submissions[0].lead_id
    assert ("email", "bob.smith@acme5.com") in merge.identities
    assert any("nicknames" in line for line in merge.lines)


def test_a_doubtful_match_is_a_new_lead_marked_for_review() -> None:
    robert = arrival(6, email="robert@acme6.com", first_name="Robert", last_name="Smith")
    initial = arrival(6, email="rs@acme6.com", first_name="R.", last_name="Smith")
    out = decide_batch(empty_state(), [robert, initial], CONFIG, NOW)
    assert len(out.created) == 2
    (review,) = out.reviews
    assert review.other_lead_id == out.submissions[0].lead_id
    assert review.lead_id == out.submissions[1].lead_id
    assert review.evidence["verdict"] == "review"
    new_lead = out.leads[review.lead_id]
    assert new_lead.duplicate_of == review.other_lead_id
    assert out.submissions[1].detail.startswith("possible duplicate of lead")
    assert out.emits[1].lead.duplicate_of == review.other_lead_id


def test_weighted_round_robin_over_a_batch_is_exact() -> None:
    out = decide_batch(empty_state(), [arrival(n) for n in range(60)], CONFIG, NOW)
    shares = Counter(a.rep_id for a in out.assignments)
    assert shares == {"a": 30, "b": 20, "c": 10}
    assert sum(out.open_lead_deltas.values()) == 60
    assert out.teams_changed == {"sales"}


def test_capacity_counts_inside_the_batch() -> None:
    state = empty_state(reps=reps({"a": 1, "b": 1}, capacity=2))
    out = decide_batch(state, [arrival(n) for n in range(6)], CONFIG, NOW)
    assert [a.outcome for a in out.assignments] == ["assigned"] * 4 + ["queued"] * 2
    assert out.open_lead_deltas == {"a": 2, "b": 2}


def test_names_and_unqualified_leads_stay_with_nurture_and_change_no_team() -> None:
    cold = arrival(3, job_title="Student", company_size="1-10", message=None)
    name = arrival(4)
    name = replace(name, purchased_list=True, channel="purchased_list")
    out = decide_batch(empty_state(), [cold, name], CONFIG, NOW)
    assert [a.outcome for a in out.assignments] == ["nurture", "nurture"]
    assert out.teams_changed == set() and out.clocks == {}


def test_a_trade_show_lead_starts_its_clock_at_monday_0800_local() -> None:
    show = ShowRef(
        show_id="saastr",
        name="SaaStr",
        end_date=date(2026, 12, 2),  # a Wednesday, today
        timezone="America/Los_Angeles",
        import_id=uuid.uuid4(),
        row_number=1,
    )
    berlin = arrival(5, trade_show=show, timezone="Europe/Berlin")
    nowhere = arrival(6, trade_show=show)
    out = decide_batch(empty_state(), [berlin, nowhere], CONFIG, NOW)
    starts = {c.lead_id: c.started_at for c in out.clocks.values()}
    lead_of = {s.submission_id: s.lead_id for s in out.submissions}
    assert starts[lead_of[berlin.submission_id]] == datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
    assert starts[lead_of[nowhere.submission_id]] == datetime(2026, 12, 7, 16, 0, tzinfo=UTC)


def test_a_known_converted_lead_is_merged_but_not_routed() -> None:
    lead_id = uuid.uuid4()
    known = LeadRow(
        id=lead_id, status="converted", is_name=False, profile={"email": "won@acme7.com"},
        first_name=None, last_name=None, company_key="acme7.com", source_id="website",
        channel="web", received_at=NOW - timedelta(days=30), score=60, temperature="hot",
        stage="sql", score_breakdown={}, owner_rep_id="a", team_id="sales", queue=None,
        first_touch_at=None, last_activity_at=None, created_at=NOW - timedelta(days=30),
        updated_at=NOW - timedelta(days=30),
    )  # fmt: skip
    state = empty_state(identities={("email", "won@acme7.com")}, leads={lead_id: known})
    state.identities = {("email", "won@acme7.com"): [lead_id]}
    out = decide_batch(state, [arrival(7, email="won@acme7.com", city="Boston")], CONFIG, NOW)
    assert out.assignments == [] and out.emits == []
    assert out.leads[lead_id].profile["city"] == "Boston"


def _known(status: str, email: str, **fields: Any) -> LeadRow:
    values: dict[str, Any] = dict(
        id=uuid.uuid4(), status=status, is_name=False, profile={"email": email, **QUALIFIED},
        first_name="Pat", last_name="Lee", company_key=None, source_id="website", channel="web",
        received_at=NOW - timedelta(days=60), score=40, temperature="warm", stage="mql",
        score_breakdown={}, owner_rep_id=None, team_id="sales", queue=None, first_touch_at=None,
        last_activity_at=None, created_at=NOW - timedelta(days=60),
        updated_at=NOW - timedelta(days=60), lifecycle_stage="recycled",
        stage_entered_at=NOW - timedelta(days=10), last_owner_rep_id="b",
        recycled_at=NOW - timedelta(days=10),
    )  # fmt: skip
    values.update(fields)
    return LeadRow(**values)


def _state_with(lead: LeadRow, email: str) -> BatchState:
    state = empty_state(leads={lead.id: lead})
    state.identities = {("email", email): [lead.id]}
    return state


def test_a_recycled_lead_that_returns_sales_ready_goes_to_its_last_owner() -> None:
    lead = _known("recycled", "back@acme8.com")
    state = _state_with(lead, "back@acme8.com")
    out = decide_batch(state, [arrival(8, email="back@acme8.com")], CONFIG, NOW)
    (assignment,) = out.assignments
    assert (assignment.kind, assignment.rep_id) == ("sticky", "b")
    assert assignment.explanation["sticky"]["last_owner"] is True
    after = out.leads[lead.id]
    assert (after.status, after.owner_rep_id, after.lifecycle_stage) == ("assigned", "b", "mql")
    assert after.owned_since == NOW and out.open_lead_deltas == {"b": 1}
    (move,) = out.stage_moves
    assert (move.previous_stage, move.stage, move.left_entered_at) == (
        "recycled",
        "mql",
        NOW - timedelta(days=10),
    )


def test_a_recycled_lead_whose_last_owner_left_is_routed_by_the_rules() -> None:
    lead = _known("recycled", "rr@acme9.com")
    state = _state_with(lead, "rr@acme9.com")
    state.reps["b"] = Rep(id="b", team_id="sales", name="b", weight=2, capacity=10, active=False)
    out = decide_batch(state, [arrival(9, email="rr@acme9.com")], CONFIG, NOW)
    (assignment,) = out.assignments
    assert assignment.kind == "initial" and assignment.rep_id in ("a", "c")


def test_a_recycled_lead_that_returns_below_mql_stays_recycled() -> None:
    cold = {"job_title": "Intern", "company_size": "1-10", "industry": "Retail", "country": "US"}
    lead = _known("recycled", "cold@acme10.com", profile={"email": "cold@acme10.com", **cold})
    state = _state_with(lead, "cold@acme10.com")
    out = decide_batch(state, [arrival(10, email="cold@acme10.com", **cold)], CONFIG, NOW)
    (assignment,) = out.assignments
    assert assignment.outcome == "nurture"
    after = out.leads[lead.id]
    assert (after.status, after.lifecycle_stage) == ("recycled", "recycled")
    assert out.stage_moves == []


def test_an_opportunity_is_merged_but_not_routed_again() -> None:
    lead = _known("opportunity", "deal@acme11.com", owner_rep_id="a", lifecycle_stage="opportunity")
    state = _state_with(lead, "deal@acme11.com")
    out = decide_batch(state, [arrival(11, email="deal@acme11.com", city="Porto")], CONFIG, NOW)
    assert out.assignments == [] and out.open_lead_deltas == {}
    assert out.leads[lead.id].owner_rep_id == "a"
    assert out.leads[lead.id].profile["city"] == "Porto"


def test_new_leads_enter_their_first_stage_by_score() -> None:
    names = decide_batch(
        empty_state(), [arrival(12), arrival(13, job_title="Intern", company_size="1-10")],
        CONFIG, NOW,
    )  # fmt: skip
    stages = sorted((m.previous_stage, m.stage) for m in names.stage_moves)
    assert stages == [(None, "lead"), (None, "sql")] or stages == [(None, "lead"), (None, "mql")]
    assert {lead.lifecycle_stage for lead in names.leads.values()} == {
        m.stage for m in names.stage_moves
    }


people = st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(people)
def test_a_batch_decides_exactly_as_one_arrival_at_a_time(who: list[int]) -> None:
    """Batching is an optimisation only: the same arrivals one by one, each against the
    state the previous left, give the same leads, matches, owners and weights."""
    arrivals = [arrival(n) for n in who]
    ids = iter(uuid.UUID(int=i) for i in range(1, 10_000))
    batch_state = empty_state()
    batch = decide_batch(batch_state, arrivals, CONFIG, NOW, new_id=lambda: next(ids))

    ids = iter(uuid.UUID(int=i) for i in range(1, 10_000))
    one_state = empty_state()
    singles = [
        decide_batch(one_state, [a], CONFIG, NOW, new_id=lambda: next(ids)) for a in arrivals
    ]
    assert batch.submissions == [s for out in singles for s in out.submissions]
    assert [a.rep_id for a in batch.assignments] == [
        a.rep_id for out in singles for a in out.assignments
    ]
    assert batch_state.reps == one_state.reps
    assert batch_state.leads == one_state.leads
    assert len(batch.created) == len(set(who))


# --- period caps and holidays in a batch ---


def test_daily_caps_count_inside_the_batch_and_are_reported() -> None:
    capped = {
        "a": Rep(id="a", team_id="sales", name="a", weight=5, capacity=100, daily_cap=2),
        "b": Rep(id="b", team_id="sales", name="b", weight=1, capacity=100),
    }
    out = decide_batch(empty_state(reps=capped), [arrival(n) for n in range(5)], CONFIG, NOW)
    owners = [a.rep_id for a in out.assignments]
    assert owners.count("a") == 2 and owners.count("b") == 3
    today = NOW.date()
    assert out.period_counts == {
        "a": PeriodCounts(today, 2, date(2026, 11, 30), 2),
        "b": PeriodCounts(today, 3, date(2026, 11, 30), 3),
    }
    skipped = out.assignments[-1].explanation["teams_tried"][0]["candidates"]
    assert skipped[0]["reason"] == "at_daily_cap"
    assert skipped[0]["detail"] == "daily cap 2 reached: 2 new leads on 2026-12-02 in UTC"


def test_counts_of_another_day_start_again_and_a_sticky_lead_counts_nothing() -> None:
    yesterday = NOW.date() - timedelta(days=1)
    a = Rep(
        id="a", team_id="sales", name="a", weight=1, capacity=100, daily_cap=1,
        cap_day=yesterday, day_count=1, cap_week=date(2026, 11, 30), week_count=7,
    )  # fmt: skip
    first = arrival(1)
    again = arrival(1, city="Porto")  # the same person: sticky, no new lead for the rep
    out = decide_batch(empty_state(reps={"a": a}), [first, again], CONFIG, NOW)
    assert [x.kind for x in out.assignments] == ["initial", "sticky"]
    assert out.period_counts == {"a": PeriodCounts(NOW.date(), 1, date(2026, 11, 30), 8)}


def test_only_a_change_of_counts_still_touches_the_team() -> None:
    before = reps({"a": 1})
    after = {"a": took_lead(before["a"], NOW)}
    after["a"] = replace(after["a"], open_leads=before["a"].open_leads)  # counts alone differ
    assert teams_touched(before, after) == {"sales"}
    assert teams_touched(before, dict(before)) == set()


def test_an_sla_window_over_a_team_holiday_is_explained() -> None:
    germany = WorkingHours.parse("Europe/Berlin", {"mon-fri": "08:00-18:00"}, HolidayCalendar("DE"))
    teams = {"sales": Team(id="sales", name="Sales", hours=germany)}
    christmas = datetime(2026, 12, 25, 9, 0, tzinfo=UTC)  # 10:00 in Berlin, a Friday
    late = replace(arrival(8), received_at=christmas)
    out = decide_batch(empty_state(teams=teams), [late], CONFIG, christmas)
    (decision,) = out.assignments
    (clock,) = out.clocks.values()
    assert clock.due_at == datetime(2026, 12, 28, 8, 0, tzinfo=UTC)  # Monday 09:00 Berlin
    assert decision.explanation["sla"] == {
        "started_at": christmas.isoformat(),
        "due_at": clock.due_at.isoformat(),
        "holidays": [{"date": "2026-12-25", "name": "Christmas Day"}],
    }
    assert "the first-touch SLA skips Christmas Day (2026-12-25)" in decision.reason
    # an ordinary day: no "sla" entry
    plain = decide_batch(empty_state(teams=teams), [arrival(9)], CONFIG, NOW)
    assert "sla" not in plain.assignments[0].explanation


def test_a_lead_that_lacked_a_company_is_keyed_under_the_one_a_later_form_brings() -> None:
    phone_only = arrival(
        8, email=None, first_name=None, last_name=None, company=None, company_domain=None
    )
    phone_only = replace(phone_only, incoming={**phone_only.incoming, "phone": "+14155550188"})
    later = replace(
        arrival(8, email="pat@acme8.com"),
        incoming={**arrival(8, email="pat@acme8.com").incoming, "phone": "+14155550188"},
    )
    out = decide_batch(empty_state(), [phone_only, later], CONFIG, NOW)
    (lead,) = out.leads.values()
    assert out.submissions[1].matched_by == "phone"
    assert (lead.company_key, lead.company_name_key) == ("acme8.com", "name:acme8")

"""What a sales lifecycle change (``leads.lifecycle.v1``) does to a lead in nurture: the pure
rule (:func:`sales_effect`) per ``marketing`` value, and the whole decision on lead states
(remarket list, suppression, stop, still with sales, parked until the lead arrives)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from services.nurture.domain.intake import (
    Activity,
    BatchState,
    Event,
    SalesUpdate,
    advance,
    decide_batch,
)
from services.nurture.domain.policy import SalesChange, SalesEffect, sales_effect
from tests.unit.nurture.test_intake import (
    CONFIG,
    LEADS,
    NOW,
    _with_step_ids,
    assert_same_as_one_at_a_time,
    decided,
)

FREE = {"suppressed": False, "converted": False, "is_name": False}


def change(marketing: str, **kw: object) -> SalesChange:
    base: dict[str, object] = {"change": "status", "status": None, "reason": None}
    return SalesChange(marketing=marketing, **{**base, **kw})  # type: ignore[arg-type]


def sales(lead_id: uuid.UUID, n: int, marketing: str, **kw: object) -> SalesUpdate:
    base: dict[str, object] = dict(
        event_id=f"sales-{n}", ref=lead_id, change="status", status=None, reason=None,
        marketing=marketing, occurred_at=NOW, at=NOW,
    )  # fmt: skip
    return SalesUpdate(**{**base, **kw})  # type: ignore[arg-type]


# --- the rule ---


@pytest.mark.parametrize(
    ("c", "effect"),
    [
        (
            change("remarket", change="recycled", status="recycled", reason="inactive"),
            SalesEffect(with_sales=False, remarket="recycled by sales: not worked in time"),
        ),
        (
            change("remarket", change="recycled", status="recycled", reason="bad_timing"),
            SalesEffect(with_sales=False, remarket="recycled by sales: disqualified bad_timing"),
        ),
        (
            change("remarket", status="disqualified", reason="no_budget"),
            SalesEffect(with_sales=False, remarket="recycled by sales: disqualified no_budget"),
        ),
        (
            change("remarket", change="released", reason="rep_inactive"),
            SalesEffect(with_sales=False, remarket="released by sales: its rep is inactive"),
        ),
        (
            change("suppress", status="disqualified", reason="invalid_contact"),
            SalesEffect(with_sales=False, suppress="invalid_contact"),
        ),
        (
            change("stop", status="disqualified", reason="not_a_fit"),
            SalesEffect(with_sales=False, stop="closed by sales: disqualified not_a_fit"),
        ),
        (
            change("stop", status="converted"),
            SalesEffect(with_sales=False, stop="converted", converted=True),
        ),
        (
            change("none", status="converted"),
            SalesEffect(with_sales=False, stop="converted", converted=True),
        ),
        (change("none", status="working"), SalesEffect(with_sales=True)),
        (change("none", status="qualified"), SalesEffect(with_sales=True)),
        (change("none", change="released", reason="rep_away"), SalesEffect()),
        (change("none", change="stage"), SalesEffect()),
    ],
)
def test_what_each_marketing_value_does(c, effect):
    assert sales_effect(c, **FREE) == effect


@pytest.mark.parametrize("flag", ["suppressed", "converted", "is_name"])
def test_suppression_conversion_and_names_win_over_remarket(flag):
    c = change("remarket", change="recycled", status="recycled", reason="bad_timing")
    assert sales_effect(c, **{**FREE, flag: True}) == SalesEffect(with_sales=False)
    # and a rep working it does not make a suppressed lead, a customer or a name "with sales"
    assert sales_effect(change("none", status="working"), **{**FREE, flag: True}) == SalesEffect()


def test_suppress_and_stop_apply_whatever_the_lead_is():
    for flag in FREE:
        state = {**FREE, flag: True}
        assert sales_effect(change("suppress"), **state).suppress == "invalid_contact"
        assert sales_effect(change("stop", status="disqualified"), **state).stop is not None


# --- on lead states ---


def _with_sales(lead: uuid.UUID) -> BatchState:
    """A web lead handed to sales (hot): its welcome is paused by sales."""
    out = decide_batch(
        BatchState(), [decided(lead, 1, outcome="assigned", temperature="hot", stage="sql")],
        CONFIG, NOW,
    )  # fmt: skip
    state = _with_step_ids(advance(BatchState(), out))
    (book,) = state.leads.values()
    assert book.with_sales and {e.status for e in state.enrollments[lead]} == {"paused"}
    return state


def test_remarket_puts_the_lead_back_with_marketing_on_the_remarket_list():
    lead = LEADS[0]
    state = _with_sales(lead)
    later = NOW + timedelta(days=30)
    recycled = sales(lead, 1, "remarket", change="recycled", status="recycled",
                     reason="inactive", at=later)  # fmt: skip
    out = assert_same_as_one_at_a_time(state, [recycled])
    (after,) = out.changed_leads
    assert after.list_name == "remarket" and not after.with_sales
    assert after.list_reason == "recycled by sales: not worked in time"
    assert after.remarket_at == NOW and after.idle_since == NOW  # the remarket clock starts
    assert after.sales_status == "recycled" and after.sales_status_at == later
    # what sales had paused ends: idle from now, the sweep's re-engagement takes it from there
    assert {(e.status, e.reason) for e in out.changed_enrollments} == {
        ("stopped", "recycled by sales: not worked in time")
    }
    assert {s.state for s in out.changed_steps} == {"cancelled"}
    assert [(e.kind, e.list_name) for e in out.events] == [
        ("stopped", "active"),
        ("remarket", "remarket"),
    ]
    assert out.events[-1].reason == "recycled by sales: not worked in time"
    assert ("remarket", ("sales_recycled",)) in {(o.metric, o.labels) for o in out.observations}
    # a later engagement reactivates it, as any remarket lead
    click = Activity("activity-1", lead, "click", NOW)
    again = decide_batch(advance(state, out), [click], CONFIG, NOW)
    assert again.changed_leads[0].list_name == "active"
    assert [e.kind for e in again.events] == ["reactivated"]


def test_remarket_keeps_an_operators_pause_and_what_runs():
    lead = LEADS[0]
    out = decide_batch(BatchState(), [decided(lead, 1)], CONFIG, NOW)  # cold: welcome + drip
    state = _with_step_ids(advance(BatchState(), out))
    working = sales(lead, 1, "none", status="working")
    out = assert_same_as_one_at_a_time(state, [working])
    assert out.changed_leads[0].with_sales
    assert {(e.status, e.paused_by) for e in out.changed_enrollments} == {("paused", "sales")}
    state = _with_step_ids(advance(state, out))
    recycled = sales(lead, 2, "remarket", status="disqualified", reason="bad_timing")
    out = assert_same_as_one_at_a_time(state, [recycled])
    assert {e.status for e in out.changed_enrollments} == {"stopped"}
    assert out.changed_leads[0].list_name == "remarket"


def test_suppress_suppresses_the_lead_as_invalid_contact():
    lead = LEADS[0]
    state = _with_sales(lead)
    out = assert_same_as_one_at_a_time(
        state, [sales(lead, 1, "suppress", status="disqualified", reason="invalid_contact")]
    )
    (after,) = out.changed_leads
    assert after.suppressed == "invalid_contact" and not after.with_sales
    assert {(e.status, e.reason) for e in out.changed_enrollments} == {
        ("stopped", "suppressed: invalid_contact")
    }
    assert [e.kind for e in out.events] == ["stopped", "suppressed"]
    # the same (invalid) address in a later decision does not lift it; another one does
    state = _with_step_ids(advance(state, out))
    for n, email, suppressed in ((2, "ada@example.com", "invalid_contact"),
                                 (3, "ada.new@example.com", None)):  # fmt: skip
        out = decide_batch(state, [decided(lead, n, email=email)], CONFIG, NOW)
        assert advance(state, out).leads[lead].suppressed == suppressed


def test_stop_ends_every_open_enrollment_and_nothing_more_is_sent():
    lead = LEADS[0]
    state = _with_sales(lead)
    out = assert_same_as_one_at_a_time(
        state, [sales(lead, 1, "stop", status="disqualified", reason="competitor")]
    )
    (after,) = out.changed_leads
    assert not after.with_sales and after.list_name == "active" and after.suppressed is None
    assert {(e.status, e.reason) for e in out.changed_enrollments} == {
        ("stopped", "closed by sales: disqualified competitor")
    }
    assert {s.state for s in out.changed_steps} == {"cancelled"}


def test_none_keeps_what_nurture_knows_about_sales():
    lead = LEADS[0]
    state = _with_sales(lead)
    out = assert_same_as_one_at_a_time(state, [sales(lead, 1, "none", status="qualified")])
    (after,) = out.changed_leads
    assert after.with_sales and after.sales_status == "qualified"
    assert not out.changed_enrollments and not out.events  # still paused, nothing to say


def test_a_change_before_its_lead_is_parked_then_applied_when_the_decision_arrives():
    lead = LEADS[0]
    hot = decided(lead, 1, outcome="assigned", temperature="hot", stage="sql")
    recycled = sales(lead, 1, "remarket", change="recycled", status="recycled", reason="inactive")
    # in one batch
    out = assert_same_as_one_at_a_time(BatchState(), [recycled, hot])
    assert [a.what for a in out.applied] == ["parked_sales", "decided"]
    assert out.parked == () and out.created_leads[0].list_name == "remarket"
    # across batches: parked, then applied once
    first = decide_batch(BatchState(), [recycled], CONFIG, NOW)
    assert [p.event for p in first.parked] == [recycled] and not first.events
    state = advance(BatchState(), first)
    out = assert_same_as_one_at_a_time(state, [hot])
    assert out.unparked == ("sales-1",)
    assert out.created_leads[0].list_name == "remarket" and not out.created_leads[0].with_sales
    assert [e.kind for e in out.events][-1] == "remarket"
    assert advance(state, out).parked == {}


def test_parked_changes_apply_in_the_order_they_came():
    lead = LEADS[0]
    working = sales(lead, 1, "none", status="working")
    recycled = sales(lead, 2, "remarket", change="recycled", status="recycled", reason="inactive")
    state = advance(BatchState(), decide_batch(BatchState(), [working, recycled], CONFIG, NOW))
    out = decide_batch(state, [decided(lead, 1, outcome="assigned")], CONFIG, NOW)
    (after,) = out.created_leads
    assert after.list_name == "remarket" and not after.with_sales


def test_a_late_decision_does_not_undo_what_sales_reported_since():
    lead = LEADS[0]
    state = _with_sales(lead)
    later = NOW + timedelta(days=30)
    out = decide_batch(
        state, [sales(lead, 1, "remarket", change="recycled", reason="inactive", at=later)],
        CONFIG, NOW,
    )  # fmt: skip
    state = _with_step_ids(advance(state, out))
    # the hand-off decided before the recycling, delivered after it
    stale = decided(lead, 2, outcome="assigned", temperature="hot", stage="sql")
    out = decide_batch(state, [stale], CONFIG, NOW)
    assert all(not row.with_sales for row in out.changed_leads)
    assert "paused" not in [e.kind for e in out.events]
    # a decision after it hands the lead to sales again
    fresh = decided(lead, 3, outcome="assigned", temperature="hot", stage="sql",
                    decided_at=later + timedelta(days=1))  # fmt: skip
    out = decide_batch(state, [fresh], CONFIG, NOW)
    assert out.changed_leads[0].with_sales


def test_names_suppressed_and_converted_leads_are_not_remarketed():
    name, converted = LEADS[0], LEADS[1]
    events: list[Event] = [
        decided(name, 1, channel="purchased_list", purchased_list=True),
        decided(converted, 2, outcome="assigned"),
        Activity("activity-1", converted, "converted", NOW),
    ]
    state = _with_step_ids(advance(BatchState(), decide_batch(BatchState(), events, CONFIG, NOW)))
    recycle = [
        sales(ref, n, "remarket", change="recycled", reason="bad_timing")
        for n, ref in enumerate((name, converted))
    ]
    out = assert_same_as_one_at_a_time(state, recycle)
    assert {lead.list_name for lead in out.changed_leads} == {"active"}
    assert "remarket" not in [e.kind for e in out.events]


def test_sales_status_activities_have_no_effect_of_their_own():
    lead = LEADS[0]
    state = _with_sales(lead)
    kinds = ["working", "qualified", "disqualified"]
    out = decide_batch(state, [Activity(f"activity-{k}", lead, k, NOW) for k in kinds], CONFIG, NOW)
    assert [a.what for a in out.applied] == ["activity"] * 3
    assert not out.changed_leads and not out.changed_enrollments and not out.events


def test_a_reason_says_who_and_why_even_when_sales_gave_none():
    c = change("remarket", change="recycled", status="recycled")
    assert sales_effect(c, **FREE).remarket == "recycled by sales"
    assert sales_effect(change("stop"), **FREE).stop == "closed by sales"

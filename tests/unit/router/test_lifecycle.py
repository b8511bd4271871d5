"""The lifecycle rules: stage transitions, reported sales statuses, recycling, departures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.router.domain.lifecycle import (
    FUNNEL,
    LeadStatus,
    LeadView,
    Marketing,
    Report,
    SalesStatus,
    Stage,
    apply_report,
    away_too_long,
    due_for_recycling,
    occupies,
    recycle_idle,
    scored_stage,
)
from shared.dispositions import ReasonAction, load_dispositions

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
RANK = {s: i for i, s in enumerate(FUNNEL)}

stages = st.sampled_from(list(Stage))
scores = st.sampled_from(["none", "mql", "sql"])
statuses = st.sampled_from(list(LeadStatus))
sales = st.sampled_from(list(SalesStatus))
times = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
)


def lead(
    status: LeadStatus = LeadStatus.assigned,
    owner: str | None = "rep-ana",
    sales_status: SalesStatus | None = None,
    at: datetime | None = None,
    stage: Stage = Stage.sql,
) -> LeadView:
    return LeadView(status, owner, sales_status, at, stage)


def report(status: SalesStatus, at: datetime = NOW, reason: str | None = None) -> Report:
    action = load_dispositions().action(reason) if reason else None
    return Report(status, at, "crm", rep_id="rep-ana", reason=reason, action=action)


# --- stages -----------------------------------------------------------------------------


@given(stages, scores, st.booleans(), st.booleans())
def test_scoring_never_moves_a_lead_back_along_the_funnel(current, score, is_name, reopen):
    after = scored_stage(current, score, is_name=is_name, reopen=reopen)
    assert after in Stage
    if current in RANK and after in RANK:
        assert RANK[after] >= RANK[current]
    if current in RANK:
        assert after in RANK  # a funnel lead never becomes a name, recycled or disqualified
    if current in (Stage.opportunity, Stage.customer):
        assert after == current  # left to dispositions


@given(stages, scores, st.booleans(), st.booleans())
def test_scoring_is_idempotent(current, score, is_name, reopen):
    once = scored_stage(current, score, is_name=is_name, reopen=reopen)
    assert scored_stage(once, score, is_name=is_name, reopen=reopen) == once


@given(stages, st.booleans())
def test_decay_below_mql_never_demotes(current, reopen):
    assert scored_stage(current, "none", is_name=False, reopen=reopen) in (current, Stage.lead)
    if current != Stage.name:
        assert scored_stage(current, "none", is_name=False, reopen=reopen) == current


def test_stages_move_forward_with_the_score():
    assert scored_stage(Stage.lead, "mql", is_name=False) == Stage.mql
    assert scored_stage(Stage.mql, "sql", is_name=False) == Stage.sql
    assert scored_stage(Stage.sql, "mql", is_name=False) == Stage.sql
    assert scored_stage(Stage.name, "sql", is_name=True) == Stage.name
    assert scored_stage(Stage.name, "mql", is_name=False) == Stage.mql  # a real submission


def test_a_recycled_lead_comes_back_only_when_it_returns_and_scores_mql():
    assert scored_stage(Stage.recycled, "mql", is_name=False) == Stage.recycled
    assert scored_stage(Stage.recycled, "none", is_name=False, reopen=True) == Stage.recycled
    assert scored_stage(Stage.recycled, "mql", is_name=False, reopen=True) == Stage.mql
    assert scored_stage(Stage.disqualified, "sql", is_name=False, reopen=True) == Stage.sql


# --- reported statuses ------------------------------------------------------------------


@given(statuses, sales.filter(lambda s: s != SalesStatus.recycled), times, times)
def test_an_older_report_never_overrides_a_newer_one(status, reported, in_effect, at):
    current = lead(status=status, sales_status=SalesStatus.working, at=in_effect)
    reason = "bad_timing" if reported == SalesStatus.disqualified else None
    change = apply_report(current, report(reported, at, reason))
    if at < in_effect:
        assert not change.applied
        assert (change.status, change.stage, change.owner_rep_id) == (
            current.status,
            current.stage,
            current.owner_rep_id,
        )
        assert change.released_rep_id is None


@given(statuses, sales.filter(lambda s: s != SalesStatus.recycled), times)
def test_capacity_frees_only_from_a_lead_that_occupied_its_rep(status, reported, at):
    reason = "not_a_fit" if reported == SalesStatus.disqualified else None
    change = apply_report(lead(status=status), report(reported, at, reason))
    if change.released_rep_id is not None:
        assert occupies(status)
        assert not occupies(change.status)
    if change.applied and occupies(status) and not occupies(change.status):
        assert change.released_rep_id == "rep-ana"


def test_working_keeps_the_owner_and_counts_as_work():
    change = apply_report(lead(), report(SalesStatus.working))
    assert change.applied and change.touch
    assert (change.status, change.owner_rep_id, change.released_rep_id) == (
        LeadStatus.assigned,
        "rep-ana",
        None,
    )
    assert change.marketing == Marketing.none


def test_qualified_is_an_opportunity_outside_the_cap():
    change = apply_report(lead(), report(SalesStatus.qualified))
    assert change.status == LeadStatus.opportunity and change.stage == Stage.opportunity
    assert change.owner_rep_id == "rep-ana" and change.released_rep_id == "rep-ana"


def test_converted_is_a_customer_and_final():
    change = apply_report(lead(), report(SalesStatus.converted))
    assert change.status == LeadStatus.converted and change.stage == Stage.customer
    later = apply_report(
        lead(
            LeadStatus.converted, stage=Stage.customer, at=NOW, sales_status=SalesStatus.converted
        ),
        report(SalesStatus.disqualified, NOW + timedelta(days=1), "not_a_fit"),
    )
    assert not later.applied and later.stage == Stage.customer


@pytest.mark.parametrize(
    ("reason", "status", "stage", "marketing"),
    [
        ("bad_timing", LeadStatus.recycled, Stage.recycled, Marketing.remarket),
        ("no_budget", LeadStatus.recycled, Stage.recycled, Marketing.remarket),
        ("unresponsive", LeadStatus.recycled, Stage.recycled, Marketing.remarket),
        ("not_a_fit", LeadStatus.disqualified, Stage.disqualified, Marketing.stop),
        ("competitor", LeadStatus.disqualified, Stage.disqualified, Marketing.stop),
        ("invalid_contact", LeadStatus.disqualified, Stage.disqualified, Marketing.suppress),
        ("duplicate", LeadStatus.disqualified, Stage.disqualified, Marketing.stop),
    ],
)
def test_each_shipped_reason_does_what_the_file_says(reason, status, stage, marketing):
    change = apply_report(lead(), report(SalesStatus.disqualified, reason=reason))
    assert (change.status, change.stage, change.marketing) == (status, stage, marketing)
    assert change.owner_rep_id is None and change.released_rep_id == "rep-ana"
    assert change.recycled == (status == LeadStatus.recycled)
    assert reason in change.detail


def test_equal_times_apply_the_later_report():
    current = lead(sales_status=SalesStatus.working, at=NOW)
    assert apply_report(current, report(SalesStatus.qualified, NOW)).applied


def test_disqualified_needs_a_known_reason():
    with pytest.raises(ValueError, match="reason"):
        apply_report(lead(), Report(SalesStatus.disqualified, NOW, "crm", reason="nope"))


def test_the_shipped_dispositions_file_lists_the_reasons_of_the_issue():
    d = load_dispositions()
    assert {"not_a_fit", "no_budget", "bad_timing", "competitor", "invalid_contact",
            "duplicate", "unresponsive"} <= set(d.codes)  # fmt: skip
    assert d.action("bad_timing") == ReasonAction.recycle


# --- recycling and departures -----------------------------------------------------------


def test_recycling_frees_the_owner_and_goes_back_to_marketing():
    change = recycle_idle(lead(), days=30)
    assert change.status == LeadStatus.recycled and change.stage == Stage.recycled
    assert change.released_rep_id == "rep-ana" and change.owner_rep_id is None
    assert change.marketing == Marketing.remarket
    with pytest.raises(ValueError):
        recycle_idle(lead(status=LeadStatus.queued), days=30)


@given(times, st.integers(min_value=0, max_value=60), st.integers(min_value=1, max_value=90))
def test_recycling_is_due_after_the_owner_was_idle_that_long(since, idle_days, days):
    now = since + timedelta(days=idle_days)
    assert due_for_recycling(since, None, days, now) == (idle_days >= days)
    # getting the lead later restarts the clock
    assert due_for_recycling(since - timedelta(days=400), since, days, now) == (idle_days >= days)
    assert not due_for_recycling(None, None, days, now)


def test_away_too_long_only_counts_the_period_in_progress():
    week = (NOW - timedelta(days=1), NOW + timedelta(days=6))
    short = (NOW - timedelta(hours=2), NOW + timedelta(hours=20))
    assert away_too_long((week,), NOW, days=3) == week
    assert away_too_long((short,), NOW, days=3) is None
    assert away_too_long((week,), NOW - timedelta(days=2), days=3) is None  # not yet away

"""A batch of decisions and activities decided at once ends exactly as the same events
decided one transaction at a time (each against the state the one before left behind)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from services.nurture.domain.intake import (
    Activity,
    BatchOutcome,
    BatchState,
    Decided,
    Event,
    Merged,
    SalesUpdate,
    ShowRef,
    advance,
    decide_batch,
)
from services.nurture.sequences_file import load_sequences

CONFIG = load_sequences(Path(__file__).parents[3] / "deploy" / "config" / "nurture.yaml")
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # Tuesday 10:00 New York
LEADS = [uuid.UUID(int=n) for n in range(1, 4)]
SUBMISSIONS = [uuid.UUID(int=n) for n in range(101, 105)]


def decided(lead_id: uuid.UUID, n: int, **kw: object) -> Decided:
    base: dict[str, object] = dict(
        event_id=f"decision-{n}", lead_id=lead_id, submission_id=None, outcome="nurture",
        channel="web", purchased_list=False, temperature="cold", stage="none", decided_at=NOW,
        email="ada@example.com", phone=None, first_name="Ada", timezone="America/New_York",
        team_timezone=None,
    )  # fmt: skip
    return Decided(**{**base, **kw})  # type: ignore[arg-type]


def one_at_a_time(state: BatchState, events: list[Event]) -> tuple[BatchState, list[BatchOutcome]]:
    outs = []
    for ev in events:
        out = decide_batch(state, [ev], CONFIG, NOW)
        state = advance(state, out)
        outs.append(out)
    return state, outs


def canonical(state: BatchState) -> dict[str, object]:
    """The state as rows, independent of the order they were produced in."""
    return {
        "leads": dict(state.leads),
        "enrollments": {e for rows in state.enrollments.values() for e in rows},
        "steps": {s.key: s for rows in state.steps.values() for s in rows},
        "aliases": dict(state.aliases),
        "parked": {ref: list(rows) for ref, rows in state.parked.items() if rows},
    }


def assert_same_as_one_at_a_time(state: BatchState, events: list[Event]) -> BatchOutcome:
    out = decide_batch(state, events, CONFIG, NOW)
    after, outs = one_at_a_time(state, events)
    assert canonical(advance(state, out)) == canonical(after)
    assert list(out.events) == [ev for o in outs for ev in o.events]
    assert sorted(out.observations, key=repr) == sorted(
        (ob for o in outs for ob in o.observations), key=repr
    )
    assert [a.what for a in out.applied] == [a.what for o in outs for a in o.applied]
    assert list(out.consents) == [c for o in outs for c in o.consents]
    # each row is written once: as created (final values) or as changed
    for created, changed in (
        (out.created_leads, out.changed_leads),
        (out.created_enrollments, out.changed_enrollments),
    ):
        ids = [r.id for r in (*created, *changed)]
        assert len(ids) == len(set(ids))
    keys = [s.key for s in (*out.created_steps, *out.changed_steps)]
    assert len(keys) == len(set(keys))
    assert all(s.id is not None for s in out.changed_steps)
    return out


def test_consent_from_submissions_and_activities_and_the_country_of_the_lead():
    lead = LEADS[0]
    events: list[Event] = [
        Activity("unsub-0", SUBMISSIONS[0], "opt_in", NOW, consent_channel="sms"),  # parked
        decided(lead, 1, submission_id=SUBMISSIONS[0], country="de", timezone=None,
                marketing_consent=False),
        Activity("click-1", lead, "click", NOW, confirms_opt_in=True),
        Activity("unsub-1", lead, "unsubscribe", NOW),
        decided(LEADS[1], 2, submission_id=SUBMISSIONS[1], phone="+6561234567", timezone=None),
    ]  # fmt: skip
    out = assert_same_as_one_at_a_time(BatchState(), events)
    got = [
        (lead_id, c.channel, str(c.state), str(c.source), c.event_id) for lead_id, c in out.consents
    ]
    assert got == [
        (lead, "email", "denied", "form", "decision-1"),
        (lead, "sms", "denied", "form", "decision-1"),
        (lead, "sms", "granted", "opt_in", "unsub-0"),  # applied once its lead arrived
        (lead, "email", "granted", "double_opt_in", "click-1"),
        (lead, "email", "withdrawn", "unsubscribe", "unsub-1"),
        (lead, "sms", "withdrawn", "unsubscribe", "unsub-1"),
    ]  # nothing for the second lead: its submission did not say
    leads = {x.id: x for x in out.created_leads}
    assert (leads[lead].country, leads[lead].timezone, leads[lead].timezone_source) == (
        "DE", "Europe/Berlin", "country",
    )  # fmt: skip
    assert (leads[LEADS[1]].country, leads[LEADS[1]].timezone_source) == ("SG", "phone")


def test_nurture_then_sales_in_one_batch_pauses_what_the_first_started():
    lead = LEADS[0]
    events: list[Event] = [
        decided(lead, 1),  # cold web lead: welcome + cold drip
        decided(lead, 2, outcome="assigned", temperature="hot", stage="sql"),  # to sales
    ]
    out = assert_same_as_one_at_a_time(BatchState(), events)
    assert [lead.with_sales for lead in out.created_leads] == [True]
    assert {(e.sequence_id, e.status, e.paused_by) for e in out.created_enrollments} == {
        ("web-welcome", "paused", "sales"),
        ("nurture-cold", "paused", "sales"),
    }
    assert {s.state for s in out.created_steps} == {"paused"}
    assert [e.kind for e in out.events] == ["enrolled", "enrolled", "paused", "paused"]
    assert not out.changed_enrollments and not out.changed_steps  # new rows, final values


def test_an_activity_parked_in_the_batch_waits_for_its_lead_in_the_same_batch():
    lead, submission = LEADS[0], SUBMISSIONS[0]
    unsubscribe = Activity("activity-1", submission, "unsubscribe", NOW)
    events: list[Event] = [unsubscribe, decided(lead, 1, submission_id=submission)]
    out = assert_same_as_one_at_a_time(BatchState(), events)
    assert out.created_leads[0].suppressed == "unsubscribed"
    assert out.parked == () and out.unparked == ()  # parked and applied within the batch
    assert [a.what for a in out.applied] == ["parked", "decided"]


def test_a_second_batch_sees_what_the_first_wrote():
    lead = LEADS[1]
    first = decide_batch(BatchState(), [decided(lead, 1)], CONFIG, NOW)
    state = _with_step_ids(advance(BatchState(), first))
    reply = Activity("activity-1", lead, "reply", NOW + timedelta(minutes=1))
    out = assert_same_as_one_at_a_time(state, [reply, decided(lead, 2, channel="web")])
    assert {e.status for e in out.changed_enrollments} == {"stopped"}
    assert {s.state for s in out.changed_steps} == {"cancelled"}


def _with_step_ids(state: BatchState) -> BatchState:
    """Steps as stored rows (the database gives them ids)."""
    from dataclasses import replace

    n = iter(range(1, 10_000))
    return replace(
        state,
        steps={
            k: [s if s.id is not None else replace(s, id=next(n)) for s in v]
            for k, v in state.steps.items()
        },
    )


# --- the property: any batch equals its events one at a time ---

refs = st.sampled_from(LEADS + SUBMISSIONS[:2] + [uuid.UUID(int=999)])


def _decision(lead, sub, outcome, temp, stage, channel, listed, email, phone, tz, show):
    return dict(
        lead_id=lead, submission_id=sub, outcome=outcome, temperature=temp, stage=stage,
        channel=channel, purchased_list=listed, email=email, phone=phone, timezone=tz,
        show=ShowRef("show-1", date(2026, 11, 27), "Europe/Berlin") if show else None,
    )  # fmt: skip


decisions = st.builds(
    _decision,
    st.sampled_from(LEADS),
    st.sampled_from([None, *SUBMISSIONS]),
    st.sampled_from(["assigned", "queued", "nurture"]),
    st.sampled_from(["hot", "warm", "cold"]),
    st.sampled_from(["none", "mql", "sql"]),
    st.sampled_from(["web", "trade_show", "purchased_list", None]),
    st.booleans(),
    st.sampled_from([None, "ada@example.com", "ada.new@example.com"]),
    st.sampled_from([None, "+14155550123"]),
    st.sampled_from([None, "America/New_York", "Not/AZone"]),
    st.booleans(),
)
activities = st.builds(
    lambda ref, kind, bounce, minutes: dict(
        ref=ref, kind=kind, bounce_type=bounce, occurred_at=NOW - timedelta(minutes=minutes)
    ),
    refs,
    st.sampled_from(
        [
            "reply",
            "open",
            "click",
            "unsubscribe",
            "bounce",
            "converted",
            "touch",
            "page_visit",
            "working",
            "qualified",
            "disqualified",
        ]
    ),
    st.sampled_from([None, "hard", "soft"]),
    st.integers(0, 60 * 24 * 90),
)
sales_changes = st.builds(
    lambda ref, change, status, marketing, minutes: dict(
        ref=ref,
        change=change,
        status=status,
        reason="bad_timing",
        marketing=marketing,
        occurred_at=NOW - timedelta(minutes=minutes),
        at=NOW - timedelta(minutes=minutes),
    ),
    refs,
    st.sampled_from(["status", "recycled", "released"]),
    st.sampled_from([None, "working", "qualified", "disqualified", "converted", "recycled"]),
    st.sampled_from(["none", "remarket", "suppress", "stop"]),
    st.integers(0, 60 * 24 * 90),
)
merges = st.permutations(LEADS).map(lambda ids: dict(ref=ids[0], survivor=ids[1]))
event_specs = st.lists(
    st.one_of(
        decisions.map(lambda d: ("d", d)),
        activities.map(lambda a: ("a", a)),
        sales_changes.map(lambda s: ("s", s)),
        merges.map(lambda m: ("m", m)),
    ),
    min_size=1,
    max_size=12,
)


def _events(specs: list[tuple[str, dict[str, object]]], start: int) -> list[Event]:
    out: list[Event] = []
    for n, (kind, spec) in enumerate(specs, start):
        if kind == "d":
            out.append(decided(n=n, **spec))  # type: ignore[arg-type]
        elif kind == "s":
            out.append(SalesUpdate(event_id=f"sales-{n}", **spec))  # type: ignore[arg-type]
        elif kind == "m":
            out.append(Merged(event_id=f"merge-{n}", **spec))  # type: ignore[arg-type]
        else:
            out.append(Activity(event_id=f"activity-{n}", **spec))  # type: ignore[arg-type]
    return out


@settings(max_examples=300, deadline=None)
@given(before=st.lists(event_specs, max_size=2), batch=event_specs)
def test_a_batch_ends_as_its_events_one_at_a_time(before, batch):
    state = BatchState()
    n = 0
    for specs in before:  # earlier batches: leads, enrollments, parked activities that exist
        events = _events(specs, n)
        n += len(events)
        state = _with_step_ids(advance(state, decide_batch(state, events, CONFIG, NOW)))
    assert_same_as_one_at_a_time(state, _events(batch, n))


def test_an_admin_merge_stops_the_merged_leads_drips_and_what_names_it_reaches_the_survivor():
    gone, survivor = LEADS[0], LEADS[1]
    first = decide_batch(BatchState(), [decided(gone, 1), decided(survivor, 2)], CONFIG, NOW)
    state = _with_step_ids(advance(BatchState(), first))
    out = assert_same_as_one_at_a_time(state, [Merged("merge-1", gone, survivor)])
    assert out.changed_enrollments and {e.lead_id for e in out.changed_enrollments} == {gone}
    assert {e.status for e in out.changed_enrollments} == {"stopped"}
    assert {s.state for s in out.changed_steps} == {"cancelled"}
    stopped = [e for e in out.events if e.kind == "stopped"]
    assert stopped and {e.lead_id for e in stopped} == {gone}
    assert all(str(survivor) in e.reason for e in stopped)
    (lead,) = out.changed_leads
    assert (lead.id, lead.suppressed, lead.idle_since) == (gone, "merged", None)
    assert out.aliases == ((gone, survivor),)
    assert [a.what for a in out.applied] == ["merge"]

    # again (redelivered under another id): nothing more; an unsubscribe by the old id is the
    # survivor's
    state = _with_step_ids(advance(state, out))
    again = decide_batch(state, [Merged("merge-2", gone, survivor)], CONFIG, NOW)
    assert not again.events and not again.changed_leads
    later = assert_same_as_one_at_a_time(state, [Activity("activity-1", gone, "unsubscribe", NOW)])
    assert [(lead.id, lead.suppressed) for lead in later.changed_leads] == [
        (survivor, "unsubscribed")
    ]


def test_a_merge_of_a_lead_with_nothing_running_still_says_it_stopped():
    gone, survivor = LEADS[0], LEADS[1]
    first = decide_batch(
        BatchState(),
        [decided(gone, 1, email=None), decided(survivor, 2)],  # no contact: nothing runs
        CONFIG,
        NOW,
    )
    state = _with_step_ids(advance(BatchState(), first))
    out = decide_batch(state, [Merged("merge-1", gone, survivor)], CONFIG, NOW)
    assert [(e.lead_id, e.kind, e.enrollment_id) for e in out.events] == [(gone, "stopped", None)]


def test_a_merge_that_comes_before_its_lead_waits_for_it():
    gone, survivor = LEADS[0], LEADS[1]
    out = assert_same_as_one_at_a_time(
        BatchState(),
        [decided(survivor, 1), Merged("merge-1", gone, survivor), decided(gone, 2)],
    )
    assert [a.what for a in out.applied] == ["decided", "parked_merge", "decided"]
    by_id = {lead.id: lead for lead in out.created_leads}
    assert by_id[gone].suppressed == "merged" and by_id[survivor].suppressed is None
    assert {e.status for e in out.created_enrollments if e.lead_id == gone} == {"stopped"}

"""Nurture against real Kafka and PostgreSQL, time from a manual clock: welcome steps in
order, stop and suppression rules, send windows after downtime, trade-show Mondays,
hand-off to sales, remarket, re-engagement by segment and sunset."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from services.nurture.app import create_app
from services.nurture.lifecycle.service import sweep
from services.nurture.runtime import NurtureRuntime
from services.nurture.settings import NurtureSettings
from services.nurture.steps.service import fire_due
from shared.events.registry import LEAD_ACTIVITY, LEAD_ASSIGNED, NURTURE_LIFECYCLE, NURTURE_STEP
from tests.clock import ManualClock
from tests.kafka_helpers import TopicReader, value, wait_for
from tests.nurture_env import activity, assigned

# Tuesday 1 December 2026, 10:00 in New York (15:00 UTC): inside every shipped send window.
TUESDAY_10AM_NY = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
ADMIN = {"Authorization": "Bearer leadflow-dev-admin-token"}


@pytest.fixture
async def nurture(env):
    clock = ManualClock(TUESDAY_10AM_NY)
    settings = NurtureSettings(
        env="test", topic_prefix=env.prefix, database_url=env.database_url,
        kafka_bootstrap_servers=env.stack.bootstrap, nurture_consumer_group=f"{env.prefix}nurture",
    )  # fmt: skip
    failures: list[BaseException] = []
    runtime = NurtureRuntime(settings, clock=clock, on_fatal=failures.append, schedule=False)
    ctx = await runtime.start()
    app = create_app(settings, runtime)
    app.state.nurture = ctx
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://nurture")
    yield ctx, clock, api
    await api.aclose()
    await runtime.stop()
    assert not failures


async def publish(env, producer, *events):
    topic = {LEAD_ASSIGNED.type: LEAD_ASSIGNED.topic, LEAD_ACTIVITY.type: LEAD_ACTIVITY.topic}
    await producer.publish_many(
        [(env.topic(topic[e.type]), e.subject.encode(), e, ()) for e in events]
    )


async def state(api, lead_id) -> dict:
    r = await api.get(f"/v1/nurture/leads/{lead_id}", headers=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()


async def known(api, lead_id, predicate=lambda s: True) -> dict:
    async def check():
        r = await api.get(f"/v1/nurture/leads/{lead_id}", headers=ADMIN)
        return r.json() if r.status_code == 200 and predicate(r.json()) else None

    return await wait_for(check, timeout=20)


def steps_of(records, lead_id) -> list[tuple[str, int, str]]:
    out = []
    for r in records:
        d = value(r)["data"]
        if d["lead_id"] == str(lead_id):
            out.append((d["sequence_id"], d["step"], d["template_id"]))
    return out


async def test_web_lead_gets_welcome_steps_in_order_and_a_reply_stops_them(
    env, nurture, producer, stack
):
    ctx, clock, api = nurture
    lead = uuid.uuid4()
    async with TopicReader(stack.bootstrap, env.topic(NURTURE_STEP.topic)) as steps:
        await publish(env, producer, assigned(lead, clock.now))
        s = await known(api, lead)
        assert [e["sequence_id"] for e in s["enrollments"]] == ["web-welcome"]
        assert s["enrollments"][0]["next_step"]["step"] == 1
        assert await fire_due(ctx) == 1  # the same day: now
        clock.advance(days=2)
        assert await fire_due(ctx) == 1
        got = await steps.read(until=lambda rs: len(rs) >= 2)
        assert steps_of(got, lead) == [
            ("web-welcome", 1, "welcome-thanks"),
            ("web-welcome", 2, "welcome-resources"),
        ]
        first = value(got[0])["data"]
        assert first["channel"] == "email" and first["to"] == "ada@example.com"
        assert first["timezone"] == "America/New_York"

        await publish(env, producer, activity(lead, "reply", clock.now))
        s = await known(api, lead, lambda s: s["enrollments"][0]["status"] == "stopped")
        assert s["enrollments"][0]["reason"] == "reply"
        clock.advance(days=30)
        assert await fire_due(ctx) == 0
        assert steps_of(await steps.read(), lead) == steps_of(got, lead)  # nothing after the reply
        assert [st["state"] for st in s["enrollments"][0]["steps"]] == [
            "emitted",
            "emitted",
            "cancelled",
        ]


async def test_unsubscribe_suppresses_every_later_step_in_every_sequence(
    env, nurture, producer, stack
):
    ctx, clock, api = nurture
    lead = uuid.uuid4()
    async with (
        TopicReader(stack.bootstrap, env.topic(NURTURE_STEP.topic)) as steps,
        TopicReader(stack.bootstrap, env.topic(NURTURE_LIFECYCLE.topic)) as lifecycle,
    ):
        # a cold web lead kept from sales: welcome and the cold drip at once
        await publish(
            env,
            producer,
            assigned(lead, clock.now, outcome="nurture", temperature="cold", stage="none"),
        )
        s = await known(api, lead, lambda s: len(s["enrollments"]) == 2)
        assert sorted(e["sequence_id"] for e in s["enrollments"]) == ["nurture-cold", "web-welcome"]
        assert await fire_due(ctx) == 1
        await publish(env, producer, activity(lead, "unsubscribe", clock.now))
        s = await known(api, lead, lambda s: s["suppression"] is not None)
        assert s["suppression"]["reason"] == "unsubscribed"
        assert {e["status"] for e in s["enrollments"]} == {"stopped"}
        for _ in range(10):
            clock.advance(days=7)
            await fire_due(ctx)
            await sweep(ctx)  # neither re-engagement nor anything else reaches it
        assert steps_of(await steps.read(), lead) == [("web-welcome", 1, "welcome-thanks")]
        s = await state(api, lead)
        states = sorted(st["state"] for e in s["enrollments"] for st in e["steps"])
        assert states == ["cancelled", "cancelled", "emitted"]  # nothing emitted, nothing pending
        kinds = [
            value(r)["data"]["kind"] for r in await lifecycle.read(until=lambda rs: len(rs) >= 5)
        ]
        assert (
            kinds.count("enrolled") == 2 and "suppressed" in kinds and kinds.count("stopped") == 2
        )
        # an operator cannot enroll it either
        r = await api.post(
            f"/v1/nurture/leads/{lead}/enrollments",
            json={"sequence_id": "nurture-warm"},
            headers=ADMIN,
        )
        assert r.status_code == 409 and r.json()["code"] == "suppressed"


async def test_missed_steps_wait_for_the_window_never_a_burst_in_quiet_hours(
    env, nurture, producer, stack
):
    ctx, clock, api = nurture
    lead = uuid.uuid4()
    await publish(env, producer, assigned(lead, clock.now))
    await known(api, lead)
    assert await fire_due(ctx) == 1  # step 1 now; step 2 due Thursday 10:00 New York
    # "down" until Friday 22:30 New York: step 2 is overdue, but 22:30 is in quiet hours
    clock.now = datetime(2026, 12, 5, 3, 30, tzinfo=UTC)
    assert await fire_due(ctx) == 1
    s = await state(api, lead)
    nxt = s["enrollments"][0]["next_step"]
    assert nxt["step"] == 2 and nxt["note"] == "outside the send window"
    assert datetime.fromisoformat(nxt["due_at"]) == datetime(
        2026, 12, 5, 13, 0, tzinfo=UTC
    )  # Sat 08:00 NY
    clock.now = datetime(2026, 12, 5, 13, 0, tzinfo=UTC)
    assert await fire_due(ctx) == 1
    s = await state(api, lead)
    assert [st["state"] for st in s["enrollments"][0]["steps"]] == ["emitted", "emitted", "pending"]


async def test_trade_show_lead_is_first_contacted_monday_8am_in_the_show_zone(
    env, nurture, producer
):
    ctx, clock, api = nurture
    lead = uuid.uuid4()
    # the show ended Wednesday 2 December in Berlin; the lead gave no zone and no phone
    event = assigned(
        lead,
        clock.now,
        channel="trade_show",
        timezone=None,
        show=("saastr-eu", date(2026, 12, 2), "Europe/Berlin"),
    )
    await publish(env, producer, event)
    s = await known(
        api,
        lead,
        lambda s: any(e["sequence_id"] == "trade-show-follow-up" for e in s["enrollments"]),
    )
    show = next(e for e in s["enrollments"] if e["sequence_id"] == "trade-show-follow-up")
    assert show["show_id"] == "saastr-eu"
    assert datetime.fromisoformat(show["next_step"]["due_at"]) == datetime(
        2026, 12, 7, 7, 0, tzinfo=UTC
    )
    assert await fire_due(ctx) == 0
    clock.now = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
    assert await fire_due(ctx) == 1


async def test_names_get_the_list_sequence_and_sql_leads_pause_for_sales(env, nurture, producer):
    ctx, clock, api = nurture
    name, hot = uuid.uuid4(), uuid.uuid4()
    await publish(
        env, producer,
        assigned(name, clock.now, outcome="nurture", channel="purchased_list", purchased_list=True, stage="none"),
        assigned(hot, clock.now, temperature="hot", stage="sql"),
    )  # fmt: skip
    s = await known(api, name)
    assert [e["sequence_id"] for e in s["enrollments"]] == ["list-names"] and s["purchased_list"]
    s = await known(api, hot)
    assert s["with_sales"] and [(e["sequence_id"], e["status"]) for e in s["enrollments"]] == [
        ("web-welcome", "paused")
    ]
    assert await fire_due(ctx) == 0  # the welcome is paused; the list step is due tomorrow
    r = await api.post(f"/v1/nurture/leads/{hot}/resume", headers=ADMIN)
    assert r.status_code == 200 and r.json()["enrollments"][0]["status"] == "active"
    assert await fire_due(ctx) == 1


async def test_remarket_reengagement_and_sunset_show_in_state_and_events(
    env, nurture, producer, stack
):
    ctx, clock, api = nurture
    lead = uuid.uuid4()
    async with TopicReader(stack.bootstrap, env.topic(NURTURE_LIFECYCLE.topic)) as lifecycle:
        await publish(
            env,
            producer,
            assigned(
                lead,
                clock.now,
                outcome="nurture",
                channel="purchased_list",
                purchased_list=True,
                stage="none",
            ),
        )
        await known(api, lead)
        clock.advance(days=1)
        assert await fire_due(ctx) == 1
        clock.advance(days=21)
        assert await fire_due(ctx) == 1  # the list sequence is complete: idle from here
        clock.advance(days=8)  # 30 days silent
        assert (await sweep(ctx)).remarket == 1
        assert (await state(api, lead))["list"] == "remarket"
        clock.advance(days=22)  # idle 30 days
        assert (await sweep(ctx)).reengaged == 1
        s = await state(api, lead)
        assert s["enrollments"][-1]["sequence_id"] == "reengage-recent"  # 52 days inactive
        assert await fire_due(ctx) == 1
        clock.advance(days=7)
        assert await fire_due(ctx) == 1  # re-engagement done, still silent
        clock.advance(days=13)
        assert (await sweep(ctx)).sunset == 0
        clock.advance(days=1)
        assert (await sweep(ctx)).sunset == 1
        s = await state(api, lead)
        assert s["list"] == "sunset" and s["sunset_at"] is not None
        clock.advance(days=60)
        assert (await sweep(ctx)).reengaged == 0  # sunset: excluded, data kept

        await publish(
            env, producer, activity(lead, "click", clock.now, url="https://example.com/pricing")
        )
        s = await known(api, lead, lambda s: s["list"] == "active")
        events = await lifecycle.read(
            until=lambda rs: "reactivated" in [value(r)["data"]["kind"] for r in rs]
        )
    kinds = [value(r)["data"]["kind"] for r in events]
    assert kinds == [
        "enrolled",
        "completed",
        "remarket",
        "enrolled",
        "reengaged",
        "completed",
        "sunset",
        "reactivated",
    ]
    reengaged = next(value(r)["data"] for r in events if value(r)["data"]["kind"] == "reengaged")
    assert reengaged["segment"] == "under_3_months" and reengaged["list"] == "remarket"


@pytest.mark.parametrize(
    ("inactive_days", "segment", "sequence"),
    [(40, "under_3_months", "reengage-recent"), (200, "3_to_12_months", "reengage-lapsed"),
     (400, "over_1_year", "reengage-dormant")],
)  # fmt: skip
async def test_reengagement_sequence_by_inactivity_segment(
    env, nurture, producer, inactive_days, segment, sequence
):
    ctx, clock, api = nurture
    lead = uuid.uuid4()
    await publish(
        env,
        producer,
        assigned(
            lead,
            clock.now,
            outcome="nurture",
            channel="purchased_list",
            purchased_list=True,
            stage="none",
        ),
    )
    await known(api, lead)
    # its list sequence ended 31 days ago; it last clicked inactive_days ago
    async with ctx.sessions.begin() as session:
        for sql_text in (
            "UPDATE nurture.enrollment SET status = 'completed' WHERE lead_id = :id",
            "UPDATE nurture.scheduled_step SET state = 'emitted', emitted_at = due_at WHERE lead_id = :id",
        ):
            await session.execute(text(sql_text), {"id": lead})
        await session.execute(
            text(
                "UPDATE nurture.lead SET idle_since = :idle, last_engaged_at = :engaged WHERE id = :id"
            ),
            {
                "id": lead,
                "idle": clock.now.replace(day=1) - _days(31),
                "engaged": clock.now - _days(inactive_days),
            },
        )
    assert (await sweep(ctx)).reengaged == 1
    s = await state(api, lead)
    reengagement = [e["sequence_id"] for e in s["enrollments"] if e["trigger"] == "reengagement"]
    assert reengagement == [sequence] and s["reengaged_at"] is not None


def _days(n: int):
    from datetime import timedelta

    return timedelta(days=n)


async def test_activity_before_the_lead_is_parked_then_applied(env, nurture, producer):
    ctx, clock, api = nurture
    lead, submission = uuid.uuid4(), uuid.uuid4()
    await publish(
        env, producer, activity(submission, "unsubscribe", clock.now)
    )  # by the id ingest answered
    await wait_for(lambda: _parked(ctx, submission), timeout=20)
    await publish(env, producer, assigned(lead, clock.now, submission_id=submission))
    s = await known(api, lead, lambda s: s["suppression"] is not None)
    assert s["suppression"]["reason"] == "unsubscribed"
    assert (await state(api, submission))["lead_id"] == str(lead)  # the alias resolves


async def _parked(ctx, ref) -> bool:
    async with ctx.sessions() as session:
        n = await session.scalar(
            text("SELECT count(*) FROM nurture.pending_activity WHERE lead_ref = :r"), {"r": ref}
        )
    return bool(n)


async def test_api_validates_and_protects(env, nurture, producer):
    ctx, clock, api = nurture
    lead = uuid.uuid4()
    await publish(env, producer, assigned(lead, clock.now))
    await known(api, lead)
    assert (await api.get(f"/v1/nurture/leads/{lead}")).status_code == 401
    assert (await api.get(f"/v1/nurture/leads/{uuid.uuid4()}", headers=ADMIN)).status_code == 404
    r = await api.post(
        f"/v1/nurture/leads/{lead}/enrollments", json={"sequence_id": "nope"}, headers=ADMIN
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "sequence_id"
    r = await api.post(
        f"/v1/nurture/leads/{lead}/enrollments", json={"sequence_id": "web-welcome"}, headers=ADMIN
    )
    assert r.status_code == 409 and r.json()["code"] == "already_enrolled"
    r = await api.post(
        f"/v1/nurture/leads/{lead}/enrollments",
        json={"sequence_id": "nurture-warm", "extra": 1},
        headers=ADMIN,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "extra"
    r = await api.post(
        f"/v1/nurture/leads/{lead}/enrollments", json={"sequence_id": "nurture-warm"}, headers=ADMIN
    )
    assert r.status_code == 201 and len(r.json()["enrollments"]) == 2
    r = await api.post(
        f"/v1/nurture/leads/{lead}/pause",
        json={"reason": "customer asked for a break"},
        headers=ADMIN,
    )
    assert {e["status"] for e in r.json()["enrollments"]} == {"paused"}
    assert await fire_due(ctx) == 0
    r = await api.delete(f"/v1/nurture/leads/{lead}/enrollments/nurture-warm", headers=ADMIN)
    assert r.status_code == 200
    statuses = {e["sequence_id"]: e["status"] for e in r.json()["enrollments"]}
    assert statuses == {"web-welcome": "paused", "nurture-warm": "unenrolled"}
    r = await api.delete(f"/v1/nurture/leads/{lead}/enrollments/nurture-warm", headers=ADMIN)
    assert r.status_code == 404
    # the operator's actions are in nurture's audit trail, oldest last; refusals are not
    r = await api.get("/v1/admin/audit", params={"subject_id": str(lead)}, headers=ADMIN)
    events = r.json()["events"]
    assert [(e["action"], e["actor"]) for e in events] == [
        ("enrollment.removed", "dev"),
        ("nurture.paused", "dev"),
        ("enrollment.added", "dev"),
    ]
    assert events[0]["changes"] == {"sequence_id": "nurture-warm"}
    assert events[2]["changes"]["sequence_id"] == "nurture-warm"
    assert "break" not in str(events)  # free-text reasons stay with the enrollment


async def test_no_lead_gets_more_steps_in_a_week_than_the_cap(env, nurture, producer):
    ctx, clock, api = nurture
    lead = uuid.uuid4()
    start = clock.now
    # web and cold: welcome and the cold drip at once, plus an operator's warm sequence
    await publish(
        env,
        producer,
        assigned(lead, clock.now, outcome="nurture", temperature="cold", stage="none"),
    )
    await known(api, lead, lambda s: len(s["enrollments"]) == 2)
    r = await api.post(
        f"/v1/nurture/leads/{lead}/enrollments", json={"sequence_id": "nurture-warm"}, headers=ADMIN
    )
    assert r.status_code == 201
    while clock.now < start + _days(70):
        await fire_due(ctx)
        clock.advance(hours=1)
    s = await state(api, lead)
    sent = sorted(
        datetime.fromisoformat(st["emitted_at"])
        for e in s["enrollments"]
        for st in e["steps"]
        if st["state"] == "emitted"
    )
    cap = ctx.config.defaults.frequency_cap.max_per_week
    assert len(sent) == 3 + 3 + 3  # every step of the three sequences went out in the end
    for at in sent:
        assert len([t for t in sent if at - _days(7) < t <= at]) <= cap
    deferred = [
        st for e in s["enrollments"] for st in e["steps"] if st["due_at"] != st["planned_at"]
    ]
    assert deferred, "the cap held some steps back"


async def test_a_lead_that_leaves_nurture_ends_its_enrollments_visibly(env, nurture, producer):
    ctx, clock, api = nurture
    lead = uuid.uuid4()
    await publish(env, producer, assigned(lead, clock.now))
    await known(api, lead)
    await publish(env, producer, activity(lead, "converted", clock.now))
    await known(api, lead, lambda s: s["converted_at"] is not None)
    r = await api.post(
        f"/v1/nurture/leads/{lead}/enrollments", json={"sequence_id": "nurture-warm"}, headers=ADMIN
    )
    assert r.status_code == 409 and r.json()["code"] == "converted"
    s = await state(api, lead)
    assert [e["status"] for e in s["enrollments"]] == ["stopped"]  # the conversion ended it

    # a sunset lead: its pending step is cancelled and the enrollment ends, not left "active"
    other = uuid.uuid4()
    await publish(env, producer, assigned(other, clock.now))
    await known(api, other)
    async with ctx.sessions.begin() as session:
        await session.execute(
            text("UPDATE nurture.lead SET list = 'sunset' WHERE id = :id"), {"id": other}
        )
    assert await fire_due(ctx) == 1
    s = await state(api, other)
    assert [(e["status"], e["reason"]) for e in s["enrollments"]] == [("stopped", "lead sunset")]
    assert s["idle_since"] is not None
    # an operator may bring it back: enrolling reactivates it
    r = await api.post(
        f"/v1/nurture/leads/{other}/enrollments",
        json={"sequence_id": "nurture-warm"},
        headers=ADMIN,
    )
    assert r.status_code == 201 and r.json()["list"] == "active"


async def test_a_hard_bounce_stops_email_not_the_lead_with_a_phone(env, nurture, producer):
    ctx, clock, api = nurture
    with_phone, email_only = uuid.uuid4(), uuid.uuid4()
    await publish(
        env, producer,
        assigned(with_phone, clock.now, outcome="nurture", stage="none", temperature="cold", phone="+12025550143"),
        assigned(email_only, clock.now),
    )  # fmt: skip
    await known(api, with_phone)
    await known(api, email_only)
    await publish(env, producer, activity(with_phone, "bounce", clock.now, bounce_type="hard"),
                  activity(email_only, "bounce", clock.now, bounce_type="hard"))  # fmt: skip
    s = await known(api, email_only, lambda s: s["suppression"] is not None)
    assert s["suppression"]["reason"] == "hard_bounce"  # no other way to reach it
    await wait_for(lambda: _bounced(ctx, with_phone))
    s = await state(api, with_phone)
    assert s["suppression"] is None and all(e["status"] == "active" for e in s["enrollments"])
    assert await fire_due(ctx) >= 1
    s = await state(api, with_phone)
    welcome = next(e for e in s["enrollments"] if e["sequence_id"] == "web-welcome")
    assert (
        welcome["steps"][0]["state"] == "skipped"
        and welcome["steps"][0]["note"] == "no email address"
    )
    # a new form with a new address lifts the bounce (and the suppression)
    await publish(env, producer, assigned(email_only, clock.now, email="ada.new@example.com"))
    s = await known(api, email_only, lambda s: s["suppression"] is None)


async def _bounced(ctx, lead) -> bool:
    async with ctx.sessions() as session:
        at = await session.scalar(
            text("SELECT email_bounced_at FROM nurture.lead WHERE id = :id"), {"id": lead}
        )
    return at is not None


async def test_routing_never_undoes_an_operators_pause(env, nurture, producer):
    ctx, clock, api = nurture
    lead = uuid.uuid4()
    await publish(
        env,
        producer,
        assigned(lead, clock.now, outcome="nurture", stage="none", temperature="cold"),
    )
    await known(api, lead, lambda s: len(s["enrollments"]) == 2)
    r = await api.post(
        f"/v1/nurture/leads/{lead}/pause",
        json={"reason": "asked for a break until spring"},
        headers=ADMIN,
    )
    assert r.status_code == 200
    # sales takes it (hot), then hands it back to nurture: the operator's pause stands
    await publish(env, producer, assigned(lead, clock.now, temperature="hot", stage="sql"))
    await known(api, lead, lambda s: s["with_sales"])
    await publish(
        env,
        producer,
        assigned(lead, clock.now, outcome="nurture", stage="none", temperature="cold"),
    )
    s = await known(api, lead, lambda s: not s["with_sales"])
    assert {(e["status"], e["reason"]) for e in s["enrollments"]} == {
        ("paused", "asked for a break until spring")
    }
    assert await fire_due(ctx) == 0


async def test_enroll_start_at_far_ahead_is_a_422_not_a_500(env, nurture, producer):
    _, clock, api = nurture
    lead = uuid.uuid4()
    await publish(env, producer, assigned(lead, clock.now))
    await known(api, lead)
    for start_at in ("9999-12-31T23:00:00Z", "2031-01-01T00:00:00Z"):
        r = await api.post(
            f"/v1/nurture/leads/{lead}/enrollments",
            json={"sequence_id": "nurture-cold", "start_at": start_at}, headers=ADMIN,
        )  # fmt: skip
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "start_at"
    r = await api.post(f"/v1/nurture/leads/{lead}/enrollments",
                       json={"sequence_id": "nurture-cold", "start_at": "2026-12-01T10:00:00"}, headers=ADMIN)  # fmt: skip
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "start_at"


async def test_leads_with_sales_are_not_remarketed_or_reengaged(env, nurture, producer):
    ctx, clock, api = nurture
    lead = uuid.uuid4()
    await publish(env, producer, assigned(lead, clock.now, temperature="hot", stage="sql"))
    await known(api, lead, lambda s: s["with_sales"])
    await publish(env, producer, activity(lead, "reply", clock.now))
    await known(api, lead, lambda s: s["enrollments"][0]["status"] == "stopped")
    clock.advance(days=90)
    result = await sweep(ctx)
    assert (result.remarket, result.reengaged) == (0, 0)
    s = await state(api, lead)
    assert s["list"] == "active" and s["reengaged_at"] is None


async def test_a_redelivered_event_has_its_effect_once(env, nurture, producer, stack):
    """At-least-once delivery: each event twice, then a later event on the same partition
    proves both copies were consumed; the effects and lifecycle events happen once."""
    ctx, clock, api = nurture
    lead = uuid.uuid4()
    decision = assigned(lead, clock.now, outcome="nurture", temperature="cold", stage="none")
    to_sales = assigned(lead, clock.now, temperature="hot", stage="sql")
    reply = activity(lead, "reply", clock.now)
    click = activity(lead, "click", clock.now + timedelta(minutes=5), url="https://example.com")
    async with TopicReader(stack.bootstrap, env.topic(NURTURE_LIFECYCLE.topic)) as lifecycle:
        await publish(env, producer, decision, decision, to_sales)
        await known(api, lead, lambda s: s["with_sales"])
        clock.advance(minutes=10)  # the click lies in the past when it arrives
        await publish(env, producer, reply, reply, click)
        s = await known(api, lead, lambda s: s["last_engaged_at"] is not None
                        and datetime.fromisoformat(s["last_engaged_at"]) == click.time)  # fmt: skip
        await wait_for(lambda: _outbox_empty(ctx), timeout=20)
        events = await lifecycle.read()  # everything published, to the end
    kinds = sorted(value(r)["data"]["kind"] for r in events)
    assert kinds == ["enrolled", "enrolled", "paused", "paused", "stopped", "stopped"]
    assert len(s["enrollments"]) == 2


async def _outbox_empty(ctx) -> bool:
    async with ctx.sessions() as session:
        return await session.scalar(text("SELECT count(*) FROM nurture.outbox")) == 0

"""Nurture decides a fetched batch of decisions and activities in one transaction, on real
Kafka and PostgreSQL: a poison message goes alone to the DLQ, one lead's events in one batch
end as they would one at a time, an activity racing its lead in the same batch is applied."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from services.nurture import handlers
from services.nurture import runtime as runtime_module
from services.nurture.app import create_app
from services.nurture.runtime import NurtureRuntime
from services.nurture.settings import NurtureSettings
from shared.events.envelope import CloudEvent
from shared.events.registry import LEAD_ACTIVITY, LEAD_ASSIGNED, NURTURE_LIFECYCLE
from tests.clock import ManualClock
from tests.integration.test_nurture import ADMIN, TUESDAY_10AM_NY, known, state
from tests.kafka_helpers import TopicReader, value, wait_for
from tests.nurture_env import activity, assigned
from tests.router_env import sql


@pytest.fixture
async def start_nurture(env, monkeypatch) -> AsyncIterator[Callable[[], Any]]:
    """Starts nurture on demand (after the test has published what it wants in one batch);
    yields (context, api, the sizes of the batches the consumer handed to the batch handler)."""
    batches: list[int] = []

    def counting(ctx):
        handle, topics = handlers.make_batch_handler(ctx)

        async def counted(items):
            batches.append(len(items))
            await handle(items)

        return counted, topics

    monkeypatch.setattr(runtime_module, "make_batch_handler", counting)
    settings = NurtureSettings(
        env="test", topic_prefix=env.prefix, database_url=env.database_url,
        kafka_bootstrap_servers=env.stack.bootstrap, nurture_consumer_group=f"{env.prefix}nurture",
    )  # fmt: skip
    failures: list[BaseException] = []
    runtime = NurtureRuntime(
        settings, clock=ManualClock(TUESDAY_10AM_NY), on_fatal=failures.append, schedule=False
    )
    started: list[httpx.AsyncClient] = []

    async def start() -> tuple[Any, httpx.AsyncClient, list[int]]:
        ctx = await runtime.start()
        app = create_app(settings, runtime)
        app.state.nurture = ctx
        api = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://nurture")
        started.append(api)
        return ctx, api, batches

    yield start
    for api in started:
        await api.aclose()
    await runtime.stop()
    assert not failures


async def publish(env, producer, items: list[tuple[bytes, CloudEvent]]) -> None:
    topic = {LEAD_ASSIGNED.type: LEAD_ASSIGNED.topic, LEAD_ACTIVITY.type: LEAD_ACTIVITY.topic}
    await producer.publish_many([(env.topic(topic[e.type]), key, e, ()) for key, e in items])


def list_name(lead_id: uuid.UUID) -> CloudEvent:
    return assigned(
        lead_id, TUESDAY_10AM_NY, outcome="nurture", channel="purchased_list",
        purchased_list=True, stage="none", temperature="cold",
    )  # fmt: skip


def fallbacks(group: str, topic: str) -> float:
    labels = {"group": group, "topic": topic}
    return REGISTRY.get_sample_value("leadflow_consumer_batch_fallbacks_total", labels) or 0.0


async def enrolled(env, lead_ids: list[uuid.UUID]) -> int:
    rows = await sql(
        env,
        "SELECT count(DISTINCT lead_id) FROM nurture.enrollment WHERE lead_id = ANY(:ids)",
        ids=lead_ids,
    )
    return int(rows[0][0])


async def test_a_poison_decision_in_a_batch_goes_alone_to_the_dlq(
    env, producer, stack, start_nurture
):
    # one key: one partition, so the poison sits between its neighbours in one fetched batch
    key = b"shared-partition"
    leads = [uuid.uuid4() for _ in range(10)]
    poison = CloudEvent(
        id=str(uuid.uuid4()),
        source="/tests/poison",
        type=LEAD_ASSIGNED.type,
        time=datetime.now(UTC),
        data={"lead_id": "not-a-uuid", "outcome": "nurture"},  # a valid envelope, bad data
    )
    events = [list_name(lead) for lead in leads]
    await publish(env, producer, [(key, e) for e in [*events[:5], poison, *events[5:]]])
    topic = env.topic(LEAD_ASSIGNED.topic)
    group = f"{env.prefix}nurture"
    before = fallbacks(group, topic)
    async with TopicReader(stack.bootstrap, topic + ".dlq") as dlq:
        _, api, batches = await start_nurture()  # all 11 wait: one batch
        await wait_for(lambda: _all(enrolled(env, leads), len(leads)), timeout=60)
        letters = await dlq.read(until=lambda rs: len(rs) >= 1, timeout=30)
        letters = await dlq.read(timeout=1)  # all since the start: nothing else follows
    assert [value(r)["id"] for r in letters] == [poison.id]
    assert dict(letters[0].headers)["dlq.error.type"] == b"InvalidEvent"
    assert batches[0] == 11, "the poison and its neighbours arrived in one batch"
    assert fallbacks(group, topic) == before + 1, "that batch fell back to one at a time"
    for lead in leads:
        s = await state(api, lead)
        assert [(e["sequence_id"], e["status"]) for e in s["enrollments"]] == [
            ("list-names", "active")
        ]


async def _all(count, want: int) -> int | None:
    n = await count
    return n if n >= want else None


def _comparable(s: dict[str, Any]) -> dict[str, Any]:
    """A lead's nurture state without its ids."""
    return {
        "list": s["list"], "with_sales": s["with_sales"], "suppression": s["suppression"],
        "idle_since": s["idle_since"], "last_engaged_at": s["last_engaged_at"],
        "enrollments": sorted(
            (e["sequence_id"], e["trigger"], e["status"], e["reason"], e["ended_at"],
             tuple((st["step"], st["state"], st["due_at"], st["note"]) for st in e["steps"]))
            for e in s["enrollments"]
        ),
    }  # fmt: skip


async def test_one_leads_decisions_in_one_batch_end_as_one_at_a_time(
    env, producer, stack, start_nurture
):
    """A cold web lead kept for nurture, then (a new form, now SQL) handed to sales: in one
    batch for lead A, one at a time for lead B; both end the same."""
    a, b = uuid.uuid4(), uuid.uuid4()

    def story(lead: uuid.UUID) -> list[CloudEvent]:
        return [
            assigned(lead, TUESDAY_10AM_NY, outcome="nurture", temperature="cold", stage="none"),
            assigned(lead, TUESDAY_10AM_NY, temperature="hot", stage="sql"),
        ]

    async with TopicReader(stack.bootstrap, env.topic(NURTURE_LIFECYCLE.topic)) as lifecycle:
        await publish(env, producer, [(str(a).encode(), e) for e in story(a)])
        _, api, batches = await start_nurture()
        s_a = await known(api, a, lambda s: s["with_sales"])
        assert batches[0] == 2, "both decisions of A arrived in one batch"
        first, second = story(b)
        await publish(env, producer, [(str(b).encode(), first)])
        await known(api, b, lambda s: len(s["enrollments"]) == 2)
        await publish(env, producer, [(str(b).encode(), second)])
        s_b = await known(api, b, lambda s: s["with_sales"])
        assert batches[1:] == [1, 1], "B's decisions one at a time"
        events = await lifecycle.read(until=lambda rs: len(rs) >= 8, timeout=30)
    assert _comparable(s_a) == _comparable(s_b)
    assert {(e["sequence_id"], e["status"]) for e in s_a["enrollments"]} == {
        ("web-welcome", "paused"),
        ("nurture-cold", "paused"),
    }
    assert all(st["state"] == "paused" for e in s_a["enrollments"] for st in e["steps"])

    def kinds(lead: uuid.UUID) -> list[tuple[str, str]]:
        return [
            (value(r)["data"]["kind"], value(r)["data"]["sequence_id"])
            for r in events
            if value(r)["data"]["lead_id"] == str(lead)
        ]

    # (two enrollments begun at one instant pause in id order, and ids differ between leads)
    assert sorted(kinds(a)) == sorted(kinds(b)) == sorted(
        [("enrolled", "web-welcome"), ("enrolled", "nurture-cold"),
         ("paused", "web-welcome"), ("paused", "nurture-cold")]
    )  # fmt: skip


async def test_an_activity_and_the_decision_introducing_its_lead_in_one_batch(
    env, producer, start_nurture
):
    """An unsubscribe by the id ingest answered (the submission id) and the decision that
    introduces its lead, fetched together: whichever is decided first, the lead ends
    suppressed and nothing is left parked."""
    lead, submission = uuid.uuid4(), uuid.uuid4()
    unsubscribe = activity(submission, "unsubscribe", TUESDAY_10AM_NY)
    decision = assigned(lead, TUESDAY_10AM_NY, submission_id=submission)
    await publish(env, producer, [(str(submission).encode(), unsubscribe)])
    await publish(env, producer, [(str(lead).encode(), decision)])
    _, api, batches = await start_nurture()
    s = await known(api, lead, lambda s: s["suppression"] is not None)
    assert s["suppression"]["reason"] == "unsubscribed"
    assert batches[0] == 2, "both arrived in one batch"
    assert await sql(env, "SELECT count(*) FROM nurture.pending_activity") == [(0,)]
    assert (await state(api, submission))["lead_id"] == str(lead)
    r = await api.get(f"/v1/nurture/leads/{submission}", headers=ADMIN)
    assert r.status_code == 200

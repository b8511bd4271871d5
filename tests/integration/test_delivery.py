"""Delivery against real Kafka and PostgreSQL: consumed events are stored once with a
per-lead sequence and delivered, signed, to exactly the endpoints subscribed to their type;
a receiver started by the test verifies every request with the ``standardwebhooks``
library; an event published again is not delivered again."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import standardwebhooks
from sqlalchemy import text

from services.delivery import metrics
from services.delivery.dispatch import Sent, claim, dispatch_due, record, record_safely
from services.delivery.domain.outcome import Response
from services.delivery.endpoints_repo import create_endpoint
from services.delivery.runtime import DeliveryRuntime, prune_events, refresh_gauges, skip_disabled
from services.delivery.settings import DeliverySettings
from shared.events.envelope import CloudEvent, make_event
from shared.events.registry import (
    DELIVERY_ENDPOINT_DISABLED,
    EVENT_TYPES,
    LEAD_ASSIGNED,
    LEAD_LIFECYCLE,
    LEAD_SLA,
    NURTURE_STEP,
    EventType,
)
from tests.clock import ManualClock
from tests.kafka_helpers import TopicReader, value, wait_for
from tests.unit.test_event_evolution import SAMPLES


@dataclass
class Received:
    path: str
    webhook_id: str
    body: dict[str, Any]


@dataclass
class Receiver:
    """An HTTP receiver on 127.0.0.1 verifying each request with the endpoint's secret."""

    server: ThreadingHTTPServer
    secrets: dict[str, str] = field(default_factory=dict)  # path -> secret
    got: list[Received] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    statuses: dict[str, list[int]] = field(default_factory=dict)  # path -> answers to give, in turn

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def of(self, path: str) -> list[Received]:
        return [r for r in self.got if r.path == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                parsed = standardwebhooks.Webhook(state.secrets[self.path]).verify(body, headers)
            except Exception as exc:  # recorded, and the test fails on it
                state.rejected.append(f"{self.path}: {exc!r}")
                self.send_response(400)
            else:
                state.got.append(Received(self.path, headers["webhook-id"], parsed))
                answers = state.statuses.get(self.path)
                self.send_response(answers.pop(0) if answers else 204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
    server.request_queue_size = 128  # each delivery opens its own connection
    server.server_bind()
    server.server_activate()
    state = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
async def delivery(env):
    clock = ManualClock(datetime.now(UTC))
    settings = DeliverySettings(
        env="test", topic_prefix=env.prefix, database_url=env.database_url,
        kafka_bootstrap_servers=env.stack.bootstrap, delivery_consumer_group=f"{env.prefix}delivery",
    )  # fmt: skip
    failures: list[BaseException] = []
    runtime = DeliveryRuntime(settings, clock=clock, on_fatal=failures.append, dispatch=False)
    ctx = await runtime.start()
    yield ctx, clock
    await runtime.stop()
    assert not failures


def event_of(event_type: EventType, lead_id: uuid.UUID, at: datetime) -> CloudEvent:
    data = SAMPLES[event_type.type].model_copy(update={"lead_id": lead_id})
    return make_event(
        type=event_type.type, source="/leadflow/tests", subject=str(lead_id), data=data, time=at
    )


async def publish(env, producer, *events: CloudEvent) -> None:
    await producer.publish_many(
        [(env.topic(EVENT_TYPES[e.type].topic), e.subject.encode(), e, ()) for e in events]
    )


async def stored(ctx, ids: list[str]) -> bool:
    async with ctx.sessions() as session:
        n = await session.scalar(
            text("SELECT count(*) FROM delivery.event WHERE id = ANY(:ids)"), {"ids": ids}
        )
    return n == len(ids)


async def deliver_until(ctx, receiver: Receiver, count: int) -> None:
    async def done() -> bool:
        await dispatch_due(ctx)
        return len(receiver.got) + len(receiver.rejected) >= count

    await wait_for(done, timeout=20)


async def test_subscribed_events_arrive_signed_in_per_lead_sequence_and_only_once(
    env, delivery, producer, receiver
):
    ctx, clock = delivery
    async with ctx.sessions.begin() as session:
        a = await create_endpoint(
            session, receiver.url("/a"), [LEAD_ASSIGNED.type, LEAD_SLA.type], clock()
        )
        b = await create_endpoint(session, receiver.url("/b"), [NURTURE_STEP.type], clock())
    receiver.secrets = {"/a": a.secret, "/b": b.secret}

    ada, bob = uuid.uuid4(), uuid.uuid4()
    ada_assigned = event_of(LEAD_ASSIGNED, ada, clock())
    ada_sla = event_of(LEAD_SLA, ada, clock())
    ada_step = event_of(NURTURE_STEP, ada, clock())
    bob_assigned = event_of(LEAD_ASSIGNED, bob, clock())
    bob_lifecycle = event_of(LEAD_LIFECYCLE, bob, clock())  # nobody subscribes to it
    # one at a time: each lead's sequence follows the order they were published in
    for e in (ada_assigned, ada_sla, ada_step, bob_assigned, bob_lifecycle):
        await publish(env, producer, e)
        await wait_for(lambda e=e: stored(ctx, [e.id]), timeout=20)

    await deliver_until(ctx, receiver, 4)
    assert receiver.rejected == []
    by_id = {r.webhook_id: r for r in receiver.got}
    assert sorted(r.webhook_id for r in receiver.of("/a")) == sorted(
        [ada_assigned.id, ada_sla.id, bob_assigned.id]
    )
    assert [r.webhook_id for r in receiver.of("/b")] == [ada_step.id]
    for event, sequence in ((ada_assigned, 1), (ada_sla, 2), (ada_step, 3), (bob_assigned, 1)):
        body = by_id[event.id].body
        assert body["leadsequence"] == sequence
        assert body["id"] == event.id and body["type"] == event.type
        assert body["data"] == json.loads(event.model_dump_json())["data"]
    async with ctx.sessions() as session:
        lifecycle_sequence = await session.scalar(
            text("SELECT sequence FROM delivery.event WHERE id = :id"), {"id": bob_lifecycle.id}
        )
        states = (
            await session.execute(text("SELECT state, attempts FROM delivery.delivery ORDER BY id"))
        ).all()
    assert lifecycle_sequence == 2
    assert [tuple(s) for s in states] == [("delivered", 1)] * 4

    # the same event again (a producer's retry, a replayed partition): not delivered twice
    ada_again = event_of(LEAD_ASSIGNED, ada, clock())
    await publish(env, producer, ada_assigned, ada_again)
    await wait_for(lambda: stored(ctx, [ada_again.id]), timeout=20)
    await deliver_until(ctx, receiver, 5)
    await asyncio.sleep(0.2)
    assert await dispatch_due(ctx) == 0
    assert [r.webhook_id for r in receiver.got].count(ada_assigned.id) == 1
    assert by_id.keys() | {ada_again.id} == {r.webhook_id for r in receiver.got}
    assert {r.webhook_id: r for r in receiver.got}[ada_again.id].body["leadsequence"] == 4


async def test_a_failing_receiver_sees_the_retry_schedule_and_a_410_disables_its_endpoint(
    env, delivery, producer, receiver, stack
):
    ctx, clock = delivery
    async with ctx.sessions.begin() as session:
        flaky = await create_endpoint(session, receiver.url("/flaky"), [LEAD_SLA.type], clock())
        gone = await create_endpoint(session, receiver.url("/gone"), [LEAD_SLA.type], clock())
    receiver.secrets = {"/flaky": flaky.secret, "/gone": gone.secret}
    receiver.statuses = {"/flaky": [500, 503], "/gone": [410]}
    first, second = (
        event_of(LEAD_SLA, uuid.uuid4(), clock()),
        event_of(LEAD_SLA, uuid.uuid4(), clock()),
    )
    async with TopicReader(stack.bootstrap, env.topic(DELIVERY_ENDPOINT_DISABLED.topic)) as notices:
        await publish(env, producer, first)
        await wait_for(lambda: stored(ctx, [first.id]), timeout=20)
        await deliver_until(ctx, receiver, 2)  # attempt 1 to each
        assert sorted(r.path for r in receiver.got) == ["/flaky", "/gone"]

        async def endpoint(id_):
            async with ctx.sessions() as session:
                return (
                    await session.execute(
                        text(
                            "SELECT enabled, disabled_reason, failing_since FROM delivery.endpoint WHERE id = :id"
                        ),
                        {"id": id_},
                    )
                ).one()

        assert tuple(await endpoint(gone.endpoint.id))[:2] == (False, "gone")
        assert (await endpoint(flaky.endpoint.id)).failing_since == clock()
        (notice,) = await notices.read(until=lambda rs: len(rs) >= 1)
        data = value(notice)["data"]
        assert data["endpoint_id"] == str(gone.endpoint.id) and data["reason"] == "gone"
        assert data["last_status_code"] == 410

        # the flaky one: nothing before the 5 s (+-10 %) of the schedule, then attempt 2 (503)
        clock.advance(seconds=4.4)
        assert await dispatch_due(ctx) == 0
        clock.advance(seconds=1.2)
        assert await dispatch_due(ctx) == 1
        clock.advance(seconds=4 * 60)  # attempt 3 is due 5 min (+-10 %) later
        assert await dispatch_due(ctx) == 0
        clock.advance(seconds=2 * 60)
        assert await dispatch_due(ctx) == 1  # 204 this time
        assert receiver.rejected == []
        flaky_ids = [r.webhook_id for r in receiver.of("/flaky")]
        assert flaky_ids == [first.id] * 3  # the same webhook-id every time
        assert (await endpoint(flaky.endpoint.id)).failing_since is None

        # a disabled endpoint gets no new deliveries
        await publish(env, producer, second)
        await wait_for(lambda: stored(ctx, [second.id]), timeout=20)
        await deliver_until(ctx, receiver, 5)
        assert [r.path for r in receiver.got if r.webhook_id == second.id] == ["/flaky"]
    async with ctx.sessions() as session:
        attempts = (
            await session.execute(
                text(
                    "SELECT number, status_code, outcome FROM delivery.attempt "
                    "WHERE endpoint_id = :id AND event_id = :ev ORDER BY number"
                ),
                {"id": flaky.endpoint.id, "ev": first.id},
            )
        ).all()
    assert [tuple(a) for a in attempts] == [
        (1, 500, "http_error"), (2, 503, "throttled"), (3, 204, "success"),
    ]  # fmt: skip


async def test_stored_events_past_retention_are_pruned_unless_a_delivery_is_pending(
    env, delivery, producer, receiver
):
    ctx, clock = delivery
    async with ctx.sessions.begin() as session:
        hook = await create_endpoint(session, receiver.url("/r"), [LEAD_SLA.type], clock())
    receiver.secrets = {"/r": hook.secret}
    receiver.statuses = {"/r": [500]}  # the second event stays pending (retry in 5 s)
    done, pending = (
        event_of(LEAD_SLA, uuid.uuid4(), clock()),
        event_of(LEAD_SLA, uuid.uuid4(), clock()),
    )
    await publish(env, producer, done)
    await wait_for(lambda: stored(ctx, [done.id]), timeout=20)
    receiver.statuses = {}
    await deliver_until(ctx, receiver, 1)
    receiver.statuses = {"/r": [500]}
    await publish(env, producer, pending)
    await wait_for(lambda: stored(ctx, [pending.id]), timeout=20)
    await deliver_until(ctx, receiver, 2)

    async with ctx.sessions() as session:
        shown = await refresh_gauges(session, clock(), set())
    assert str(hook.endpoint.id) in shown
    assert metrics.BACKLOG.labels(str(hook.endpoint.id))._value.get() == 1

    async with ctx.sessions.begin() as session:
        assert await prune_events(session, clock() - timedelta(days=1)) == 0  # all recent
    async with ctx.sessions.begin() as session:
        assert await prune_events(session, clock() + timedelta(days=1)) == 1
    async with ctx.sessions() as session:
        left = (await session.execute(text("SELECT id FROM delivery.event"))).scalars().all()
        attempts = await session.scalar(
            text("SELECT count(*) FROM delivery.attempt WHERE event_id = :id"), {"id": done.id}
        )
    assert left == [pending.id] and attempts == 0  # its deliveries and attempts went with it


async def _one_due(ctx, clock, url: str, event_id: str):
    """An endpoint and one due delivery to it, inserted directly."""
    async with ctx.sessions.begin() as session:
        endpoint = (await create_endpoint(session, url, [LEAD_SLA.type], clock())).endpoint
        await session.execute(
            text(
                "INSERT INTO delivery.event (id, type, topic, time, payload, stored_at) VALUES "
                "(:id, :type, 'leads.sla.v1', :now, CAST(:payload AS jsonb), :now)"
            ),
            {"id": event_id, "type": LEAD_SLA.type, "now": clock(), "payload": '{"id": "x"}'},
        )
        await session.execute(
            text(
                "INSERT INTO delivery.delivery (endpoint_id, event_id, origin, state, "
                "next_attempt_at, created_at) VALUES (:e, :ev, 'live', 'pending', :now, :now)"
            ),
            {"e": endpoint.id, "ev": event_id, "now": clock()},
        )
    return endpoint


async def _state(ctx, endpoint_id):
    async with ctx.sessions() as session:
        delivery = (
            await session.execute(
                text("SELECT state, attempts FROM delivery.delivery WHERE endpoint_id = :e"),
                {"e": endpoint_id},
            )
        ).one()
        endpoint = (
            await session.execute(
                text(
                    "SELECT enabled, failing_since, last_success_at FROM delivery.endpoint "
                    "WHERE id = :e"
                ),
                {"e": endpoint_id},
            )
        ).one()
        attempts = await session.scalar(
            text("SELECT count(*) FROM delivery.attempt WHERE endpoint_id = :e"), {"e": endpoint_id}
        )
    return tuple(delivery), endpoint, attempts


async def test_an_answer_under_a_lost_lease_is_stored_as_an_attempt_only(delivery):
    ctx, clock = delivery
    endpoint = await _one_due(ctx, clock, "http://127.0.0.1:9/late", "ev-late")
    (item,) = [c for c in await claim(ctx) if c.endpoint_id == endpoint.id]
    assert item.lease_token is not None
    async with ctx.sessions.begin() as session:  # the lease ran out; another claim took it
        await session.execute(
            text("UPDATE delivery.delivery SET lease_token = :t WHERE id = :id"),
            {"t": uuid.uuid4(), "id": item.delivery_id},
        )
    await record(ctx, item, Sent(Response(410, timedelta(milliseconds=5)), clock()))
    (state, attempts), row, stored_attempts = await _state(ctx, endpoint.id)
    assert (state, attempts) == ("pending", 0)
    assert row.enabled and row.failing_since is None  # a 410 under a lost lease disables nothing
    assert stored_attempts == 1


async def test_a_delivery_skipped_in_flight_leaves_its_endpoint_alone(delivery):
    ctx, clock = delivery
    endpoint = await _one_due(ctx, clock, "http://127.0.0.1:9/skipped", "ev-skipped")
    (item,) = [c for c in await claim(ctx) if c.endpoint_id == endpoint.id]
    async with ctx.sessions.begin() as session:
        await session.execute(
            text("UPDATE delivery.delivery SET state = 'skipped' WHERE id = :id"),
            {"id": item.delivery_id},
        )
    before = metrics.DELIVERIES.labels("delivered", LEAD_SLA.type)._value.get()
    await record(ctx, item, Sent(Response(204, timedelta(milliseconds=5)), clock()))
    (state, attempts), row, stored_attempts = await _state(ctx, endpoint.id)
    assert (state, attempts) == ("skipped", 0)
    assert row.last_success_at is None and stored_attempts == 1
    assert metrics.DELIVERIES.labels("delivered", LEAD_SLA.type)._value.get() == before


async def test_an_answer_under_its_own_lease_is_recorded(delivery):
    ctx, clock = delivery
    endpoint = await _one_due(ctx, clock, "http://127.0.0.1:9/own", "ev-own")
    (item,) = [c for c in await claim(ctx) if c.endpoint_id == endpoint.id]
    await record(ctx, item, Sent(Response(204, timedelta(milliseconds=5)), clock()))
    (state, attempts), row, _ = await _state(ctx, endpoint.id)
    assert (state, attempts) == ("delivered", 1) and row.last_success_at is not None


async def test_pending_deliveries_of_a_disabled_endpoint_are_swept_and_never_claimed(delivery):
    ctx, clock = delivery
    endpoint = await _one_due(ctx, clock, "http://127.0.0.1:9/disabled", "ev-disabled")
    async with ctx.sessions.begin() as session:  # disabled while the delivery was fanned out
        await session.execute(
            text("UPDATE delivery.endpoint SET enabled = false WHERE id = :e"), {"e": endpoint.id}
        )
    assert [c for c in await claim(ctx) if c.endpoint_id == endpoint.id] == []
    async with ctx.sessions.begin() as session:
        assert await skip_disabled(session, clock()) >= 1
    async with ctx.sessions() as session:
        row = (
            await session.execute(
                text("SELECT state, skipped_reason FROM delivery.delivery WHERE endpoint_id = :e"),
                {"e": endpoint.id},
            )
        ).one()
    assert tuple(row) == ("skipped", "endpoint disabled")


async def test_an_answer_recorded_after_its_event_was_erased_keeps_no_excerpt(delivery):
    ctx, clock = delivery
    endpoint = await _one_due(ctx, clock, "http://127.0.0.1:9/erased", "ev-erased-late")
    (item,) = [c for c in await claim(ctx) if c.endpoint_id == endpoint.id]
    async with ctx.sessions.begin() as session:  # erased while the attempt was in flight
        await session.execute(
            text("UPDATE delivery.event SET erased_at = :now WHERE id = 'ev-erased-late'"),
            {"now": clock()},
        )
    sent = Sent(Response(200, timedelta(milliseconds=5)), clock(), excerpt="hello Ada")
    await record(ctx, item, sent)
    async with ctx.sessions() as session:
        excerpts = (
            await session.scalars(
                text("SELECT response_excerpt FROM delivery.attempt WHERE endpoint_id = :e"),
                {"e": endpoint.id},
            )
        ).all()
    assert excerpts == [None]


async def test_an_answer_whose_excerpt_cannot_be_stored_is_recorded_without_it(delivery):
    ctx, clock = delivery
    endpoint = await _one_due(ctx, clock, "http://127.0.0.1:9/odd", "ev-odd")
    (item,) = [c for c in await claim(ctx) if c.endpoint_id == endpoint.id]
    sent = Sent(Response(204, timedelta(milliseconds=5)), clock(), excerpt="bad \ud800")
    await record_safely(ctx, item, sent)
    (state, attempts), _, stored_attempts = await _state(ctx, endpoint.id)
    assert (state, attempts) == ("delivered", 1) and stored_attempts == 1
    async with ctx.sessions() as session:
        assert (
            await session.scalar(
                text("SELECT response_excerpt FROM delivery.attempt WHERE endpoint_id = :e"),
                {"e": endpoint.id},
            )
        ) is None


async def test_an_attempt_that_raises_is_recorded_as_a_connect_error(delivery, monkeypatch):
    ctx, clock = delivery
    endpoint = await _one_due(ctx, clock, "http://127.0.0.1:9/raises", "ev-raises")

    async def broken(ctx, item):
        raise RuntimeError("a message that may hold personal data")

    monkeypatch.setattr("services.delivery.dispatch.attempt_one", broken)
    assert await dispatch_due(ctx) >= 1
    (state, attempts), row, _ = await _state(ctx, endpoint.id)
    assert (state, attempts) == ("pending", 1) and row.failing_since is not None
    async with ctx.sessions() as session:
        attempt = (
            await session.execute(
                text("SELECT outcome, error FROM delivery.attempt WHERE endpoint_id = :e"),
                {"e": endpoint.id},
            )
        ).one()
    assert tuple(attempt) == ("connect_error", "RuntimeError")


async def test_once_stopping_no_queued_send_starts_and_its_lease_is_given_back(delivery):
    ctx, clock = delivery
    endpoint = await _one_due(ctx, clock, "http://127.0.0.1:9/stopping", "ev-stopping")
    stopping = asyncio.Event()
    stopping.set()
    assert await dispatch_due(ctx, stopping) >= 1
    (state, attempts), _, stored_attempts = await _state(ctx, endpoint.id)
    assert (state, attempts, stored_attempts) == ("pending", 0, 0)
    async with ctx.sessions() as session:
        lease = (
            await session.execute(
                text(
                    "SELECT leased_until, lease_token FROM delivery.delivery WHERE endpoint_id = :e"
                ),
                {"e": endpoint.id},
            )
        ).one()
    assert tuple(lease) == (None, None)  # due again at once for the next process

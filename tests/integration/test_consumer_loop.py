"""The shared consumer loop on a real broker: commit, DLQ, retries, halts."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel

from shared.events.envelope import make_event
from shared.kafka.consumer import ConsumerConfig, ConsumerLoop, InvalidMessage
from shared.kafka.dlq import DlqLimit, DlqLimitExceeded
from shared.kafka.producer import EventProducer
from shared.kafka.topics import dlq_topic, ensure_topics
from tests.kafka_helpers import TopicReader, wait_for


class Payload(BaseModel):
    n: int


@pytest.fixture
async def topic(stack):
    name = f"test-{uuid.uuid4().hex[:10]}.v1"
    await ensure_topics(stack.bootstrap, {name: 3, dlq_topic(name): 1})
    return name


async def send(producer: EventProducer, topic: str, n: int) -> str:
    event = make_event(type="test.v1", source="/tests", subject=str(n), data=Payload(n=n))
    await producer.publish(topic, str(n).encode(), event)
    return event.id


async def committed_total(bootstrap: str, topic: str, group: str) -> int:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        total = 0
        for p in range(3):
            total += await consumer.committed(TopicPartition(topic, p)) or 0
        return total
    finally:
        await consumer.stop()


def loop_for(stack, topic, group, handler, producer, **cfg) -> ConsumerLoop:
    return ConsumerLoop(
        ConsumerConfig(
            topics=[topic],
            group_id=group,
            bootstrap_servers=stack.bootstrap,
            backoff_initial=0.05,
            **cfg,
        ),
        handler,
        producer,
    )


async def test_processes_dead_letters_and_commits(stack, topic, producer):
    group = f"g-{uuid.uuid4().hex[:8]}"
    seen: list[int] = []
    flaky_failures = {"left": 2}

    async def handler(event, record):
        n = event.data["n"]
        if n == 7:
            raise InvalidMessage("seven is not allowed")
        if n == 9 and flaky_failures["left"]:
            flaky_failures["left"] -= 1
            raise ConnectionError("postgres blinked")
        seen.append(n)

    for n in range(20):
        await send(producer, topic, n)
    await producer.publish_raw(topic, b"poison", b"{not json", [("origin", b"test")])

    async with TopicReader(stack.bootstrap, dlq_topic(topic)) as dlq:
        loop = loop_for(stack, topic, group, handler, producer)
        task = asyncio.create_task(loop.run())
        await wait_for(lambda: len(seen) >= 19, timeout=30)
        letters = await dlq.read(until=lambda rs: len(rs) >= 2, timeout=15)
        loop.stop()
        await asyncio.wait_for(task, 15)

    assert sorted(seen) == [n for n in range(20) if n != 7]
    assert seen.count(9) == 1
    assert len(letters) == 2
    by_key = {r.key: dict(r.headers) for r in letters}
    assert by_key[b"poison"][b"dlq.error.type".decode()] == b"InvalidEvent"
    assert by_key[b"poison"]["dlq.original.topic"] == topic.encode()
    assert by_key[b"poison"]["origin"] == b"test"  # original headers kept
    assert by_key[b"7"]["dlq.error.type"] == b"InvalidMessage"
    assert by_key[b"7"]["dlq.error.message"] == b"seven is not allowed"
    assert await committed_total(stack.bootstrap, topic, group) == 21

    # a restart of the same group reprocesses nothing
    again: list[int] = []

    async def record_only(event, record):
        again.append(event.data["n"])

    loop = loop_for(stack, topic, group, record_only, producer)
    task = asyncio.create_task(loop.run())
    await send(producer, topic, 100)
    await wait_for(lambda: again, timeout=30)
    loop.stop()
    await asyncio.wait_for(task, 15)
    assert again == [100]


async def test_dlq_limit_halts_the_consumer(stack, topic, producer):
    group = f"g-{uuid.uuid4().hex[:8]}"
    for n in range(10):
        await producer.publish_raw(topic, str(n).encode(), b"garbage")

    async def handler(event, record):
        raise AssertionError("never reached: nothing decodes")

    loop = loop_for(stack, topic, group, handler, producer, dlq_limit=DlqLimit(max_consecutive=3))
    with pytest.raises(DlqLimitExceeded):
        await asyncio.wait_for(loop.run(), 30)
    assert await committed_total(stack.bootstrap, topic, group) < 10


async def test_infrastructure_outage_stops_without_committing(stack, topic, producer):
    group = f"g-{uuid.uuid4().hex[:8]}"
    await send(producer, topic, 1)
    calls = {"n": 0}

    async def down(event, record):
        calls["n"] += 1
        raise ConnectionError("database unreachable")

    loop = loop_for(stack, topic, group, down, producer, max_attempts=3)
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(loop.run(), 30)
    assert calls["n"] == 3
    assert await committed_total(stack.bootstrap, topic, group) == 0

    handled: list[int] = []

    async def up(event, record):
        handled.append(event.data["n"])

    loop = loop_for(stack, topic, group, up, producer)
    task = asyncio.create_task(loop.run())
    await wait_for(lambda: handled, timeout=30)
    loop.stop()
    await asyncio.wait_for(task, 15)
    assert handled == [1]
    async with TopicReader(stack.bootstrap, dlq_topic(topic)) as dlq:
        await dlq.mark(from_beginning=True)
        assert await dlq.new_count() == 0


async def test_lag_shows_while_a_handler_hangs(stack, topic, producer):
    """The lag gauge comes from the broker on its own clock: a consumer stuck in a handler
    still shows its lag growing (what the stalled-consumer alert watches)."""
    from prometheus_client import REGISTRY

    group = f"g-{uuid.uuid4().hex[:8]}"
    release = asyncio.Event()
    handled: list[int] = []

    async def handler(event, record):
        if event.data["n"] >= 100:
            await release.wait()  # stuck: a lock, a hung call
        handled.append(event.data["n"])

    def lag() -> float:
        return sum(
            REGISTRY.get_sample_value(
                "leadflow_consumer_lag", {"group": group, "topic": topic, "partition": str(p)}
            )
            or 0.0
            for p in range(3)
        )

    loop = loop_for(stack, topic, group, handler, producer, lag_every=0.3)
    task = asyncio.create_task(loop.run())
    try:
        for n in range(5):
            await send(producer, topic, n)
        await wait_for(lambda: len(handled) == 5, timeout=30)
        for n in range(100, 130):
            await send(producer, topic, n)
        await wait_for(lambda: lag() >= 30, timeout=30)  # all 30 behind, one of them stuck
        assert len(handled) == 5
        release.set()
        await wait_for(lambda: len(handled) == 35 and lag() == 0, timeout=30)  # caught up
    finally:
        release.set()
        loop.stop()
        await asyncio.wait_for(task, 30)

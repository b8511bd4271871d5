"""SIGTERM: the consumer finishes its batch, commits and exits 0; nothing is handled twice."""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel

from shared.events.envelope import make_event
from shared.kafka.producer import EventProducer
from shared.kafka.topics import dlq_topic, ensure_topics
from shared.stack.common import REPO_ROOT
from tests.kafka_helpers import wait_for


class N(BaseModel):
    n: int


async def test_sigterm_commits_and_a_restart_resumes_without_repeats(stack, tmp_path):
    topic = f"shutdown-{uuid.uuid4().hex[:8]}.v1"
    group = f"g-{uuid.uuid4().hex[:8]}"
    await ensure_topics(stack.bootstrap, {topic: 2, dlq_topic(topic): 1})
    producer = EventProducer(stack.bootstrap)
    await producer.start(required=True)
    ids = []
    for n in range(200):
        event = make_event(type="test.v1", source="/tests", subject=str(n), data=N(n=n))
        ids.append(event.id)
        await producer.publish(topic, str(n).encode(), event)
    await producer.stop()
    out = tmp_path / "handled.txt"
    out.touch()
    cmd = [
        sys.executable,
        "-m",
        "tests.integration.programs.slow_consumer",
        stack.bootstrap,
        topic,
        group,
        str(out),
    ]

    first = await asyncio.create_subprocess_exec(*cmd, cwd=REPO_ROOT)
    await wait_for(lambda: len(out.read_text().split()) >= 30, timeout=60)
    first.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(first.wait(), 30) == 0
    handled_first = out.read_text().split()
    assert len(handled_first) < 200  # it really stopped early

    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    committed = sum([await consumer.committed(TopicPartition(topic, p)) or 0 for p in range(2)])
    await consumer.stop()
    assert committed == len(handled_first)  # every handled message committed, nothing more

    second = await asyncio.create_subprocess_exec(*cmd, cwd=REPO_ROOT)
    await wait_for(lambda: len(out.read_text().split()) >= 200, timeout=60)
    second.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(second.wait(), 30) == 0
    handled = out.read_text().split()
    assert sorted(handled) == sorted(ids)  # each exactly once

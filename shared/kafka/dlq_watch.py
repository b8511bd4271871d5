"""The size of dead-letter topics as a gauge, refreshed periodically by every consumer
service (``leadflow_dlq_messages{topic}``: end minus start offsets, summed over partitions)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import Gauge

from shared.logging import get_logger

log = get_logger(__name__)

DLQ_MESSAGES = Gauge(
    "leadflow_dlq_messages", "Messages in a dead-letter topic (high watermark sum)", ["topic"]
)


async def dlq_sizes(bootstrap: str, topics: Sequence[str]) -> dict[str, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        sizes: dict[str, int] = {}
        for topic in topics:
            tps = [TopicPartition(topic, p) for p in cluster.partitions_for_topic(topic) or ()]
            if tps:
                ends = await consumer.end_offsets(tps)
                starts = await consumer.beginning_offsets(tps)
                sizes[topic] = sum(ends[tp] - starts[tp] for tp in tps)
        return sizes
    finally:
        await consumer.stop()


async def watch_dlq(
    bootstrap: str, topics: Sequence[str], stopping: asyncio.Event, every: float = 30.0
) -> None:
    while not stopping.is_set():
        try:
            for topic, size in (await dlq_sizes(bootstrap, topics)).items():
                DLQ_MESSAGES.labels(topic).set(size)
        except Exception as exc:
            log.warning("dlq.watch_failed", error=repr(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), every)

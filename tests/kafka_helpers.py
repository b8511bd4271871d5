"""Reading what really landed on a topic."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.structs import ConsumerRecord

from shared.kafka.security import Kafka, client_options


async def topic_configs(kafka: Kafka, topic: str) -> dict[str, str]:
    """The topic's configuration as the broker describes it, once it knows the new topic."""
    admin = AIOKafkaAdminClient(**client_options(kafka))
    await admin.start()
    try:
        for _ in range(50):
            (response,) = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic)]
            )
            ((error_code, _message, _type, _name, entries),) = response.resources
            if error_code == 0:
                return {entry[0]: entry[1] for entry in entries}
            await asyncio.sleep(0.2)
        raise AssertionError(f"{topic} unknown to the broker, error {error_code}")
    finally:
        await admin.close()


class TopicReader:
    """Reads one topic from the offsets it had when :meth:`mark` was called (no consumer group)."""

    def __init__(self, bootstrap: Kafka, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self._consumer: AIOKafkaConsumer | None = None
        self._start: dict[TopicPartition, int] = {}

    async def __aenter__(self) -> TopicReader:
        self._consumer = AIOKafkaConsumer(
            **client_options(self.bootstrap), enable_auto_commit=False, group_id=None
        )
        await self._consumer.start()
        partitions = None
        deadline = time.monotonic() + 15
        while (
            not partitions and time.monotonic() < deadline
        ):  # a new topic takes a moment to appear
            cluster = await self._consumer._client.fetch_all_metadata()
            partitions = cluster.partitions_for_topic(self.topic)
            if not partitions:
                await asyncio.sleep(0.2)
        if not partitions:
            await self._consumer.stop()
            raise AssertionError(f"topic {self.topic} does not exist")
        self._tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self._consumer.assign(self._tps)
        await self.mark()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._consumer is not None
        await self._consumer.stop()

    async def end_offsets(self) -> dict[TopicPartition, int]:
        assert self._consumer is not None
        return await self._consumer.end_offsets(self._tps)

    async def mark(self, from_beginning: bool = False) -> None:
        """Remember the current end of every partition; later reads start there."""
        assert self._consumer is not None
        if from_beginning:
            self._start = await self._consumer.beginning_offsets(self._tps)
        else:
            self._start = await self.end_offsets()

    async def new_count(self) -> int:
        ends = await self.end_offsets()
        return sum(ends[tp] - self._start[tp] for tp in self._tps)

    async def read(
        self,
        until: Callable[[list[ConsumerRecord]], bool] | None = None,
        timeout: float = 20.0,
    ) -> list[ConsumerRecord]:
        """Everything since the mark; stops when ``until(records)`` holds or at the end after timeout."""
        assert self._consumer is not None
        for tp, offset in self._start.items():
            self._consumer.seek(tp, offset)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            for recs in batch.values():
                records.extend(recs)
            if until is not None and until(records):
                break
            if until is None and not batch:
                ends = await self.end_offsets()
                positions = [await self._consumer.position(tp) for tp in self._tps]
                if all(pos >= ends[tp] for pos, tp in zip(positions, self._tps, strict=True)):
                    break
        return records


def value(record: ConsumerRecord) -> dict[str, Any]:
    return json.loads(record.value)  # type: ignore[no-any-return]


async def wait_for(
    predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        await asyncio.sleep(interval)
    raise AssertionError("condition not met in time")

"""Dead letters: count them, read them, and replay them to the topic they came from.

A consumer dead-letters a message to ``<topic>.dlq`` with the same key and value, its original
headers and ``dlq.*`` headers naming the error and the original topic, partition and offset
(``shared/kafka/consumer.py``). Replaying sends key, value and original headers back to the
original topic, where the consumer handles it like any other message (idempotent on the event
id, so a message replayed twice still takes effect once).

Replay progress is the committed offset of the consumer group ``leadflow-dlq-replay`` on the
dead-letter topic: a second replay starts after the last message the first one sent, and
"awaiting replay" (the ``leadflow_dlq_messages`` gauge, ``leadflow dlq list``) is what lies
beyond it. A replay sends only what was in the topic when it started, so a message that fails
again is dead-lettered for the next replay instead of looping.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CoordinatorLoadInProgressError, GroupCoordinatorNotAvailableError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata

from shared.kafka.producer import EventProducer
from shared.kafka.security import Kafka, client_options, start_client

REPLAY_GROUP = "leadflow-dlq-replay"
DLQ_SUFFIX = ".dlq"
DLQ_HEADER_PREFIX = "dlq."
REPLAYED_FROM = "leadflow.replayed_from"  # "<dlq topic>:<partition>:<offset>" of the last replay

Headers = Sequence[tuple[str, bytes]]


def is_dlq_topic(topic: str) -> bool:
    return topic.endswith(DLQ_SUFFIX)


def _header(headers: Headers, name: str) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode(errors="replace")
    return None


def original_topic(dlq_topic: str, headers: Headers) -> str:
    """The topic a dead letter came from: its ``dlq.original.topic`` header, else the DLQ name
    without ``.dlq``."""
    named = _header(headers, "dlq.original.topic")
    topic = named or dlq_topic.removesuffix(DLQ_SUFFIX)
    if is_dlq_topic(topic) or not topic:
        raise ValueError(f"dead letter in {dlq_topic} names no replayable topic ({topic!r})")
    return topic


def replay_headers(headers: Headers, source: str) -> list[tuple[str, bytes]]:
    """The original headers (no ``dlq.*``, no earlier replay mark) plus where this replay came from."""
    kept = [
        (key, value)
        for key, value in headers
        if not key.startswith(DLQ_HEADER_PREFIX) and key != REPLAYED_FROM
    ]
    return [*kept, (REPLAYED_FROM, source.encode())]


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    @classmethod
    def from_record(cls, record: ConsumerRecord) -> DeadLetter:
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            headers=tuple(record.headers or ()),
        )

    def header(self, name: str) -> str | None:
        return _header(self.headers, name)

    @property
    def original_topic(self) -> str:
        return original_topic(self.topic, self.headers)

    @property
    def source(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    def event(self) -> tuple[str | None, str | None]:
        """(type, id) of the CloudEvent in the value, when it is one."""
        try:
            envelope = json.loads(self.value or b"")
        except ValueError:
            return None, None
        if not isinstance(envelope, dict):
            return None, None
        kind, ident = envelope.get("type"), envelope.get("id")
        return (
            kind if isinstance(kind, str) else None,
            str(ident) if ident is not None else None,
        )


@dataclass(frozen=True)
class DlqCount:
    topic: str
    partitions: int
    messages: int  # still in the topic (retention not passed)
    awaiting_replay: int  # beyond the replay group's committed offset


@dataclass
class ReplayResult:
    total: int = 0  # awaiting replay when it started
    replayed: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)
    letters: list[DeadLetter] = field(default_factory=list)  # only kept for a dry run


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    cluster = await consumer._client.fetch_all_metadata()
    return [TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())]


# A new cluster creates its offsets topic on the first group request and answers "coordinator
# not available" until it has (a second or two): asked right after create-topics, wait for it.
COORDINATOR_WAIT_SECONDS = 15.0


async def _group_offsets(
    admin: AIOKafkaAdminClient, group: str
) -> dict[TopicPartition, OffsetAndMetadata]:
    deadline = time.monotonic() + COORDINATOR_WAIT_SECONDS
    while True:
        try:
            return await admin.list_consumer_group_offsets(group)
        except (GroupCoordinatorNotAvailableError, CoordinatorLoadInProgressError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def dlq_topics(bootstrap: Kafka) -> list[str]:
    admin = AIOKafkaAdminClient(**client_options(bootstrap), request_timeout_ms=15000)
    await start_client(admin, bootstrap)
    try:
        return sorted(t for t in await admin.list_topics() if is_dlq_topic(t))
    finally:
        await admin.close()


async def dlq_counts(
    bootstrap: Kafka, topics: Sequence[str] | None = None, group: str = REPLAY_GROUP
) -> list[DlqCount]:
    """Messages in each DLQ topic, and how many of them the replay group has not replayed."""
    names = list(topics) if topics is not None else await dlq_topics(bootstrap)
    admin = AIOKafkaAdminClient(**client_options(bootstrap), request_timeout_ms=15000)
    consumer = AIOKafkaConsumer(**client_options(bootstrap), group_id=None)
    await start_client(admin, bootstrap)
    try:
        await start_client(consumer, bootstrap)
    except BaseException:
        await admin.close()
        raise
    try:
        committed = await _group_offsets(admin, group)
        counts = []
        for topic in names:
            tps = await _partitions(consumer, topic)
            if not tps:
                continue
            starts = await consumer.beginning_offsets(tps)
            ends = await consumer.end_offsets(tps)
            awaiting = 0
            for tp in tps:
                done = committed.get(tp)
                replayed_to = done.offset if done is not None and done.offset >= 0 else 0
                awaiting += ends[tp] - max(starts[tp], replayed_to)
            counts.append(
                DlqCount(
                    topic=topic,
                    partitions=len(tps),
                    messages=sum(ends[tp] - starts[tp] for tp in tps),
                    awaiting_replay=max(awaiting, 0),
                )
            )
        return counts
    finally:
        await consumer.stop()
        await admin.close()


async def read_dead_letters(
    bootstrap: Kafka, topic: str, *, limit: int, max_wait: float = 10.0
) -> list[DeadLetter]:
    """The first ``limit`` dead letters still in the topic (oldest first per partition)."""
    consumer = AIOKafkaConsumer(
        **client_options(bootstrap), group_id=None, enable_auto_commit=False
    )
    await start_client(consumer, bootstrap)
    try:
        tps = await _partitions(consumer, topic)
        if not tps:
            raise LookupError(f"topic {topic} does not exist")
        consumer.assign(tps)
        starts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, starts[tp])
        letters: list[DeadLetter] = []
        deadline = time.monotonic() + max_wait
        while len(letters) < limit and time.monotonic() < deadline:
            positions = {tp: await consumer.position(tp) for tp in tps}
            if all(positions[tp] >= ends[tp] for tp in tps):
                break
            batch = await consumer.getmany(timeout_ms=500, max_records=limit)
            for tp, records in batch.items():
                letters.extend(DeadLetter.from_record(r) for r in records if r.offset < ends[tp])
        letters.sort(key=lambda d: (d.partition, d.offset))
        return letters[:limit]
    finally:
        await consumer.stop()


Progress = Callable[[int, int], None]  # (done, total)


async def replay(
    bootstrap: Kafka,
    topic: str,
    *,
    group: str = REPLAY_GROUP,
    dry_run: bool = False,
    limit: int | None = None,
    on_progress: Progress | None = None,
    idle_seconds: float = 30.0,
) -> ReplayResult:
    """Send the dead letters the replay group has not replayed yet back to their topics.

    Each message is acknowledged by Kafka (acks=all) before the group commits past it, so an
    interrupted replay resumes where it stopped; at worst the letters of the batch in flight
    are sent twice, which the consumers' idempotence on the event id absorbs. A dry run sends
    and commits nothing. (:func:`skip_letter` passes one letter that can never succeed.)"""
    if not is_dlq_topic(topic):
        raise ValueError(f"{topic} is not a dead-letter topic (no {DLQ_SUFFIX} suffix)")
    progress = on_progress or (lambda _done, _total: None)
    consumer = AIOKafkaConsumer(
        **client_options(bootstrap),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = None if dry_run else EventProducer(bootstrap, client_id="leadflow-dlq-replay")
    await start_client(consumer, bootstrap)
    try:
        if producer is not None:
            await producer.start(required=True)
        tps = await _partitions(consumer, topic)
        if not tps:
            raise LookupError(f"topic {topic} does not exist")
        consumer.assign(tps)
        starts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)  # replay what is there now, nothing newer
        begin: dict[TopicPartition, int] = {}
        for tp in tps:
            committed = await consumer.committed(tp)
            begin[tp] = max(starts[tp], committed if committed is not None else 0)
            consumer.seek(tp, begin[tp])
        result = ReplayResult(total=sum(max(ends[tp] - begin[tp], 0) for tp in tps))
        if limit is not None:
            result.total = min(result.total, limit)
        progress(0, result.total)
        deadline = time.monotonic() + idle_seconds
        pending = {tp for tp in tps if begin[tp] < ends[tp]}
        while pending and result.replayed < result.total:
            if time.monotonic() > deadline:
                raise TimeoutError(f"replay of {topic}: no message fetched for {idle_seconds:.0f}s")
            batch = await consumer.getmany(*pending, timeout_ms=500, max_records=500)
            if batch:
                deadline = time.monotonic() + idle_seconds
            for tp, records in batch.items():
                last: int | None = None
                for record in records:
                    if record.offset >= ends[tp] or result.replayed >= result.total:
                        break
                    letter = DeadLetter.from_record(record)
                    target = letter.original_topic
                    if producer is not None:
                        await producer.publish_raw(
                            target,
                            letter.key,
                            letter.value,
                            replay_headers(letter.headers, letter.source),
                        )
                    elif dry_run:
                        result.letters.append(letter)
                    result.replayed += 1
                    result.by_topic[target] = result.by_topic.get(target, 0) + 1
                    last = record.offset
                    progress(result.replayed, result.total)
                if last is not None and not dry_run:
                    await consumer.commit({tp: last + 1})
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return result
    finally:
        if producer is not None:
            await producer.stop()
        await consumer.stop()


async def skip_letter(
    bootstrap: Kafka, topic: str, partition: int, offset: int, *, group: str = REPLAY_GROUP
) -> DeadLetter:
    """Mark ONE dead letter handled without sending it: the one at ``partition``/``offset``,
    and only if it is the next one awaiting replay there (so nothing before it, and nothing
    after it, is passed over unseen). Returns the letter skipped."""
    if not is_dlq_topic(topic):
        raise ValueError(f"{topic} is not a dead-letter topic (no {DLQ_SUFFIX} suffix)")
    consumer = AIOKafkaConsumer(
        **client_options(bootstrap), group_id=group, enable_auto_commit=False
    )
    await start_client(consumer, bootstrap)
    try:
        tps = await _partitions(consumer, topic)
        tp = TopicPartition(topic, partition)
        if tp not in tps:
            raise LookupError(f"{topic} has no partition {partition}")
        consumer.assign([tp])
        start = (await consumer.beginning_offsets([tp]))[tp]
        end = (await consumer.end_offsets([tp]))[tp]
        committed = await consumer.committed(tp)
        awaiting = max(start, committed if committed is not None else 0)
        if awaiting >= end:
            raise ValueError(f"nothing awaits replay in {topic} partition {partition}")
        if offset != awaiting:
            raise ValueError(
                f"the next dead letter awaiting replay in {topic} partition {partition} is at "
                f"offset {awaiting}, not {offset}: inspect it, then replay or skip that one"
            )
        consumer.seek(tp, offset)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            batch = await consumer.getmany(tp, timeout_ms=500, max_records=1)
            for record in batch.get(tp, []):
                letter = DeadLetter.from_record(record)
                await consumer.commit({tp: offset + 1})
                return letter
        raise TimeoutError(f"could not read {topic} partition {partition} offset {offset}")
    finally:
        await consumer.stop()

"""The consumer loop every leadflow consumer runs.

Steps, in order, per fetched batch (partition order is kept):
1. decode each message as a CloudEvent; one that is not -> DLQ, never retried;
2. call the handler; ``InvalidMessage`` -> DLQ at once; a transient infrastructure error
   (Kafka, Postgres, network) -> retried with backoff, and after ``max_attempts`` the loop
   stops *without* committing that offset, so the message is redelivered after restart;
   any other error -> retried ``max_attempts`` times, then DLQ with the error in headers;
3. stage ``offset + 1`` and commit after the batch, on partition revoke and on shutdown.

Handlers must be idempotent on the event id (redelivery after a crash is normal).
A :class:`~shared.kafka.dlq.DlqLimit` halts the loop when dead letters pile up.

A loop may also have a *batch handler* for some topics: their records in one fetch are
decoded and handed over together (one transaction for all of them). When it raises, the
loop falls back to the per-message handler for each of those records, so a poison
message still goes alone to the DLQ and its neighbours are processed.

Two loops can share a :class:`LaneGate`: the ``urgent`` one (real-time leads) holds it
while it handles a batch, and the other (the bulk lane) waits for it before each batch,
so a web lead never queues behind an import.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from prometheus_client import Counter, Gauge, Histogram

from shared.events.envelope import CloudEvent, InvalidEvent
from shared.kafka.dlq import DlqLimit
from shared.kafka.producer import EventProducer, KafkaUnavailable
from shared.kafka.security import Kafka, client_options, start_client
from shared.kafka.topics import dlq_topic
from shared.logging import get_logger

log = get_logger(__name__)

MESSAGES = Counter(
    "leadflow_consumer_messages_total",
    "Messages handled by a consumer, by outcome (ok, dlq)",
    ["group", "topic", "outcome"],
)
RETRIES = Counter(
    "leadflow_consumer_retries_total",
    "Handler attempts that failed and were retried",
    ["group", "topic"],
)
HANDLE_SECONDS = Histogram(
    "leadflow_consumer_handle_duration_seconds",
    "Time to handle one message, retries included",
    ["group", "topic"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LAG = Gauge(
    "leadflow_consumer_lag",
    "Messages behind the partition's high watermark",
    ["group", "topic", "partition"],
)


BATCH_FALLBACKS = Counter(
    "leadflow_consumer_batch_fallbacks_total",
    "Batches whose batch handler failed, so they were handled one message at a time",
    ["group", "topic"],
)


class InvalidMessage(Exception):
    """The message can never be processed (bad content): dead-letter it, do not retry."""


Handler = Callable[[CloudEvent, ConsumerRecord], Awaitable[None]]
BatchHandler = Callable[[Sequence[tuple[CloudEvent, ConsumerRecord]]], Awaitable[None]]


class LaneGate:
    """Priority between two lanes of one service: while the urgent lane handles a batch the
    other waits before starting its next one (it never interrupts a batch in hand)."""

    def __init__(self) -> None:
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.asynccontextmanager
    async def urgent(self) -> AsyncIterator[None]:
        self._busy += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._busy -= 1
            if not self._busy:
                self._idle.set()

    async def wait_turn(self) -> None:
        await self._idle.wait()


# SQLSTATE classes that mean "the database is not available right now": connection
# exceptions, operator intervention (shutdown, restart), insufficient resources.
TRANSIENT_SQLSTATE_PREFIXES = ("08", "57P", "53")


def is_transient(exc: BaseException) -> bool:
    """Infrastructure errors: retrying later can succeed, dead-lettering would be wrong."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(
            current, KafkaUnavailable | KafkaError | ConnectionError | TimeoutError | OSError
        ):
            return True
        if isinstance(current, OperationalError | InterfaceError):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(TRANSIENT_SQLSTATE_PREFIXES):
            return True
        module = type(current).__module__
        if module.startswith("asyncpg") and type(current).__name__ in (
            "InterfaceError",
            "ConnectionDoesNotExistError",
            "ConnectionFailureError",
        ):
            return True
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False


@dataclass
class ConsumerConfig:
    topics: list[str]
    group_id: str
    # the cluster and how to authenticate to it (a bare string: a plaintext cluster)
    bootstrap_servers: Kafka
    max_batch: int = 500
    max_attempts: int = 5
    backoff_initial: float = 0.2
    backoff_max: float = 10.0
    dlq_limit: DlqLimit = field(default_factory=DlqLimit)
    client_id: str = "leadflow-consumer"
    # lag is also measured on this clock, apart from the loop: a hung handler still shows
    lag_every: float = 15.0


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, loop: ConsumerLoop) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._loop._commit_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info(
            "consumer.partitions_assigned", group=self._loop.config.group_id, count=len(assigned)
        )


class ConsumerLoop:
    def __init__(
        self,
        config: ConsumerConfig,
        handler: Handler,
        producer: EventProducer,
        *,
        batch_handler: BatchHandler | None = None,
        batch_topics: frozenset[str] = frozenset(),
        gate: LaneGate | None = None,
        urgent: bool = True,
    ) -> None:
        self.config = config
        self._handler = handler
        self._batch_handler = batch_handler
        self._batch_topics = batch_topics if batch_handler is not None else frozenset()
        self._gate = gate
        self._urgent = urgent
        self._producer = producer
        self._stopping = asyncio.Event()
        self._lock = asyncio.Lock()  # held while a batch is processed; revoke waits for it
        self._staged: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None

    def stop(self) -> None:
        """Ask the loop to finish its batch, commit and return (safe from a signal handler)."""
        self._stopping.set()

    async def run(self) -> None:
        cfg = self.config
        consumer = AIOKafkaConsumer(
            **client_options(cfg.bootstrap_servers),
            group_id=cfg.group_id,
            client_id=cfg.client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=cfg.max_batch,
            isolation_level="read_committed",
        )
        consumer.subscribe(cfg.topics, listener=_Rebalance(self))
        await start_client(consumer, cfg.bootstrap_servers)
        self._consumer = consumer
        log.info("consumer.started", group=cfg.group_id, topics=cfg.topics)
        lag_task = asyncio.create_task(self._watch_lag(consumer))
        try:
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=500, max_records=cfg.max_batch)
                if not batches:
                    continue
                if self._gate is not None and not self._urgent:
                    await self._gate.wait_turn()
                async with self._lock, self._turn():
                    together: dict[TopicPartition, list[ConsumerRecord]] = {}
                    for tp, records in batches.items():
                        if tp.topic in self._batch_topics:
                            together[tp] = records
                            continue
                        for record in records:
                            await self._process(record)
                            self._staged[tp] = record.offset + 1
                    if together:
                        await self._process_together(together)
                        for tp, records in together.items():
                            self._staged[tp] = records[-1].offset + 1
                    await self._commit(consumer)
                await self._observe_lag(consumer)
        finally:
            lag_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await lag_task
            async with self._lock:
                try:
                    await self._commit(consumer)
                except KafkaError as exc:
                    log.warning("consumer.final_commit_failed", group=cfg.group_id, error=repr(exc))
            await consumer.stop()
            self._consumer = None
            log.info("consumer.stopped", group=cfg.group_id)

    def _turn(self) -> contextlib.AbstractAsyncContextManager[None]:
        if self._gate is not None and self._urgent:
            return self._gate.urgent()
        return contextlib.nullcontext()

    async def _process_together(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Records of the batch topics: decoded, then handed to the batch handler at once
        (partition order kept); if it fails, one at a time through the message handler."""
        assert self._batch_handler is not None
        cfg = self.config
        started = time.perf_counter()
        items: list[tuple[CloudEvent, ConsumerRecord]] = []
        for records in batches.values():
            for record in records:
                try:
                    items.append((CloudEvent.from_bytes(record.value), record))
                except InvalidEvent as exc:
                    await self._dead_letter(record, exc, attempts=0)
        if not items:
            return
        try:
            await self._batch_handler(items)
        except Exception as exc:
            topics = sorted({record.topic for _, record in items})
            for topic in topics:
                BATCH_FALLBACKS.labels(cfg.group_id, topic).inc()
            log.warning(
                "consumer.batch_failed",
                group=cfg.group_id,
                messages=len(items),
                error=repr(exc)[:500],
            )
            for _, record in items:
                await self._process(record)
            return
        each = (time.perf_counter() - started) / len(items)
        for _, record in items:
            HANDLE_SECONDS.labels(cfg.group_id, record.topic).observe(each)
            MESSAGES.labels(cfg.group_id, record.topic, "ok").inc()
            cfg.dlq_limit.record(dead=False)

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        if not self._staged:
            return
        assigned = consumer.assignment()
        offsets = {tp: off for tp, off in self._staged.items() if tp in assigned}
        if offsets:
            await consumer.commit(offsets)
        self._staged.clear()

    async def _commit_revoked(self, revoked: set[TopicPartition]) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        async with self._lock:
            offsets = {tp: off for tp, off in self._staged.items() if tp in revoked}
            if offsets:
                try:
                    await consumer.commit(offsets)
                except KafkaError as exc:  # the next owner re-processes; handlers are idempotent
                    log.warning("consumer.revoke_commit_failed", error=repr(exc))
            for tp in revoked:
                self._staged.pop(tp, None)
                # the new owner reports this partition's lag; a stale value here would be summed
                with contextlib.suppress(KeyError):
                    LAG.remove(self.config.group_id, tp.topic, str(tp.partition))

    async def _process(self, record: ConsumerRecord) -> None:
        cfg = self.config
        started = time.perf_counter()
        try:
            event = CloudEvent.from_bytes(record.value)
        except InvalidEvent as exc:
            await self._dead_letter(record, exc, attempts=0)
            return
        attempt = 0
        delay = cfg.backoff_initial
        while True:
            attempt += 1
            try:
                await self._handler(event, record)
                break
            except (InvalidMessage, InvalidEvent) as exc:
                await self._dead_letter(record, exc, attempts=attempt)
                return
            except Exception as exc:
                if attempt >= cfg.max_attempts:
                    if is_transient(exc):
                        log.error(
                            "consumer.infrastructure_down",
                            group=cfg.group_id,
                            topic=record.topic,
                            offset=record.offset,
                            error=repr(exc),
                        )
                        raise
                    await self._dead_letter(record, exc, attempts=attempt)
                    return
                RETRIES.labels(cfg.group_id, record.topic).inc()
                log.warning(
                    "consumer.retrying",
                    group=cfg.group_id,
                    topic=record.topic,
                    offset=record.offset,
                    attempt=attempt,
                    error=repr(exc),
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, cfg.backoff_max)
        HANDLE_SECONDS.labels(cfg.group_id, record.topic).observe(time.perf_counter() - started)
        MESSAGES.labels(cfg.group_id, record.topic, "ok").inc()
        cfg.dlq_limit.record(dead=False)

    async def _dead_letter(self, record: ConsumerRecord, exc: BaseException, attempts: int) -> None:
        cfg = self.config
        headers = [
            *(record.headers or ()),
            ("dlq.error.type", type(exc).__name__.encode()),
            ("dlq.error.message", str(exc)[:2000].encode()),
            ("dlq.error.trace", "".join(traceback.format_exception(exc))[-4000:].encode()),
            ("dlq.original.topic", record.topic.encode()),
            ("dlq.original.partition", str(record.partition).encode()),
            ("dlq.original.offset", str(record.offset).encode()),
            ("dlq.consumer.group", cfg.group_id.encode()),
            ("dlq.attempts", str(attempts).encode()),
            ("dlq.failed_at", datetime.now(UTC).isoformat().encode()),
        ]
        await self._producer.publish_raw(dlq_topic(record.topic), record.key, record.value, headers)
        MESSAGES.labels(cfg.group_id, record.topic, "dlq").inc()
        log.warning(
            "consumer.dead_lettered",
            group=cfg.group_id,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error_type=type(exc).__name__,
        )
        cfg.dlq_limit.record(dead=True)

    async def _watch_lag(self, consumer: AIOKafkaConsumer) -> None:
        """Lag as the broker sees it (end offset minus the group's committed offset), every
        ``lag_every`` seconds whatever the loop does: a handler that hangs, or a loop that
        gets nothing, still shows its lag growing."""
        group = self.config.group_id
        while True:
            await asyncio.sleep(self.config.lag_every)
            try:
                tps = list(consumer.assignment())
                if not tps:
                    continue
                ends = await consumer.end_offsets(tps)
                starts = await consumer.beginning_offsets(tps)
                for tp in tps:
                    committed = await consumer.committed(tp)
                    if committed is None:  # nothing committed yet: all of it is behind
                        committed = starts[tp]
                    LAG.labels(group, tp.topic, str(tp.partition)).set(max(ends[tp] - committed, 0))
            except Exception as exc:  # a gauge, not the work: try again next round
                log.warning("consumer.lag_watch_failed", group=group, error=repr(exc))

    async def _observe_lag(self, consumer: AIOKafkaConsumer) -> None:
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:
                continue
            position = await consumer.position(tp)
            LAG.labels(self.config.group_id, tp.topic, str(tp.partition)).set(
                max(high - position, 0)
            )

"""Transactional outbox and processed-event ids: database writes and the events they cause
are atomic in effect.

A handler writes its rows, ``mark_processed`` (the event id) and ``enqueue`` (the events it
causes) in ONE transaction. The :class:`OutboxRelay` publishes committed outbox rows in id
order with the idempotent producer and deletes them. One relay is active per schema at a
time (a transaction-level advisory lock), which keeps per-key order; a crash between
publish and delete re-sends the same events with the same ids, which consumers dedupe.
"""

from __future__ import annotations

import asyncio
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge
from sqlalchemy import (
    BigInteger,
    DateTime,
    LargeBinary,
    String,
    Text,
    cast,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from shared.events.envelope import CloudEvent
from shared.kafka.producer import EventProducer, KafkaUnavailable
from shared.logging import get_logger

log = get_logger(__name__)

RELAYED = Counter("leadflow_outbox_relayed_total", "Outbox events published to Kafka", ["schema"])
PENDING = Gauge(
    "leadflow_outbox_pending", "Outbox events committed but not yet published", ["schema"]
)


class OutboxMixin:
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(200))
    key: Mapped[bytes] = mapped_column(LargeBinary)
    event: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ProcessedEventMixin:
    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


async def mark_processed(
    session: AsyncSession, model: type[ProcessedEventMixin], event_id: str, now: datetime
) -> bool:
    """Record an event id; False when it was processed before (do nothing then)."""
    inserted = await session.scalar(
        insert(model)  # type: ignore[arg-type]
        .values(event_id=event_id, processed_at=now)
        .on_conflict_do_nothing()
        .returning(model.event_id)
    )
    return inserted is not None


async def prune_processed(
    session: AsyncSession, model: type[ProcessedEventMixin], before: datetime, limit: int = 10_000
) -> int:
    """Forget event ids processed before ``before`` (long past any redelivery: Kafka's
    retention and the consumers' retries are far shorter); at most ``limit`` per call."""
    oldest = (
        select(model.event_id)  # type: ignore[arg-type]
        .where(model.processed_at < before)
        .order_by(model.processed_at)
        .limit(limit)
    )
    result = await session.execute(delete(model).where(model.event_id.in_(oldest)))  # type: ignore[arg-type]
    return result.rowcount or 0  # type: ignore[attr-defined]


async def prune_forever(
    sessions: async_sessionmaker[AsyncSession],
    model: type[ProcessedEventMixin],
    retention: timedelta,
    stopping: asyncio.Event,
    every: float = 3600.0,
) -> None:
    """Prune processed event ids older than ``retention``, now and then every ``every`` s."""
    while not stopping.is_set():
        try:
            while True:
                async with sessions.begin() as session:
                    pruned = await prune_processed(session, model, datetime.now(UTC) - retention)
                if pruned:
                    log.info("outbox.processed_pruned", table=model.__tablename__, count=pruned)  # type: ignore[attr-defined]
                if pruned < 10_000:
                    break
        except Exception as exc:  # the next round tries again
            log.warning("outbox.prune_failed", error=repr(exc))
        try:
            await asyncio.wait_for(stopping.wait(), every)
        except TimeoutError:
            pass


def outbox_row(topic: str, key: str, event: CloudEvent, now: datetime) -> dict[str, Any]:
    """The column values of one outbox row (for bulk inserts)."""
    return {
        "topic": topic,
        "key": key.encode(),
        "event": event.to_json_dict(),
        "created_at": now,
    }


def enqueue(
    session: AsyncSession,
    model: type[OutboxMixin],
    topic: str,
    key: str,
    event: CloudEvent,
    now: datetime,
) -> None:
    session.add(model(**outbox_row(topic, key, event, now)))


class OutboxRelay:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        model: type[OutboxMixin],
        producer: EventProducer,
        *,
        schema: str,
        topic_prefix: str = "",
        batch: int = 500,
        idle_seconds: float = 0.2,
    ) -> None:
        self._sessions = sessions
        self._model = model
        self._producer = producer
        self._schema = schema
        self._prefix = topic_prefix
        self._batch = batch
        self._idle = idle_seconds
        self._lock_key = zlib.crc32(f"leadflow-outbox-{schema}".encode())
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    def notify(self) -> None:
        """Something was committed: publish now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        backoff = self._idle
        while not self._stopping.is_set():
            try:
                published = await self.relay_once()
                backoff = self._idle
            except KafkaUnavailable as exc:
                log.warning("outbox.kafka_unavailable", schema=self._schema, error=str(exc))
                published, backoff = 0, min(backoff * 2, 5.0)
            except Exception as exc:  # database trouble: keep trying, the rows are safe
                log.warning("outbox.relay_failed", schema=self._schema, error=repr(exc))
                published, backoff = 0, min(backoff * 2, 5.0)
            if published >= self._batch:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), backoff)
            except TimeoutError:
                pass
        await self.relay_once()  # drain what is committed before exiting

    async def relay_once(self) -> int:
        """Publish one batch; returns how many were published."""
        m = self._model
        async with self._sessions.begin() as session:
            got = await session.scalar(
                text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": self._lock_key}
            )
            if not got:
                return 0  # another relay is active
            # the event as stored, as JSON text: published as it is, never parsed again
            rows = (
                await session.execute(
                    select(m.id, m.topic, m.key, cast(m.event, Text).label("json"))
                    .order_by(m.id)
                    .limit(self._batch)
                )
            ).all()
            if not rows:
                PENDING.labels(self._schema).set(0)
                return 0
            await self._producer.publish_many(
                [(self._prefix + r.topic, r.key, r.json.encode(), ()) for r in rows]
            )
            await session.execute(delete(m).where(m.id.in_([r.id for r in rows])))
            # a full batch means a backlog: count it (otherwise it is drained, no scan needed)
            remaining = (
                await session.scalar(select(func.count()).select_from(m))
                if len(rows) == self._batch
                else 0
            )
        RELAYED.labels(self._schema).inc(len(rows))
        PENDING.labels(self._schema).set(remaining or 0)
        return len(rows)

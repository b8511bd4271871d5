"""Kafka messages -> stored events and live deliveries.

Every consumed event is stored once (idempotent on its id), numbered per lead
(``lead_sequence``), given the ``leadsequence`` extension attribute, and fanned out to one
``live`` delivery per enabled endpoint subscribed to its type, due at once: all in one
transaction per batch (a message alone, the consumer's fallback when a batch fails, is a
batch of one). A message on a topic delivery does not consume, or of a type its topic
does not carry, goes to the DLQ (``InvalidMessage``); a type that is not deliverable is
marked processed and ignored."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from aiokafka.structs import ConsumerRecord
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.delivery import metrics
from services.delivery.context import DeliveryContext
from services.delivery.erasure import erase, erased_payload, refers_to_erased
from services.delivery.models import LeadSequence, ProcessedEvent, StoredEvent
from shared.events.envelope import CloudEvent
from shared.events.models import LeadErased
from shared.events.registry import (
    LEAD_ASSIGNED,
    LEAD_ERASED,
    LEAD_LIFECYCLE,
    LEAD_MERGE,
    LEAD_SLA,
    NURTURE_LIFECYCLE,
    NURTURE_STEP,
    EventType,
)
from shared.kafka.consumer import BatchHandler, Handler, InvalidMessage
from shared.metrics import on_commit
from shared.outbox import mark_processed

# what delivery consumes (one consumer, one group); their types are the deliverable ones
CONSUMED: tuple[EventType, ...] = (
    LEAD_ASSIGNED,
    LEAD_SLA,
    LEAD_LIFECYCLE,
    LEAD_MERGE,
    LEAD_ERASED,
    NURTURE_STEP,
    NURTURE_LIFECYCLE,
)
DELIVERABLE_TYPES: frozenset[str] = frozenset(t.type for t in CONSUMED)
SEQUENCE_ATTRIBUTE = "leadsequence"

_FAN_OUT = text(
    "INSERT INTO delivery.delivery (endpoint_id, event_id, origin, state, attempts, "
    "next_attempt_at, created_at) "
    "SELECT e.id, :event_id, 'live', 'pending', 0, :now, :now FROM delivery.endpoint e "
    "WHERE e.enabled AND CAST(:type AS text) = ANY(e.event_types) "
    "ON CONFLICT (endpoint_id, event_id) WHERE origin = 'live' DO NOTHING"
)


@dataclass(frozen=True)
class Incoming:
    """One consumed event, decoded: what is stored and delivered."""

    event: CloudEvent
    topic: str  # without the prefix
    payload: dict[str, Any]  # the CloudEvent as received (extension attributes kept)
    lead_id: uuid.UUID | None


def lead_id_of(event: CloudEvent, event_type: EventType) -> uuid.UUID | None:
    """The lead an event is about: its data's ``lead_id`` (every deliverable type has one)."""
    lead_id = getattr(event.data_as(event_type.model), "lead_id", None)
    return lead_id if isinstance(lead_id, uuid.UUID) else None


def with_sequence(payload: dict[str, Any], sequence: int | None) -> dict[str, Any]:
    """The payload as delivered: the CloudEvent with its per-lead ``leadsequence``."""
    if sequence is None:
        return payload
    return {**payload, SEQUENCE_ATTRIBUTE: sequence}


def _routes(ctx: DeliveryContext) -> dict[str, EventType]:
    return {ctx.settings.topic(t.topic): t for t in CONSUMED}


def _decode(
    routes: dict[str, EventType], event: CloudEvent, record: ConsumerRecord
) -> Incoming | None:
    """``None`` for an event of a type that is not delivered (marked processed, ignored)."""
    expected = routes.get(record.topic)
    if expected is None:
        raise InvalidMessage(f"delivery does not consume {record.topic}")
    if event.type not in DELIVERABLE_TYPES:
        return None
    if event.type != expected.type:
        raise InvalidMessage(f"{expected.topic} carries {expected.type}, not {event.type}")
    try:
        payload = orjson.loads(record.value)
    except orjson.JSONDecodeError as exc:  # CloudEvent.from_bytes parsed it: unreachable
        raise InvalidMessage("not JSON") from exc
    if not isinstance(payload, dict):
        raise InvalidMessage("not a JSON object")
    payload.pop(SEQUENCE_ATTRIBUTE, None)  # delivery numbers the events itself
    return Incoming(event, expected.topic, payload, lead_id_of(event, expected))


async def next_sequence(session: AsyncSession, lead_id: uuid.UUID) -> int:
    stmt = (
        insert(LeadSequence)
        .values(lead_id=lead_id, last=1)
        .on_conflict_do_update(
            index_elements=[LeadSequence.lead_id], set_={"last": LeadSequence.last + 1}
        )
        .returning(LeadSequence.last)
    )
    return int((await session.execute(stmt)).scalar_one())


async def store(session: AsyncSession, item: Incoming, now: datetime) -> bool:
    """Store one event and fan it out; False when it was stored before (nothing done)."""
    event = item.event
    if not await mark_processed(session, ProcessedEvent, event.id, now):
        return False
    exists = await session.scalar(
        text("SELECT 1 FROM delivery.event WHERE id = :id"), {"id": event.id}
    )
    if exists:  # processed before its processed id was pruned
        return False
    late = False  # about a lead or submission erased before it arrived
    if event.type == LEAD_ERASED.type:  # erase first: the erasure event itself is kept
        await erase(session, event.data_as(LeadErased), now)
    else:
        late = await refers_to_erased(session, item.payload.get("data"))
    sequence = await next_sequence(session, item.lead_id) if item.lead_id else None
    payload = with_sequence(item.payload, sequence)
    await session.execute(
        insert(StoredEvent).values(
            id=event.id,
            type=event.type,
            topic=item.topic,
            lead_id=item.lead_id,
            time=event.time,
            sequence=sequence,
            payload=erased_payload(payload) if late else payload,
            stored_at=now,
            erased_at=now if late else None,
        )
    )
    if not late:
        await session.execute(_FAN_OUT, {"event_id": event.id, "type": event.type, "now": now})
    return True


def _lock_order(item: Incoming | None) -> tuple[bool, str]:
    lead_id = item.lead_id if item is not None else None
    return (lead_id is None, str(lead_id) if lead_id is not None else "")


async def store_batch(ctx: DeliveryContext, items: Sequence[Incoming | None]) -> int:
    now = ctx.clock()
    stored: list[str] = []
    async with ctx.sessions.begin() as session:
        # lead_sequence rows locked in lead id order (two batches never wait on each other
        # in a cycle); the sort is stable, so each lead's events keep their order
        for item in sorted(items, key=_lock_order):
            if item is not None and await store(session, item, now):
                stored.append(item.event.type)

        def count() -> None:
            for event_type in stored:
                metrics.EVENTS_STORED.labels(event_type).inc()

        on_commit(session, count)
    return len(stored)


def make_handler(ctx: DeliveryContext) -> Handler:
    routes = _routes(ctx)

    async def handle(event: CloudEvent, record: ConsumerRecord) -> None:
        item = _decode(routes, event, record)
        if item is None:
            async with ctx.sessions.begin() as session:
                await mark_processed(session, ProcessedEvent, event.id, ctx.clock())
            return
        await store_batch(ctx, [item])

    return handle


def make_batch_handler(ctx: DeliveryContext) -> tuple[BatchHandler, frozenset[str]]:
    """The handler for whole batches, and the topics it takes. A message it cannot decode
    raises, and the consumer then handles the batch one message at a time (where that
    message alone goes to the DLQ)."""
    routes = _routes(ctx)

    async def handle(items: Sequence[tuple[CloudEvent, ConsumerRecord]]) -> None:
        await store_batch(ctx, [_decode(routes, event, record) for event, record in items])

    return handle, frozenset(routes)

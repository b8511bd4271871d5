"""Kafka messages -> nurture. Decisions (``leads.assigned.v1``), activities
(``leads.activity.v1``), sales lifecycle changes (``leads.lifecycle.v1``) and merges of leads
(``leads.merges.v1``) are decided a batch per transaction; a message alone (the consumer's fallback when a batch fails) is a
batch of one. Erasures (``leads.erasure.v1``) are applied first, one per transaction."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel

from services.nurture import metrics
from services.nurture.context import NurtureContext
from services.nurture.erasure import erase
from services.nurture.intake.batch import Item, handle_batch
from services.nurture.repository import BatchRepository
from shared.events.envelope import CloudEvent
from shared.events.models import (
    ActivityReceived,
    LeadAssigned,
    LeadErased,
    LeadLifecycle,
    LeadMerge,
    unknown_activity_kind,
)
from shared.events.registry import (
    LEAD_ACTIVITY,
    LEAD_ASSIGNED,
    LEAD_ERASED,
    LEAD_LIFECYCLE,
    LEAD_MERGE,
    EventType,
)
from shared.kafka.consumer import BatchHandler, Handler, InvalidMessage
from shared.logging import get_logger

log = get_logger(__name__)

# what nurture consumes (one consumer, one group)
CONSUMED: tuple[EventType, ...] = (
    LEAD_ASSIGNED,
    LEAD_ACTIVITY,
    LEAD_LIFECYCLE,
    LEAD_MERGE,
    LEAD_ERASED,
)


def _routes(ctx: NurtureContext) -> dict[str, tuple[str, type[BaseModel]]]:
    prefix = ctx.settings.topic_prefix
    models: dict[str, type[BaseModel]] = {
        LEAD_ASSIGNED.type: LeadAssigned,
        LEAD_ACTIVITY.type: ActivityReceived,
        LEAD_LIFECYCLE.type: LeadLifecycle,
        LEAD_MERGE.type: LeadMerge,
        LEAD_ERASED.type: LeadErased,
    }
    return {prefix + t.topic: (t.type, models[t.type]) for t in CONSUMED}


def _decode(
    routes: dict[str, tuple[str, type[BaseModel]]], event: CloudEvent, record: ConsumerRecord
) -> Item | None:
    """The event and its data; None for an activity of a kind this version does not know
    (a newer producer's: ``leads.activity.v1``'s kinds are an open set), which is skipped."""
    route = routes.get(record.topic)
    if route is None:
        raise InvalidMessage(f"nurture does not consume {record.topic}")
    expected_type, model = route
    if event.type != expected_type:
        raise InvalidMessage(f"{record.topic} carries {expected_type}, not {event.type}")
    if expected_type == LEAD_ACTIVITY.type and (kind := unknown_activity_kind(event.data)):
        metrics.ACTIVITIES_SKIPPED.inc()
        log.info("nurture.activity_kind_unknown", kind=kind[:32], event_id=event.id)
        return None
    return event, event.data_as(model)  # type: ignore[return-value]


async def _decide_known(ctx: NurtureContext, items: Sequence[Item | None]) -> None:
    known = [item for item in items if item is not None]
    # erasures first, each in its own transaction: the rest of the batch then sees them
    for event, data in known:
        if isinstance(data, LeadErased):
            async with ctx.sessions.begin() as session:
                await erase(session, event, data, ctx.clock())
    rest = [item for item in known if not isinstance(item[1], LeadErased)]
    if rest:
        await _decide(ctx, rest)


async def _decide(ctx: NurtureContext, items: Sequence[Item]) -> None:
    async with ctx.sessions.begin() as session:
        await handle_batch(ctx, BatchRepository(session), items)
    ctx.relay.notify()


def make_handler(ctx: NurtureContext) -> Handler:
    routes = _routes(ctx)

    async def handle(event: CloudEvent, record: ConsumerRecord) -> None:
        await _decide_known(ctx, [_decode(routes, event, record)])

    return handle


def make_batch_handler(ctx: NurtureContext) -> tuple[BatchHandler, frozenset[str]]:
    """The handler for whole batches, and the topics it takes. A message it cannot decode
    raises, and the consumer then handles the batch one message at a time (where that
    message alone goes to the DLQ)."""
    routes = _routes(ctx)

    async def handle(items: Sequence[tuple[CloudEvent, ConsumerRecord]]) -> None:
        await _decide_known(ctx, [_decode(routes, event, record) for event, record in items])

    return handle, frozenset(routes)

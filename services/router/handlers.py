"""Kafka messages -> the right service. Arrivals (``leads.received.v1`` and the bulk lane)
are decided a batch per transaction; activities one per transaction. A message alone
(the consumer's fallback when a batch fails) is a batch of one."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka.structs import ConsumerRecord

from services.router import metrics
from services.router.activities.service import handle_activity
from services.router.assignment.service import TeamContended
from services.router.context import RouterContext
from services.router.intake.batch import handle_received_batch
from services.router.repository import BatchRepository, RouterRepository
from shared.events.envelope import CloudEvent
from shared.events.models import ActivityReceived, LeadReceived, unknown_activity_kind
from shared.events.registry import LEAD_ACTIVITY, LEAD_RECEIVED, LEAD_RECEIVED_BULK
from shared.kafka.consumer import BatchHandler, Handler, InvalidMessage
from shared.logging import get_logger

log = get_logger(__name__)

# Contended teams are settled by the next attempt (it then sees the
# other transaction's committed rows); three attempts cover two instances and a retry.
RETRIES = 3


def _arrival_topics(ctx: RouterContext) -> frozenset[str]:
    prefix = ctx.settings.topic_prefix
    return frozenset({prefix + LEAD_RECEIVED.topic, prefix + LEAD_RECEIVED_BULK.topic})


def _check_type(event: CloudEvent, record: ConsumerRecord, expected: str) -> None:
    if event.type != expected:
        raise InvalidMessage(f"{record.topic} carries {expected}, not {event.type}")


async def _decide(ctx: RouterContext, items: Sequence[tuple[CloudEvent, LeadReceived]]) -> None:
    for attempt in range(1, RETRIES + 1):
        try:
            async with ctx.sessions.begin() as session:
                await handle_received_batch(ctx, BatchRepository(session), items)
            break
        except TeamContended:
            if attempt == RETRIES:
                raise
    ctx.relay.notify()


def make_handler(ctx: RouterContext) -> Handler:
    arrivals = _arrival_topics(ctx)
    activities = ctx.settings.topic_prefix + LEAD_ACTIVITY.topic

    async def handle(event: CloudEvent, record: ConsumerRecord) -> None:
        if record.topic in arrivals:
            _check_type(event, record, LEAD_RECEIVED.type)
            await _decide(ctx, [(event, event.data_as(LeadReceived))])
            return
        if record.topic != activities:
            raise InvalidMessage(f"the router does not consume {record.topic}")
        _check_type(event, record, LEAD_ACTIVITY.type)
        kind = unknown_activity_kind(event.data)
        if kind is not None:  # a newer producer's kind: skipped, not dead-lettered
            metrics.ACTIVITIES_SKIPPED.inc()
            log.info("router.activity_kind_unknown", kind=kind[:32], event_id=event.id)
            return
        data = event.data_as(ActivityReceived)
        async with ctx.sessions.begin() as session:
            await handle_activity(ctx, RouterRepository(session), event, data)
        ctx.relay.notify()

    return handle


def make_batch_handler(ctx: RouterContext) -> tuple[BatchHandler, frozenset[str]]:
    """The handler for whole batches of arrivals, and the topics it takes. A message it cannot
    decode raises, and the consumer then handles the batch one message at a time (where that
    message alone goes to the DLQ)."""

    async def handle(items: Sequence[tuple[CloudEvent, ConsumerRecord]]) -> None:
        decoded = []
        for event, record in items:
            _check_type(event, record, LEAD_RECEIVED.type)
            decoded.append((event, event.data_as(LeadReceived)))
        await _decide(ctx, decoded)

    return handle, _arrival_topics(ctx)

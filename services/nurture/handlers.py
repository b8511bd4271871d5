"""Kafka message -> the right service, each message in its own transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel

from services.nurture.activities.service import handle_activity
from services.nurture.context import NurtureContext
from services.nurture.decisions.service import handle_assigned
from services.nurture.repository import NurtureRepository
from shared.events.envelope import CloudEvent
from shared.events.models import ActivityReceived, LeadAssigned
from shared.events.registry import LEAD_ACTIVITY, LEAD_ASSIGNED
from shared.kafka.consumer import Handler, InvalidMessage


def make_handler(ctx: NurtureContext) -> Handler:
    prefix = ctx.settings.topic_prefix
    routes: dict[str, tuple[str, type[BaseModel], Callable[..., Awaitable[None]]]] = {
        prefix + LEAD_ASSIGNED.topic: (LEAD_ASSIGNED.type, LeadAssigned, handle_assigned),
        prefix + LEAD_ACTIVITY.topic: (LEAD_ACTIVITY.type, ActivityReceived, handle_activity),
    }

    async def handle(event: CloudEvent, record: ConsumerRecord) -> None:
        expected_type, model, service = routes[record.topic]
        if event.type != expected_type:
            raise InvalidMessage(f"{record.topic} carries {expected_type}, not {event.type}")
        data = event.data_as(model)
        async with ctx.sessions.begin() as session:
            await service(ctx, NurtureRepository(session), event, data)
        ctx.relay.notify()

    return handle

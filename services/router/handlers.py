"""Kafka message -> the right service, each message in its own transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel

from services.router.activities.service import handle_activity
from services.router.context import RouterContext
from services.router.intake.service import IdentityRace, handle_received
from services.router.repository import RouterRepository
from shared.events.envelope import CloudEvent
from shared.events.models import ActivityReceived, LeadReceived
from shared.events.registry import LEAD_ACTIVITY, LEAD_RECEIVED
from shared.kafka.consumer import Handler, InvalidMessage

IDENTITY_RACE_RETRIES = 3


def make_handler(ctx: RouterContext) -> Handler:
    prefix = ctx.settings.topic_prefix
    routes: dict[str, tuple[str, type[BaseModel], Callable[..., Awaitable[None]]]] = {
        prefix + LEAD_RECEIVED.topic: (LEAD_RECEIVED.type, LeadReceived, handle_received),
        prefix + LEAD_ACTIVITY.topic: (LEAD_ACTIVITY.type, ActivityReceived, handle_activity),
    }

    async def handle(event: CloudEvent, record: ConsumerRecord) -> None:
        expected_type, model, service = routes[record.topic]
        if event.type != expected_type:
            raise InvalidMessage(f"{record.topic} carries {expected_type}, not {event.type}")
        data = event.data_as(model)
        for attempt in range(1, IDENTITY_RACE_RETRIES + 1):
            try:
                async with ctx.sessions.begin() as session:
                    await service(ctx, RouterRepository(session), event, data)
                break
            except IdentityRace:
                if attempt == IDENTITY_RACE_RETRIES:
                    raise
        ctx.relay.notify()

    return handle

"""Ingest's one consumer: ``leads.erasure.v1``, run in the app's lifespan beside the import
workers. Each erasure is applied in its own transaction; its id is remembered like every
consumer's (pruned after ``LEADFLOW_PROCESSED_EVENT_RETENTION_DAYS``)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from aiokafka.structs import ConsumerRecord

from services.ingest.context import IngestContext
from services.ingest.erasure.service import erase
from services.ingest.models import ProcessedEvent
from shared.events.envelope import CloudEvent
from shared.events.models import LeadErased
from shared.events.registry import LEAD_ERASED
from shared.kafka.consumer import ConsumerConfig, ConsumerLoop, Handler, InvalidMessage
from shared.logging import get_logger
from shared.outbox import prune_forever

log = get_logger(__name__)
# a consumer that stopped on an infrastructure error starts again after this long
RESTART_SECONDS = 5.0


def make_handler(ctx: IngestContext) -> Handler:
    async def handle(event: CloudEvent, record: ConsumerRecord) -> None:
        if event.type != LEAD_ERASED.type:
            raise InvalidMessage(f"{record.topic} carries {LEAD_ERASED.type}, not {event.type}")
        data = event.data_as(LeadErased)
        async with ctx.sessions.begin() as session:
            await erase(session, event, data, ctx.clock())

    return handle


class ErasureConsumer:
    def __init__(self, ctx: IngestContext) -> None:
        s = ctx.settings
        self.ctx = ctx
        self.loop = ConsumerLoop(
            ConsumerConfig(
                topics=[s.topic(LEAD_ERASED.topic)],
                group_id=s.erasure_consumer_group,
                bootstrap_servers=s.kafka(),
                client_id="leadflow-ingest-erasure",
                max_batch=100,
            ),
            make_handler(ctx),
            ctx.producer,
        )
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        retention = timedelta(days=self.ctx.settings.processed_event_retention_days)
        self._tasks = [
            asyncio.create_task(self._run(), name="ingest-erasure-consumer"),
            asyncio.create_task(
                prune_forever(self.ctx.sessions, ProcessedEvent, retention, self._stopping),
                name="ingest-processed-prune",
            ),
        ]

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.loop.run()
            except Exception as exc:  # Kafka or PostgreSQL away: the offsets wait, try again
                log.warning("ingest.erasure_consumer_failed", error=repr(exc))
            if not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), RESTART_SECONDS)

    async def stop(self) -> None:
        self._stopping.set()
        self.loop.stop()
        await asyncio.gather(*self._tasks, return_exceptions=True)

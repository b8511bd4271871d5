"""Per-process state of nurture, created in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.nurture.domain.consent import ConsentPolicy
from services.nurture.domain.sequences import SequencesConfig
from services.nurture.settings import NurtureSettings
from shared.clock import Clock, utc_now
from shared.kafka.producer import EventProducer
from shared.outbox import OutboxRelay


@dataclass
class NurtureContext:
    settings: NurtureSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    producer: EventProducer
    relay: OutboxRelay
    config: SequencesConfig
    consent: ConsentPolicy
    clock: Clock = utc_now

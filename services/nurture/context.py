"""Per-process state of nurture, created in the app's lifespan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.nurture.domain.sequences import SequencesConfig
from services.nurture.settings import NurtureSettings
from shared.kafka.producer import EventProducer
from shared.outbox import OutboxRelay

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class NurtureContext:
    settings: NurtureSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    producer: EventProducer
    relay: OutboxRelay
    config: SequencesConfig
    clock: Clock = utc_now

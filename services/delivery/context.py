"""Per-process state of delivery, created in the app's lifespan."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.delivery.settings import DeliverySettings
from shared.clock import Clock, utc_now
from shared.kafka.producer import EventProducer
from shared.outbox import OutboxRelay


@dataclass
class DeliveryContext:
    settings: DeliverySettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    producer: EventProducer
    relay: OutboxRelay
    http: httpx.AsyncClient
    clock: Clock = utc_now
    rng: Callable[[], float] = field(default=random.random)

"""Per-process state of the ingest app, created in the lifespan and reached through a dependency."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.ingest.domain.ratelimit import RateLimiter
from services.ingest.settings import IngestSettings
from services.ingest.sources.config import Source
from shared.dispositions import Dispositions, load_dispositions
from shared.kafka.producer import EventProducer

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class IngestContext:
    settings: IngestSettings
    sources: dict[str, Source]
    producer: EventProducer
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    # the keyed requests' own pool: no pre-ping round trip, a short lock_timeout for twins
    request_engine: AsyncEngine
    clock: Clock = utc_now
    dispositions: Dispositions = field(default_factory=load_dispositions)
    limiters: dict[str, RateLimiter] = field(default_factory=dict)
    # set when a job is queued here, so this process's idle import worker starts at once
    import_wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ttl(self) -> timedelta:
        return timedelta(hours=self.settings.ingest_idempotency_ttl_hours)

    def limiter_for(self, source: Source) -> RateLimiter:
        limiter = self.limiters.get(source.id)
        if limiter is None:
            rl = source.config.rate_limit
            limiter = self.limiters[source.id] = RateLimiter(rl.per_minute / 60.0, rl.burst)
        return limiter


async def get_context(request: Request) -> IngestContext:
    return request.app.state.ingest  # type: ignore[no-any-return]

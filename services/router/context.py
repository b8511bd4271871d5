"""Per-process state of the router, created in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.router.domain.matching import MatchThresholds
from services.router.domain.scoring import ScoringRulesSource
from services.router.settings import RouterSettings
from shared.clock import Clock, utc_now
from shared.dispositions import Dispositions, load_dispositions
from shared.kafka.producer import EventProducer
from shared.outbox import OutboxRelay


@dataclass
class RouterContext:
    settings: RouterSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    producer: EventProducer
    relay: OutboxRelay
    scoring: ScoringRulesSource
    fallback_queue: str
    follow_the_sun: tuple[str, ...]
    clock: Clock = utc_now
    dispositions: Dispositions = field(default_factory=load_dispositions)

    @property
    def match_thresholds(self) -> MatchThresholds:
        return MatchThresholds(
            name=self.settings.router_match_name_threshold,
            company=self.settings.router_match_company_threshold,
        )

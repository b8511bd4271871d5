"""Per-process state of the router, created in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.router.domain.dedupe import MatchPolicy
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
    def match_policy(self) -> MatchPolicy:
        s = self.settings
        return MatchPolicy(
            merge_at=s.router_match_merge_at,
            review_at=s.router_match_review_at,
            shared_after=s.router_match_shared_after,
            name_similarity=s.router_match_name_threshold,
            company_similarity=s.router_match_company_threshold,
            company_near=s.router_match_company_near,
        )

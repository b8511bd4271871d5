"""Everything delivery runs besides HTTP: the consumer loop (store and fan out), the
dispatcher (due deliveries every tick), the outbox relay, the backlog gauges, the pruning
of processed event ids and of stored events past their retention, and the DLQ gauge."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.delivery import metrics
from services.delivery.context import DeliveryContext
from services.delivery.dispatch import claim_limit, dispatch_due, sqlstate
from services.delivery.handlers import CONSUMED, make_batch_handler, make_handler
from services.delivery.models import Outbox, ProcessedEvent
from services.delivery.settings import DeliverySettings
from shared import db
from shared.clock import Clock, utc_now
from shared.kafka.consumer import ConsumerConfig, ConsumerLoop
from shared.kafka.dlq_watch import watch_dlq
from shared.kafka.producer import EventProducer
from shared.kafka.topics import dlq_topic
from shared.logging import get_logger
from shared.outbox import OutboxRelay, prune_forever
from shared.tasks import BackgroundTasks, OnFatal, exit_process

log = get_logger(__name__)
PRUNE_SECONDS = 3600.0
PRUNE_BATCH = 1000

_PRUNE_EVENTS = text(
    "DELETE FROM delivery.event WHERE id IN (SELECT ev.id FROM delivery.event ev "
    "WHERE ev.stored_at < :before AND NOT EXISTS (SELECT 1 FROM delivery.delivery d "
    "WHERE d.event_id = ev.id AND d.state = 'pending' AND d.origin <> 'test') LIMIT :limit)"
)  # deliveries and attempts go with them (ON DELETE CASCADE); a test-send left pending
# (never claimable: no next_attempt_at) does not keep its event


async def prune_events(session: AsyncSession, before: datetime, limit: int = PRUNE_BATCH) -> int:
    """Delete stored events older than ``before`` with no pending delivery; at most ``limit``."""
    result = await session.execute(_PRUNE_EVENTS, {"before": before, "limit": limit})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


_SKIP_DISABLED = text(
    "UPDATE delivery.delivery d SET state = 'skipped', skipped_reason = 'endpoint disabled', "
    "finished_at = :now, next_attempt_at = NULL, leased_until = NULL, lease_token = NULL "
    "FROM delivery.endpoint e, delivery.event ev "
    "WHERE d.endpoint_id = e.id AND NOT e.enabled AND d.state = 'pending' AND ev.id = d.event_id "
    "RETURNING ev.type"
)


async def skip_disabled(session: AsyncSession, now: datetime) -> int:
    """Skip the pending deliveries of disabled endpoints (one fanned out while its endpoint
    was being disabled would otherwise stay pending for ever); counted on commit."""
    skipped = list((await session.scalars(_SKIP_DISABLED, {"now": now})).all())
    metrics.count_skipped(session, skipped)
    return len(skipped)


async def refresh_gauges(session: AsyncSession, now: datetime, known: set[str]) -> set[str]:
    """Backlog and oldest pending per endpoint, endpoints by state. Returns the endpoint ids
    now shown (so one that disappeared is removed next time)."""
    rows = (
        await session.execute(
            text(
                "SELECT e.id, e.enabled, count(d.id) AS pending, min(d.created_at) AS oldest "
                "FROM delivery.endpoint e LEFT JOIN delivery.delivery d "
                "ON d.endpoint_id = e.id AND d.state = 'pending' GROUP BY e.id, e.enabled"
            )
        )
    ).all()
    shown = set()
    for r in rows:
        endpoint = str(r.id)
        shown.add(endpoint)
        metrics.BACKLOG.labels(endpoint).set(r.pending)
        age = (now - r.oldest).total_seconds() if r.oldest is not None else 0.0
        metrics.OLDEST_PENDING.labels(endpoint).set(max(age, 0.0))
    for gone in known - shown:
        with contextlib.suppress(KeyError):
            metrics.BACKLOG.remove(gone)
            metrics.OLDEST_PENDING.remove(gone)
    enabled = sum(1 for r in rows if r.enabled)
    metrics.ENDPOINTS.labels("enabled").set(enabled)
    metrics.ENDPOINTS.labels("disabled").set(len(rows) - enabled)
    return shown


class DeliveryRuntime:
    def __init__(
        self,
        settings: DeliverySettings,
        *,
        clock: Clock = utc_now,
        rng: Callable[[], float] = random.random,
        on_fatal: OnFatal | None = None,
        consume: bool = True,
        dispatch: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.rng = rng
        self.consume = consume
        self.dispatch = dispatch
        self.transport = transport
        self.ctx: DeliveryContext | None = None
        self.loop: ConsumerLoop | None = None
        self.tasks = BackgroundTasks("delivery", on_fatal or exit_process("delivery"))
        self._stopping = self.tasks.stopping

    async def start(self) -> DeliveryContext:
        s = self.settings
        engine = db.create_engine(s.require_database_url())
        sessions = db.sessionmaker(engine)
        producer = EventProducer(
            s.kafka(), client_id="leadflow-delivery", on_refused=self.tasks.on_fatal
        )
        await producer.start(required=False)
        relay = OutboxRelay(
            sessions, Outbox, producer, schema="delivery", topic_prefix=s.topic_prefix
        )
        http = httpx.AsyncClient(
            timeout=s.delivery_timeout_seconds, follow_redirects=False, transport=self.transport,
            # no keep-alive: a connection pinned to an address is never reused for another
            # host name (its TLS identity is the first one's); requests say Connection: close
            limits=httpx.Limits(max_connections=s.delivery_concurrency, max_keepalive_connections=0),
            trust_env=False,
        )  # fmt: skip
        ctx = self.ctx = DeliveryContext(
            settings=s, engine=engine, sessions=sessions, producer=producer, relay=relay,
            http=http, clock=self.clock, rng=self.rng,
        )  # fmt: skip
        self.tasks.spawn("outbox", relay.run())
        if self.consume:
            batch_handler, batch_topics = make_batch_handler(ctx)
            self.loop = ConsumerLoop(
                ConsumerConfig(
                    topics=[s.topic(t.topic) for t in CONSUMED],
                    group_id=s.delivery_consumer_group,
                    bootstrap_servers=s.kafka(),
                    client_id="leadflow-delivery",
                ),
                make_handler(ctx),
                producer,
                batch_handler=batch_handler,
                batch_topics=batch_topics,
            )
            self.tasks.spawn("consumer", self.loop.run(), fatal=True)
        if self.dispatch:
            self.tasks.spawn("dispatcher", self._dispatch_forever(ctx))
        self.tasks.spawn("gauges", self._gauge_forever(ctx))
        self.tasks.spawn("events_prune", self._prune_events_forever(ctx))
        retention = timedelta(days=s.processed_event_retention_days)
        self.tasks.spawn(
            "prune", prune_forever(sessions, ProcessedEvent, retention, self._stopping)
        )
        dlq_topics = [dlq_topic(s.topic(t.topic)) for t in CONSUMED]
        self.tasks.spawn(
            "dlq",
            watch_dlq(s.kafka(), dlq_topics, self._stopping, s.delivery_dlq_watch_seconds),
        )
        log.info("delivery.started", group=s.delivery_consumer_group)
        return ctx

    @property
    def consuming(self) -> bool:
        return self.loop is None or self.tasks.running("consumer")

    async def stop(self) -> None:
        if self.loop is not None:
            self.loop.stop()
        if self.ctx is not None:
            self.ctx.relay.stop()
        await self.tasks.stop(drain=("consumer", "outbox", "dispatcher"))
        if self.ctx is not None:
            await self.ctx.http.aclose()
            await self.ctx.producer.stop()
            await self.ctx.engine.dispose()

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _dispatch_forever(self, ctx: DeliveryContext) -> None:
        """Due deliveries every tick; a full batch means more are due: go again at once."""
        s = ctx.settings
        while not self._stopping.is_set():
            try:
                while (
                    await dispatch_due(ctx, self._stopping) >= claim_limit(s)
                    and not self._stopping.is_set()
                ):
                    pass
            except Exception as exc:  # deliveries are durable: try again next tick
                # the class and SQLSTATE: a database error's text may quote bound parameters
                log.warning(
                    "delivery.tick_failed", error=type(exc).__name__, sqlstate=sqlstate(exc)
                )
            await self._wait(s.delivery_tick_seconds)

    async def _gauge_forever(self, ctx: DeliveryContext) -> None:
        known: set[str] = set()
        while not self._stopping.is_set():
            try:
                async with ctx.sessions.begin() as session:
                    if skipped := await skip_disabled(session, ctx.clock()):
                        log.info("delivery.disabled_endpoint_deliveries_skipped", count=skipped)
                async with ctx.sessions() as session:
                    known = await refresh_gauges(session, ctx.clock(), known)
            except Exception as exc:
                log.warning(
                    "delivery.gauge_failed", error=type(exc).__name__, sqlstate=sqlstate(exc)
                )
            await self._wait(ctx.settings.delivery_gauge_seconds)

    async def _prune_events_forever(self, ctx: DeliveryContext) -> None:
        retention = timedelta(days=ctx.settings.delivery_event_retention_days)
        while not self._stopping.is_set():
            try:
                while True:
                    async with ctx.sessions.begin() as session:
                        pruned = await prune_events(session, ctx.clock() - retention)
                    if pruned:
                        metrics.EVENTS_PRUNED.inc(pruned)
                        log.info("delivery.events_pruned", count=pruned)
                    if pruned < PRUNE_BATCH or self._stopping.is_set():
                        break
            except Exception as exc:
                log.warning(
                    "delivery.events_prune_failed", error=type(exc).__name__, sqlstate=sqlstate(exc)
                )
            await self._wait(PRUNE_SECONDS)

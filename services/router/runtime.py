"""Everything the router runs besides HTTP: the consumer loop, the outbox relay, the SLA
scheduler, the queue drain, scoring reloads and the DLQ gauge."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from services.router.assignment.service import decide
from services.router.audit import record_scoring_loaded
from services.router.context import Clock, RouterContext, utc_now
from services.router.domain.scoring import ScoringRulesSource
from services.router.handlers import make_batch_handler, make_handler
from services.router.lifecycle.service import run_sweeper
from services.router.models import Outbox, ProcessedEvent
from services.router.repository import RouterRepository
from services.router.routing_config import load_routing_config, rep_row, team_row
from services.router.scoring.store import record_version, version_row
from services.router.settings import RouterSettings
from services.router.sla.service import run_scheduler
from shared import db
from shared.dispositions import load_dispositions
from shared.events.registry import LEAD_ACTIVITY, LEAD_RECEIVED, LEAD_RECEIVED_BULK
from shared.kafka.consumer import ConsumerConfig, ConsumerLoop, LaneGate
from shared.kafka.dlq_watch import watch_dlq
from shared.kafka.producer import EventProducer
from shared.kafka.topics import dlq_topic
from shared.logging import get_logger
from shared.outbox import OutboxRelay, prune_forever
from shared.tasks import BackgroundTasks, OnFatal, exit_process

log = get_logger(__name__)


class RouterRuntime:
    def __init__(
        self,
        settings: RouterSettings,
        *,
        clock: Clock = utc_now,
        on_fatal: OnFatal | None = None,
        consume: bool = True,
        schedule: bool = True,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.consume = consume
        self.schedule = schedule
        self.ctx: RouterContext | None = None
        self.loop: ConsumerLoop | None = None
        self.bulk_loop: ConsumerLoop | None = None
        self.tasks = BackgroundTasks("router", on_fatal or exit_process("router"))
        self._stopping = self.tasks.stopping

    async def start(self) -> RouterContext:
        s = self.settings
        scoring = ScoringRulesSource(s.router_scoring_file)  # fails loudly on a bad file
        routing = load_routing_config(s.router_routing_file)
        engine = db.create_engine(s.require_database_url())
        sessions = db.sessionmaker(engine)
        async with sessions.begin() as session:
            now = self.clock()
            await RouterRepository(session).seed(
                [team_row(t) for t in routing.teams],
                [rep_row(r, now) for r in routing.reps],
                [
                    {
                        "position": i,
                        "name": r.name,
                        "team_id": r.team,
                        "conditions": r.when.model_dump(exclude_none=True),
                    }
                    for i, r in enumerate(routing.rules)
                ],
            )
        producer = EventProducer(
            s.kafka(), client_id="leadflow-router", on_refused=self.tasks.on_fatal
        )
        await producer.start(required=False)
        relay = OutboxRelay(
            sessions, Outbox, producer, schema="router", topic_prefix=s.topic_prefix
        )
        ctx = self.ctx = RouterContext(
            settings=s,
            engine=engine,
            sessions=sessions,
            producer=producer,
            relay=relay,
            scoring=scoring,
            fallback_queue=routing.fallback_queue,
            follow_the_sun=tuple(routing.follow_the_sun),
            clock=self.clock,
            dispositions=load_dispositions(s.dispositions_file),
        )
        self.tasks.spawn("outbox", relay.run())
        if self.consume:
            handler = make_handler(ctx)
            batch_handler, batch_topics = make_batch_handler(ctx)
            gate = LaneGate()  # the real-time lane goes first
            self.loop = ConsumerLoop(
                ConsumerConfig(
                    topics=[s.topic(LEAD_RECEIVED.topic), s.topic(LEAD_ACTIVITY.topic)],
                    group_id=s.router_consumer_group,
                    bootstrap_servers=s.kafka(),
                    client_id="leadflow-router",
                    max_batch=s.router_batch_max,
                ),
                handler,
                producer,
                batch_handler=batch_handler,
                batch_topics=batch_topics,
                gate=gate,
                urgent=True,
            )
            self.bulk_loop = ConsumerLoop(
                ConsumerConfig(
                    topics=[s.topic(LEAD_RECEIVED_BULK.topic)],
                    group_id=s.bulk_consumer_group,
                    bootstrap_servers=s.kafka(),
                    client_id="leadflow-router-bulk",
                    max_batch=s.router_bulk_batch_max,
                ),
                handler,
                producer,
                batch_handler=batch_handler,
                batch_topics=batch_topics,
                gate=gate,
                urgent=False,
            )
            self.tasks.spawn("consumer", self.loop.run(), fatal=True)
            self.tasks.spawn("bulk-consumer", self.bulk_loop.run(), fatal=True)
        if self.schedule:
            self.tasks.spawn("sla", run_scheduler(ctx, self._stopping))
            self.tasks.spawn("queue", self._drain_queue_forever(ctx))
            self.tasks.spawn("lifecycle", run_sweeper(ctx, self._stopping))
        await self._audit_scoring(ctx)
        self.tasks.spawn("scoring", self._reload_scoring_forever(ctx))
        dlq_topics = [
            dlq_topic(s.topic(t.topic)) for t in (LEAD_RECEIVED, LEAD_RECEIVED_BULK, LEAD_ACTIVITY)
        ]
        retention = timedelta(days=s.processed_event_retention_days)
        self.tasks.spawn(
            "prune", prune_forever(sessions, ProcessedEvent, retention, self._stopping)
        )
        self.tasks.spawn(
            "dlq",
            watch_dlq(s.kafka(), dlq_topics, self._stopping, s.router_dlq_watch_seconds),
        )
        log.info("router.started", group=s.router_consumer_group)
        return ctx

    @property
    def consuming(self) -> bool:
        return self.loop is None or (
            self.tasks.running("consumer") and self.tasks.running("bulk-consumer")
        )

    async def stop(self) -> None:
        for loop in (self.loop, self.bulk_loop):
            if loop is not None:
                loop.stop()
        if self.ctx is not None:
            self.ctx.relay.stop()
        await self.tasks.stop(
            drain=("consumer", "bulk-consumer", "outbox")
        )  # they finish what they hold
        if self.ctx is not None:
            await self.ctx.producer.stop()
            await self.ctx.engine.dispose()

    async def _drain_queue_forever(self, ctx: RouterContext) -> None:
        while not self._stopping.is_set():
            try:
                await drain_queue(ctx)
            except Exception as exc:
                log.warning("router.queue_drain_failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._stopping.wait(), ctx.settings.router_queue_drain_seconds
                )

    async def _reload_scoring_forever(self, ctx: RouterContext) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._stopping.wait(), ctx.settings.router_scoring_reload_seconds
                )
            try:
                if ctx.scoring.reload_if_changed():
                    log.info("router.scoring_reloaded", version=ctx.scoring.rules.version)
                    await self._audit_scoring(ctx)
            except Exception as exc:  # keep the previous rules
                log.error("router.scoring_reload_failed", error=str(exc))

    @staticmethod
    async def _audit_scoring(ctx: RouterContext) -> None:
        """Each scoring version that comes into force is recorded with its file's text
        (``router.scoring_version``) and in the audit trail (the file is the only way scoring
        changes). A database hiccup here must not stop the router."""
        source = ctx.scoring
        row = version_row(source.rules, source.text, source.path.name, ctx.clock())
        try:
            async with ctx.sessions.begin() as session:
                await record_version(session, row)
        except Exception as exc:
            log.warning("router.scoring_version_record_failed", error=repr(exc))
        try:
            await record_scoring_loaded(
                ctx.sessions, ctx.scoring.rules.version, ctx.scoring.path.name
            )
        except Exception as exc:
            log.warning("router.scoring_audit_failed", error=repr(exc))


async def drain_queue(ctx: RouterContext, page: int = 100) -> int:
    """Queued leads (SQL and hot first) get a rep as soon as one is eligible. Pages through the
    whole queue, so leads that cannot be routed yet never block the ones behind them."""
    assigned = 0
    offset = 0
    while True:
        async with ctx.sessions() as session:
            waiting = await RouterRepository(session).queued_leads(page, offset)
        if not waiting:
            break
        still_queued = 0
        for lead_id in waiting:
            async with ctx.sessions.begin() as session:
                repo = RouterRepository(session)
                lead = await repo.lock_lead(lead_id)
                if lead is None or lead.status != "queued":
                    continue
                now = ctx.clock()
                result = await decide(
                    ctx, repo, lead, kind="dequeued", cause_event_id=f"dequeue:{lead_id}:{now.isoformat()}",
                    submission_id=None, now=now, started_at=now, emit_if_still_queued=False,
                )  # fmt: skip
                if result is not None and result.outcome == "assigned":
                    assigned += 1
                else:
                    still_queued += 1
        if len(waiting) < page:
            break
        offset += still_queued  # assigned leads left the queue; skip the ones that stay
    if assigned:
        ctx.relay.notify()
    return assigned

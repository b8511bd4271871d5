"""Everything nurture runs besides HTTP: the consumer loop, the outbox relay, the step
scheduler (durable timers), the lifecycle sweep, the timer gauges and the DLQ gauge."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from services.nurture import metrics
from services.nurture.consent_file import load_consent_policy
from services.nurture.context import Clock, NurtureContext, utc_now
from services.nurture.handlers import CONSUMED, make_batch_handler, make_handler
from services.nurture.lifecycle.service import sweep
from services.nurture.models import Outbox, ProcessedEvent
from services.nurture.repository import NurtureRepository
from services.nurture.sequences_file import load_sequences
from services.nurture.settings import NurtureSettings
from services.nurture.steps.service import fire_due
from shared import db
from shared.kafka.consumer import ConsumerConfig, ConsumerLoop
from shared.kafka.dlq_watch import watch_dlq
from shared.kafka.producer import EventProducer
from shared.kafka.topics import dlq_topic
from shared.logging import get_logger
from shared.outbox import OutboxRelay, prune_forever
from shared.tasks import BackgroundTasks, OnFatal, exit_process

log = get_logger(__name__)
GAUGE_SECONDS = 15.0


class NurtureRuntime:
    def __init__(
        self,
        settings: NurtureSettings,
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
        self.ctx: NurtureContext | None = None
        self.loop: ConsumerLoop | None = None
        self.tasks = BackgroundTasks("nurture", on_fatal or exit_process("nurture"))
        self._stopping = self.tasks.stopping

    async def start(self) -> NurtureContext:
        s = self.settings
        config = load_sequences(s.nurture_sequences_file)  # fails loudly on a bad file
        consent = load_consent_policy(s.nurture_consent_policy_file)  # likewise
        engine = db.create_engine(s.require_database_url())
        sessions = db.sessionmaker(engine)
        producer = EventProducer(
            s.kafka(), client_id="leadflow-nurture", on_refused=self.tasks.on_fatal
        )
        await producer.start(required=False)
        relay = OutboxRelay(
            sessions, Outbox, producer, schema="nurture", topic_prefix=s.topic_prefix
        )
        ctx = self.ctx = NurtureContext(
            settings=s, engine=engine, sessions=sessions, producer=producer, relay=relay, config=config,
            consent=consent, clock=self.clock,
        )  # fmt: skip
        self.tasks.spawn("outbox", relay.run())
        if self.consume:
            batch_handler, batch_topics = make_batch_handler(ctx)
            self.loop = ConsumerLoop(
                ConsumerConfig(
                    topics=[s.topic(t.topic) for t in CONSUMED],
                    group_id=s.nurture_consumer_group,
                    bootstrap_servers=s.kafka(),
                    client_id="leadflow-nurture",
                ),
                make_handler(ctx),
                producer,
                batch_handler=batch_handler,
                batch_topics=batch_topics,
            )
            self.tasks.spawn("consumer", self.loop.run(), fatal=True)
        if self.schedule:
            self.tasks.spawn("scheduler", self._schedule_forever(ctx))
            self.tasks.spawn("sweep", self._sweep_forever(ctx))
        self.tasks.spawn("gauges", self._gauge_forever(ctx))
        dlq_topics = [dlq_topic(s.topic(t.topic)) for t in CONSUMED]
        retention = timedelta(days=s.processed_event_retention_days)
        self.tasks.spawn(
            "prune", prune_forever(sessions, ProcessedEvent, retention, self._stopping)
        )
        self.tasks.spawn(
            "dlq",
            watch_dlq(s.kafka(), dlq_topics, self._stopping, s.nurture_dlq_watch_seconds),
        )
        log.info("nurture.started", group=s.nurture_consumer_group, sequences=len(config.sequences))
        return ctx

    @property
    def consuming(self) -> bool:
        return self.loop is None or self.tasks.running("consumer")

    async def stop(self) -> None:
        if self.loop is not None:
            self.loop.stop()
        if self.ctx is not None:
            self.ctx.relay.stop()
        await self.tasks.stop(drain=("consumer", "outbox"))  # they finish what they hold
        if self.ctx is not None:
            await self.ctx.producer.stop()
            await self.ctx.engine.dispose()

    async def _schedule_forever(self, ctx: NurtureContext) -> None:
        """Due steps every tick; a full batch means more are due: go again at once."""
        s = ctx.settings
        while not self._stopping.is_set():
            try:
                while await fire_due(ctx) >= s.nurture_batch_size and not self._stopping.is_set():
                    pass
            except Exception as exc:  # the timers are durable: try again next tick
                log.warning("nurture.tick_failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), s.nurture_tick_seconds)

    async def _sweep_forever(self, ctx: NurtureContext) -> None:
        """Remarket, re-engagement and sunset: on their own clock, beside the steps."""
        while not self._stopping.is_set():
            try:
                result = await sweep(ctx)
                if result.remarket or result.reengaged or result.sunset:
                    log.info("nurture.swept", **result.__dict__)
            except Exception as exc:
                log.warning("nurture.sweep_failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), ctx.settings.nurture_sweep_seconds)

    async def _gauge_forever(self, ctx: NurtureContext) -> None:
        while not self._stopping.is_set():
            try:
                async with ctx.sessions() as session:
                    pending, overdue = await NurtureRepository(session).timer_counts(ctx.clock())
                metrics.TIMERS_PENDING.set(pending)
                metrics.TIMERS_OVERDUE.set(overdue)
            except Exception as exc:
                log.warning("nurture.gauge_failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), GAUGE_SECONDS)

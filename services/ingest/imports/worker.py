"""The import worker: claims a queued job, publishes it chunk by chunk, records each step.

Per chunk: read it (and whether the job was cancelled meanwhile), decide its rows (pure,
in a thread so web requests keep their event loop), publish the batch and wait for
acks=all, then in one transaction record its rows, move the job past it and renew the
lease. A crash between publish and record re-publishes that one batch with the same event
ids. A claim is a lease: each batch renews it, a dead worker's lease runs out and another
worker (or the restarted process) goes on from the last recorded chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import socket
import time
import uuid
from datetime import timedelta

from services.ingest import metrics
from services.ingest.context import IngestContext
from services.ingest.domain.import_files import decode_rows
from services.ingest.domain.jobs import ImportKind, JobStatus, after_batch
from services.ingest.imports.batch import BatchOutcome, JobSpec, Show, decide_batch
from services.ingest.imports.repository import ImportRepository
from services.ingest.models import ImportJob
from shared.kafka.consumer import is_transient
from shared.kafka.producer import KafkaUnavailable, Message
from shared.logging import get_logger

log = get_logger(__name__)

# Kafka or PostgreSQL away: first wait, doubling up to the cap (an outage of minutes costs
# at most one extra wait of this long once it is over).
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 10.0


class Step(enum.Enum):
    next = "next"  # recorded; go on
    stop = "stop"  # finished, cancelled, lease lost or shutting down


def spec_of(job: ImportJob) -> JobSpec:
    show = None
    if job.kind == ImportKind.trade_show:
        assert job.show_id and job.show_name and job.end_date and job.timezone
        show = Show(job.show_id, job.show_name, job.end_date, job.timezone)
    return JobSpec(
        import_id=job.id,
        kind=job.kind,
        received_at=job.created_at,
        topic_prefix=job.topic_prefix,
        list_id=job.list_id,
        show=show,
    )


def worker_id() -> str:
    """Unique per process: a restarted process is a new worker and waits out the old lease."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class ImportWorker:
    def __init__(self, ctx: IngestContext, owner: str | None = None) -> None:
        self.ctx = ctx
        self.owner = owner or worker_id()
        self.stopping = asyncio.Event()
        s = ctx.settings
        self.lease = timedelta(seconds=s.ingest_import_lease_seconds)
        self.poll = s.ingest_import_poll_seconds
        self.rate = s.ingest_import_max_rows_per_second

    async def run(self) -> None:
        """Claim and work jobs until told to stop; never dies of one job's failure."""
        delay = RETRY_FIRST_SECONDS
        while not self.stopping.is_set():
            try:
                claimed = await self._claim()
                if claimed is None:
                    await self._idle()
                    continue
                await self._work(*claimed)
                delay = RETRY_FIRST_SECONDS
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # PostgreSQL away, or a bug: wait, then look again
                log.warning("ingest.import_worker_error", error=type(exc).__name__)
                await self._sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)

    async def stop(self) -> None:
        self.stopping.set()
        self.ctx.import_wakeup.set()

    async def release(self) -> None:
        """Let go of held jobs so another worker goes on without waiting out the lease."""
        with contextlib.suppress(Exception):
            async with self.ctx.sessions.begin() as session:
                await ImportRepository(session).release(self.owner)

    async def _idle(self) -> None:
        wakeup = self.ctx.import_wakeup
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wakeup.wait(), self.poll)
        wakeup.clear()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    async def _claim(self) -> tuple[ImportJob, JobStatus] | None:
        async with self.ctx.sessions.begin() as session:
            claimed = await ImportRepository(session).claim(
                owner=self.owner,
                topic_prefix=self.ctx.settings.topic_prefix,
                lease=self.lease,
                now=self.ctx.clock(),
            )
        if claimed is not None:
            job, before = claimed
            metrics.IMPORT_JOBS.labels(job.kind.value, JobStatus.running.value).inc()
            log.info(
                "ingest.import_resumed" if before == JobStatus.running else "ingest.import_started",
                import_id=str(job.id),
                kind=job.kind.value,
                next_chunk=job.next_chunk,
                chunks=job.chunk_count,
            )
        return claimed

    async def _work(self, job: ImportJob, _before: JobStatus) -> None:
        spec = spec_of(job)
        metrics.IMPORT_JOBS_RUNNING.inc()
        started, sent = time.monotonic(), 0
        try:
            if job.next_chunk >= job.chunk_count:  # its last batch was recorded after a cancel
                await self._finish(job)
                return
            for seq in range(job.next_chunk, job.chunk_count):
                if self.stopping.is_set():
                    return
                try:
                    step, rows = await self._batch(job, spec, seq)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if is_transient(exc):
                        raise  # the run loop waits and claims the job again (it is still ours)
                    await self._fail(job, exc)
                    return
                if step is Step.stop:
                    return
                sent += rows
                await self._throttle(job, started, sent)
        finally:
            metrics.IMPORT_JOBS_RUNNING.dec()

    async def _batch(self, job: ImportJob, spec: JobSpec, seq: int) -> tuple[Step, int]:
        sessions = self.ctx.sessions
        async with sessions() as session:
            stored = await ImportRepository(session).chunk(job.id, seq)
        if stored is None or stored.status != JobStatus.running:
            return Step.stop, 0  # cancelled (or finished by another worker)
        clock = time.perf_counter()
        outcome: BatchOutcome = await asyncio.to_thread(
            lambda: decide_batch(spec, decode_rows(stored.rows, job.fields))
        )
        if not await self._publish(job, outcome.messages):
            return Step.stop, 0
        last = seq + 1 == job.chunk_count
        async with sessions.begin() as session:
            repo = ImportRepository(session)
            current = await repo.lock(job.id)
            if current is None or current.lease_owner != self.owner or current.next_chunk != seq:
                log.warning("ingest.import_lease_lost", import_id=str(job.id), chunk=seq)
                return Step.stop, 0
            status = after_batch(current.status, last=last)
            await repo.add_rows(job.id, outcome.rows)
            await repo.advance(
                job.id,
                next_chunk=seq + 1,
                accepted=outcome.accepted,
                rejected=outcome.rejected,
                status=status,
                lease=self.lease,
                now=self.ctx.clock(),
            )
            if status == JobStatus.done:
                await repo.delete_chunks(job.id)
        metrics.count_import_rows(job.kind, outcome.accepted, outcome.rejected)
        metrics.IMPORT_BATCH_SECONDS.observe(time.perf_counter() - clock)
        if status == JobStatus.done:
            metrics.IMPORT_JOBS.labels(job.kind.value, JobStatus.done.value).inc()
            log.info("ingest.import_done", import_id=str(job.id), kind=job.kind.value)
        if status != JobStatus.running:
            if status == JobStatus.cancelled:
                log.info("ingest.import_stopped", import_id=str(job.id), next_chunk=seq + 1)
            return Step.stop, len(outcome.rows)
        return Step.next, len(outcome.rows)

    async def _finish(self, job: ImportJob) -> None:
        """A job queued again with every chunk already recorded: nothing left but to end it."""
        async with self.ctx.sessions.begin() as session:
            repo = ImportRepository(session)
            current = await repo.lock(job.id)
            if (
                current is None
                or current.lease_owner != self.owner
                or current.status != JobStatus.running
            ):
                return
            await repo.advance(
                job.id,
                next_chunk=current.next_chunk,
                accepted=0,
                rejected=0,
                status=JobStatus.done,
                lease=self.lease,
                now=self.ctx.clock(),
            )
            await repo.delete_chunks(job.id)
        metrics.IMPORT_JOBS.labels(job.kind.value, JobStatus.done.value).inc()
        log.info("ingest.import_done", import_id=str(job.id), kind=job.kind.value)

    async def _publish(self, job: ImportJob, messages: list[Message]) -> bool:
        """Publish and wait for acks; while Kafka is away, retry and keep the lease. False:
        the lease is gone (cancelled or taken over) or the process stops."""
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                await self.ctx.producer.publish_many(messages)
                return True
            except KafkaUnavailable:
                log.warning("ingest.import_publish_retry", import_id=str(job.id))
            await self._sleep(delay)
            if self.stopping.is_set():
                return False
            delay = min(delay * 2, RETRY_MAX_SECONDS)
            async with self.ctx.sessions.begin() as session:
                if not await ImportRepository(session).renew(job.id, self.owner, self.lease):
                    return False

    async def _throttle(self, job: ImportJob, started: float, sent: int) -> None:
        """Hold the job to at most ``rate`` rows a second, keeping its lease meanwhile."""
        if not self.rate:
            return
        wait = started + sent / self.rate - time.monotonic()
        slice_ = self.lease.total_seconds() / 3
        while wait > 0 and not self.stopping.is_set():
            await self._sleep(min(wait, slice_))
            wait -= slice_
            if wait > 0:
                async with self.ctx.sessions.begin() as session:
                    await ImportRepository(session).renew(job.id, self.owner, self.lease)

    async def _fail(self, job: ImportJob, exc: Exception) -> None:
        # the job's error is for its admin API; the log carries ids and the error's type only
        log.error("ingest.import_failed", import_id=str(job.id), error=type(exc).__name__)
        async with self.ctx.sessions.begin() as session:
            failed = await ImportRepository(session).fail(
                job.id, self.owner, f"{type(exc).__name__}: {exc}"[:1000], self.ctx.clock()
            )
        if failed:
            metrics.IMPORT_JOBS.labels(job.kind.value, JobStatus.failed.value).inc()

"""The ingest FastAPI app: ``uvicorn services.ingest.app:create_app --factory``."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from services.ingest import metrics
from services.ingest.activities.endpoints import router as activities_router
from services.ingest.audit import router as audit_router
from services.ingest.context import IngestContext, utc_now
from services.ingest.erasure.consumer import ErasureConsumer
from services.ingest.idempotency.repository import IdempotencyRepository
from services.ingest.idempotency.service import request_db_settings
from services.ingest.imports.endpoints import router as imports_router
from services.ingest.imports.worker import ImportWorker
from services.ingest.leads.endpoints import router as leads_router
from services.ingest.settings import IngestSettings
from services.ingest.sources.config import load_sources
from services.ingest.sources.redirects import install_error_redirects
from services.ingest.trade_shows.endpoints import router as trade_shows_router
from shared import db
from shared.credentials import Credentials
from shared.dispositions import load_dispositions
from shared.http import (
    BodySizeLimitMiddleware,
    ReadinessCheck,
    install_error_handlers,
    install_health_routes,
)
from shared.kafka.producer import EventProducer
from shared.logging import configure_logging, get_logger
from shared.metrics import HttpMetricsMiddleware
from shared.openapi import ADMIN, install_openapi, operation_id
from shared.tasks import exit_process

log = get_logger(__name__)
PURGE_EVERY_SECONDS = 600
# Within uvicorn's graceful-shutdown window (10 s): a batch is published within the publish
# timeout; one that is cut off is re-published by the next worker with the same event ids.
IMPORT_STOP_GRACE_SECONDS = 8


async def _purge_expired_keys(ctx: IngestContext) -> None:
    while True:
        await asyncio.sleep(PURGE_EVERY_SECONDS)
        try:
            async with ctx.engine.connect() as pooled:
                raw = await pooled.get_raw_connection()
                repository = IdempotencyRepository(raw.driver_connection)
                purged = await repository.purge_expired(ctx.clock())
            if purged:
                log.info("ingest.idempotency_keys_purged", count=purged)
        except Exception as exc:  # retried at the next tick
            log.warning("ingest.idempotency_purge_failed", error=repr(exc))


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or IngestSettings()
    configure_logging(settings.log_level, settings.log_format)
    # Fail at start-up, with a clear message, on a bad sources file or missing secrets.
    sources = load_sources(
        settings.ingest_sources_file,
        dev=settings.is_dev,
        dev_secret=settings.dev_webhook_secret.get_secret_value(),
    )
    dispositions = load_dispositions(settings.dispositions_file)
    credentials = Credentials.from_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = db.create_engine(settings.require_database_url())
        request_engine = db.create_engine(
            settings.require_database_url(),
            pool_size=settings.ingest_db_pool_size,
            # a burst waits for a pooled connection rather than opening (and closing) more,
            # which under load costs more than the wait; past the timeout it is told 503
            max_overflow=0,
            pool_timeout=settings.ingest_db_pool_timeout_seconds,
            pre_ping=False,
            server_settings=request_db_settings(settings.ingest_publish_timeout_seconds),
            connect_timeout=5,
            command_timeout=5,
        )
        producer = EventProducer(
            settings.kafka(),
            client_id="leadflow-ingest",
            publish_timeout=settings.ingest_publish_timeout_seconds,
            # each request waits for its own acknowledgement: no linger. Under load requests
            # still share produce requests (those that arrive while one is in flight), and a
            # lone request is neither delayed nor woken by a linger timer (measured: 1.0 against
            # 3.1 ms and 0.39 against 0.63 ms of CPU per acknowledged event)
            linger_ms=0,
            # Kafka down at start-up, then back refusing the password: stop, do not wait unready
            on_refused=exit_process("ingest"),
        )
        await producer.start(required=False)
        ctx = IngestContext(
            settings=settings,
            sources=sources,
            producer=producer,
            engine=engine,
            sessions=db.sessionmaker(engine),
            request_engine=request_engine,
            clock=getattr(app.state, "clock", utc_now),
            dispositions=dispositions,
        )
        app.state.ingest = ctx
        purger = asyncio.create_task(_purge_expired_keys(ctx))
        workers = [ImportWorker(ctx) for _ in range(settings.ingest_import_workers)]
        worker_tasks = [
            asyncio.create_task(w.run(), name=f"ingest-import-worker-{i}")
            for i, w in enumerate(workers)
        ]
        erasures = ErasureConsumer(ctx)  # leads.erasure.v1: ingest's part of an erasure
        erasures.start()
        log.info("ingest.started", sources=sorted(sources), kafka=settings.kafka_bootstrap_servers)
        # Everything loaded so far lives as long as the process: keep it out of the cyclic
        # collector's scans, which otherwise walk it on every full collection.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            purger.cancel()
            # import workers finish the batch in flight, then let go of their jobs
            for worker in workers:
                await worker.stop()
            if worker_tasks:
                _, late = await asyncio.wait(worker_tasks, timeout=IMPORT_STOP_GRACE_SECONDS)
                for task in late:
                    task.cancel()
                await asyncio.gather(*worker_tasks, return_exceptions=True)
            for worker in workers:
                await worker.release()
            await erasures.stop()
            await producer.stop()
            await request_engine.dispose()
            await engine.dispose()
            log.info("ingest.stopped")

    app = FastAPI(
        title="leadflow ingest",
        version="1",
        summary="Web-form webhooks, trade-show badge scans, purchased lists and sales activities, published to Kafka.",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.state.credentials = credentials
    install_openapi(app, security=ADMIN)  # leads and activities name their own
    install_error_handlers(app)
    install_error_redirects(app)  # plain HTML forms of public sources: 303 to their error page
    app.include_router(leads_router)
    app.include_router(activities_router)
    app.include_router(trade_shows_router)
    app.include_router(imports_router)
    app.include_router(audit_router)

    def checks() -> dict[str, ReadinessCheck]:
        ctx: IngestContext = app.state.ingest
        return {"kafka": ctx.producer.is_ready, "postgres": lambda: db.ping(ctx.engine)}

    install_health_routes(app, checks)
    app.add_middleware(
        BodySizeLimitMiddleware,
        default_limit=settings.ingest_max_body_bytes,
        limits={
            "/v1/trade-shows": settings.ingest_import_max_bytes,
            "/v1/lists": settings.ingest_import_max_bytes,
        },
    )
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics.HTTP)
    if settings.ingest_forwarded_allow_ips:
        # uvicorn's own copy is switched off (--no-proxy-headers) in every command that starts
        # ingest, so that only this list, from the settings, is believed.
        app.add_middleware(
            ProxyHeadersMiddleware,  # type: ignore[arg-type]
            trusted_hosts=settings.ingest_forwarded_allow_ips.split(","),
        )
    return app

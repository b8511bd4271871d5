"""The router process: ``uvicorn services.router.app:create_app --factory`` (admin API on :8001)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from services.router import metrics
from services.router.admin.endpoints import router as admin_router
from services.router.runtime import RouterRuntime
from services.router.settings import RouterSettings
from shared import db
from shared.http import ReadinessCheck, install_error_handlers, install_health_routes
from shared.logging import configure_logging
from shared.metrics import HttpMetricsMiddleware


def create_app(
    settings: RouterSettings | None = None, runtime: RouterRuntime | None = None
) -> FastAPI:
    settings = settings or RouterSettings()
    configure_logging(settings.log_level, settings.log_format)
    rt = runtime or RouterRuntime(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.router = await rt.start()
        try:
            yield
        finally:
            await rt.stop()

    app = FastAPI(
        title="leadflow router",
        version="1",
        summary="Dedupe, score and assign every lead; the SLA clock to first touch. Admin API.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(admin_router)

    def checks() -> dict[str, ReadinessCheck]:
        ctx = app.state.router

        async def consumer() -> bool:
            return rt.loop is None or any(
                t.get_name() == "router-consumer" and not t.done() for t in rt._tasks
            )

        return {
            "kafka": ctx.producer.is_ready,
            "postgres": lambda: db.ping(ctx.engine),
            "consumer": consumer,
        }

    install_health_routes(app, checks)
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics.HTTP)
    return app

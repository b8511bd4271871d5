"""The nurture process: ``uvicorn services.nurture.app:create_app --factory`` (API on :8002)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from services.nurture import metrics
from services.nurture.api.endpoints import router as api_router
from services.nurture.runtime import NurtureRuntime
from services.nurture.settings import NurtureSettings
from shared import db
from shared.http import ReadinessCheck, install_error_handlers, install_health_routes
from shared.logging import configure_logging
from shared.metrics import HttpMetricsMiddleware


def create_app(
    settings: NurtureSettings | None = None, runtime: NurtureRuntime | None = None
) -> FastAPI:
    settings = settings or NurtureSettings()
    configure_logging(settings.log_level, settings.log_format)
    rt = runtime or NurtureRuntime(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.nurture = await rt.start()
        try:
            yield
        finally:
            await rt.stop()

    app = FastAPI(
        title="leadflow nurture",
        version="1",
        summary="Timed drip sequences, re-engagement and sunset; a lead's nurture state and operator actions.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(api_router)

    def checks() -> dict[str, ReadinessCheck]:
        ctx = app.state.nurture

        async def consumer() -> bool:
            return rt.consuming

        return {
            "kafka": ctx.producer.is_ready,
            "postgres": lambda: db.ping(ctx.engine),
            "consumer": consumer,
        }

    install_health_routes(app, checks)
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics.HTTP)
    return app

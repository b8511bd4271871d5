"""The HTTP shell of a consumer service (router, nurture, delivery): its runtime started and stopped by
the app's lifespan, the API, health and readiness (Kafka, PostgreSQL, the consumer loop),
request metrics."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, Protocol

from fastapi import APIRouter, FastAPI

from shared import db
from shared.credentials import Credentials
from shared.http import ReadinessCheck, install_error_handlers, install_health_routes
from shared.metrics import HttpMetrics, HttpMetricsMiddleware
from shared.openapi import ADMIN, install_openapi, operation_id


class ConsumerRuntime(Protocol):
    @property
    def consuming(self) -> bool: ...

    async def start(self) -> Any: ...  # the service's context: producer, engine, ...

    async def stop(self) -> None: ...


def consumer_app(
    *,
    service: str,
    summary: str,
    runtime: ConsumerRuntime,
    api: APIRouter,
    http_metrics: HttpMetrics,
    credentials: Credentials,
) -> FastAPI:
    """``app.state.<service>`` holds the runtime's context once started; ``app.state.credentials``
    the admin tokens the API accepts."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        setattr(app.state, service, await runtime.start())
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title=f"leadflow {service}",
        version="1",
        summary=summary,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.state.credentials = credentials
    install_openapi(app, security=ADMIN)
    install_error_handlers(app)
    app.include_router(api)

    def checks() -> dict[str, ReadinessCheck]:
        ctx = getattr(app.state, service)

        async def consumer() -> bool:
            return runtime.consuming

        return {
            "kafka": ctx.producer.is_ready,
            "postgres": lambda: db.ping(ctx.engine),
            "consumer": consumer,
        }

    install_health_routes(app, checks)
    app.add_middleware(HttpMetricsMiddleware, metrics=http_metrics)
    return app

"""The delivery process: ``uvicorn services.delivery.app:create_app --factory`` (API on :8003)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from services.delivery import metrics
from services.delivery.api.endpoints import router as api_router
from services.delivery.audit import router as audit_router
from services.delivery.runtime import DeliveryRuntime
from services.delivery.settings import DeliverySettings
from shared.consumer_app import consumer_app
from shared.credentials import Credentials
from shared.logging import configure_logging


def create_app(
    settings: DeliverySettings | None = None, runtime: DeliveryRuntime | None = None
) -> FastAPI:
    settings = settings or DeliverySettings()
    configure_logging(settings.log_level, settings.log_format)
    api = APIRouter()
    api.include_router(api_router)
    api.include_router(audit_router)
    return consumer_app(
        service="delivery",
        summary="Outbound webhooks: endpoints, signed deliveries with durable retries, attempts and replay.",
        runtime=runtime or DeliveryRuntime(settings),
        api=api,
        http_metrics=metrics.HTTP,
        credentials=Credentials.from_settings(settings),
    )

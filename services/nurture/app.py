"""The nurture process: ``uvicorn services.nurture.app:create_app --factory`` (API on :8002)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from services.nurture import metrics
from services.nurture.api.endpoints import router as api_router
from services.nurture.audit import router as audit_router
from services.nurture.runtime import NurtureRuntime
from services.nurture.settings import NurtureSettings
from shared.consumer_app import consumer_app
from shared.credentials import Credentials
from shared.logging import configure_logging


def create_app(
    settings: NurtureSettings | None = None, runtime: NurtureRuntime | None = None
) -> FastAPI:
    settings = settings or NurtureSettings()
    configure_logging(settings.log_level, settings.log_format)
    api = APIRouter()
    api.include_router(api_router)
    api.include_router(audit_router)
    return consumer_app(
        service="nurture",
        summary="Timed drip sequences, re-engagement and sunset; a lead's nurture state and operator actions.",
        runtime=runtime or NurtureRuntime(settings),
        api=api,
        http_metrics=metrics.HTTP,
        credentials=Credentials.from_settings(settings),
    )

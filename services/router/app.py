"""The router process: ``uvicorn services.router.app:create_app --factory`` (admin API on :8001)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from services.router import metrics
from services.router.admin.endpoints import router as admin_router
from services.router.audit import router as audit_router
from services.router.dedupe.endpoints import router as dedupe_router
from services.router.erasure.endpoints import router as erasure_router
from services.router.reports.endpoints import router as reports_router
from services.router.runtime import RouterRuntime
from services.router.scoring.endpoints import router as scoring_router
from services.router.search.endpoints import router as search_router
from services.router.settings import RouterSettings
from shared.consumer_app import consumer_app
from shared.credentials import Credentials
from shared.logging import configure_logging


def create_app(
    settings: RouterSettings | None = None, runtime: RouterRuntime | None = None
) -> FastAPI:
    settings = settings or RouterSettings()
    configure_logging(settings.log_level, settings.log_format)
    api = APIRouter()
    api.include_router(admin_router)
    api.include_router(dedupe_router)
    api.include_router(erasure_router)
    api.include_router(reports_router)
    api.include_router(search_router)
    api.include_router(scoring_router)
    api.include_router(audit_router)
    return consumer_app(
        service="router",
        summary="Dedupe, score and assign every lead; the SLA clock to first touch. Admin API.",
        runtime=runtime or RouterRuntime(settings),
        api=api,
        http_metrics=metrics.HTTP,
        credentials=Credentials.from_settings(settings),
    )

"""Prometheus helpers: the /metrics endpoint and HTTP request metrics by route template."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.build import record_build_info

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class HttpMetrics:
    """Per-service HTTP metrics: ``leadflow_<service>_http_*``."""

    def __init__(self, service: str) -> None:
        record_build_info(service)  # leadflow_build_info{service,version,commit,python} 1
        self.requests = Counter(
            f"leadflow_{service}_http_requests_total",
            "HTTP requests by route template, method and status code",
            ["route", "method", "status"],
        )
        self.latency = Histogram(
            f"leadflow_{service}_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
        )


class HttpMetricsMiddleware:
    """Pure ASGI middleware; labels by the matched route template, never the raw path."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            self.metrics.requests.labels(template, method, str(status)).inc()
            self.metrics.latency.labels(template, method).observe(time.perf_counter() - started)


async def metrics_endpoint(_: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


# --- counting what a transaction did, once it is committed ---

_ON_COMMIT = "leadflow.on_commit"


def on_commit(session: AsyncSession, fn: Callable[[], object]) -> None:
    """Run ``fn`` (a metric update) when the session's transaction commits; never on a
    rollback, so a retried or failed message is not counted twice or at all."""
    session.info.setdefault(_ON_COMMIT, []).append(fn)


@event.listens_for(Session, "after_commit")
def _run_on_commit(session: Session) -> None:
    for fn in session.info.pop(_ON_COMMIT, []):
        fn()


@event.listens_for(Session, "after_rollback")
def _drop_on_rollback(session: Session) -> None:
    session.info.pop(_ON_COMMIT, None)

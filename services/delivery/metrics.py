"""Delivery's metric catalogue. Labels are bounded (outcome, event type, state, reason) except
``endpoint``: an endpoint id (operators create a handful; never personal data)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.ext.asyncio import AsyncSession

from shared.metrics import HttpMetrics, on_commit

HTTP = HttpMetrics("delivery")

DELIVERIES = Counter(
    "leadflow_webhook_deliveries_total",
    "Finished webhook deliveries, by outcome (delivered, failed, skipped) and event type",
    ["outcome", "event_type"],
)
ATTEMPTS = Counter(
    "leadflow_webhook_attempts_total",
    "Webhook attempts, by outcome (success, http_error, timeout, connect_error, "
    "refused_address, gone, throttled)",
    ["outcome"],
)
ATTEMPT_SECONDS = Histogram(
    "leadflow_webhook_attempt_seconds",
    "How long one webhook attempt took, by outcome",
    ["outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30),
)
BACKLOG = Gauge(
    "leadflow_webhook_backlog",
    "Pending webhook deliveries per endpoint (refreshed every 15 s)",
    ["endpoint"],
)
OLDEST_PENDING = Gauge(
    "leadflow_webhook_oldest_pending_seconds",
    "Age of an endpoint's oldest pending delivery (refreshed every 15 s)",
    ["endpoint"],
)
ENDPOINTS = Gauge("leadflow_webhook_endpoints", "Webhook endpoints, by state", ["state"])
ENDPOINTS_DISABLED = Counter(
    "leadflow_webhook_endpoints_disabled_total",
    "Webhook endpoints disabled, by reason (gone: a 410; failing: everything failed for days; "
    "operator)",
    ["reason"],
)
EVENTS_STORED = Counter(
    "leadflow_webhook_events_stored_total", "Consumed events stored for delivery, by event type",
    ["event_type"],
)  # fmt: skip
EVENTS_PRUNED = Counter(
    "leadflow_webhook_events_pruned_total",
    "Stored events deleted after the retention (with their deliveries and attempts)",
)


def count_skipped(session: AsyncSession, event_types: Iterable[str]) -> None:
    """Count skipped deliveries (one event type per delivery) when ``session`` commits."""
    skipped = list(event_types)

    def count() -> None:
        for event_type in skipped:
            DELIVERIES.labels("skipped", event_type).inc()

    on_commit(session, count)

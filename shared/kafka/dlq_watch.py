"""The dead letters awaiting replay, as a gauge refreshed periodically by every consumer
service: ``leadflow_dlq_messages{topic}`` counts what lies beyond the ``leadflow-dlq-replay``
group's committed offset (``leadflow dlq replay`` moves it)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from prometheus_client import Gauge

from shared.kafka.replay import dlq_counts
from shared.kafka.security import Kafka
from shared.logging import get_logger

log = get_logger(__name__)

DLQ_MESSAGES = Gauge(
    "leadflow_dlq_messages",
    "Dead letters awaiting replay (beyond the leadflow-dlq-replay group's committed offset)",
    ["topic"],
)


async def watch_dlq(
    bootstrap: Kafka, topics: Sequence[str], stopping: asyncio.Event, every: float = 30.0
) -> None:
    while not stopping.is_set():
        try:
            for count in await dlq_counts(bootstrap, topics):
                DLQ_MESSAGES.labels(count.topic).set(count.awaiting_replay)
        except Exception as exc:
            log.warning("dlq.watch_failed", error=repr(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), every)

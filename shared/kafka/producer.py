"""The one Kafka producer every leadflow process uses: acks=all, idempotence on.

``publish`` returns only after the broker acknowledged the write (all in-sync replicas),
so a caller can promise durability. If Kafka cannot be reached within
``publish_timeout`` it raises :class:`KafkaUnavailable`; callers turn that into a 503
(HTTP) or a retry (consumers), never into a silent drop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata
from prometheus_client import Histogram

from shared.events.envelope import CloudEvent
from shared.kafka.errors import KafkaAuthenticationFailed, KafkaUnavailable
from shared.kafka.security import Kafka, client_options, connection, start_client
from shared.logging import get_logger

log = get_logger(__name__)

PUBLISH_SECONDS = Histogram(
    "leadflow_kafka_publish_duration_seconds",
    "Time from send to broker acknowledgement (acks=all)",
    ["topic", "outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


__all__ = ["EventProducer", "KafkaAuthenticationFailed", "KafkaUnavailable", "Message"]

# (topic, key, event, headers); the event may be its JSON bytes already (the outbox relay)
Message = tuple[str, bytes, CloudEvent | bytes, Sequence[tuple[str, bytes]]]


class EventProducer:
    def __init__(
        self,
        kafka: Kafka,
        *,
        client_id: str = "leadflow",
        publish_timeout: float = 5.0,
        linger_ms: int = 2,
        on_refused: Callable[[KafkaAuthenticationFailed], None] | None = None,
    ) -> None:
        """``on_refused``: called when the broker refuses the credentials on a connection after
        start-up (Kafka was down at :meth:`start`, then came back refusing them): a service
        passes its fatal handler, so a wrong password never leaves it waiting unready."""
        self._kafka = connection(kafka)
        self._on_refused = on_refused
        self._bootstrap = self._kafka.bootstrap_servers
        self._client_id = client_id
        self._publish_timeout = publish_timeout
        self._linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None
        self._start_lock = asyncio.Lock()
        self._failed_at = -1e9  # monotonic time of the last failed connection attempt

    async def start(self, *, required: bool = False) -> None:
        """Connect now. With ``required=False`` a Kafka outage at start-up is logged, not fatal:
        the first publish connects again (and answers :class:`KafkaUnavailable` until it can).
        Refused credentials are fatal either way: :class:`KafkaAuthenticationFailed`."""
        try:
            await self._ensure_started(starting=True)
        except KafkaAuthenticationFailed as exc:
            log.error("kafka.authentication_failed", bootstrap=self._bootstrap, error=str(exc))
            raise
        except KafkaUnavailable:
            if required:
                raise
            log.warning("kafka.producer_start_deferred", bootstrap=self._bootstrap)

    async def connect(self) -> None:
        """Return once connected; raise :class:`KafkaUnavailable` if Kafka cannot be reached
        (at once when an attempt failed less than a second ago: callers queued behind a
        failing attempt do not each wait out their own)."""
        await self._ensure_started()

    async def _ensure_started(self, *, starting: bool = False) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        async with self._start_lock:
            if self._producer is not None:
                return self._producer
            if time.monotonic() - self._failed_at < 1.0:
                raise KafkaUnavailable(f"cannot reach Kafka at {self._bootstrap}")
            producer = AIOKafkaProducer(
                **client_options(self._kafka),
                client_id=self._client_id,
                acks="all",
                enable_idempotence=True,
                linger_ms=self._linger_ms,
                request_timeout_ms=int(self._publish_timeout * 1000),
                retry_backoff_ms=100,
                metadata_max_age_ms=30000,
            )
            try:
                await asyncio.wait_for(start_client(producer, self._kafka), self._publish_timeout)
            except KafkaAuthenticationFailed as exc:
                self._failed_at = time.monotonic()
                await _quiet_stop(producer)
                if not starting and self._on_refused is not None:
                    log.error(
                        "kafka.authentication_failed", bootstrap=self._bootstrap, error=str(exc)
                    )
                    self._on_refused(exc)
                raise
            except (KafkaError, OSError, TimeoutError) as exc:
                self._failed_at = time.monotonic()
                await _quiet_stop(producer)
                raise KafkaUnavailable(f"cannot reach Kafka at {self._bootstrap}: {exc!r}") from exc
            self._producer = producer
            return producer

    async def stop(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()  # flushes what is buffered

    async def is_ready(self) -> bool:
        """True when a broker answers a metadata request now."""
        try:
            producer = await self._ensure_started()
            return bool(await asyncio.wait_for(producer.client.fetch_all_metadata(), 3.0))
        except Exception:  # readiness must answer, whatever the failure
            return False

    async def publish_raw(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> RecordMetadata:
        """Send bytes as they are (dead letters, replays) and wait for acks=all."""
        producer = await self._ensure_started()
        started = time.perf_counter()

        async def send() -> RecordMetadata:
            fut = await producer.send(topic, value=value, key=key, headers=list(headers))
            return await fut

        try:
            meta = await asyncio.wait_for(send(), self._publish_timeout)
        except (KafkaError, OSError, TimeoutError) as exc:
            PUBLISH_SECONDS.labels(topic, "error").observe(time.perf_counter() - started)
            raise KafkaUnavailable(f"Kafka did not acknowledge: {exc!r}") from exc
        PUBLISH_SECONDS.labels(topic, "ok").observe(time.perf_counter() - started)
        return meta

    async def publish(
        self,
        topic: str,
        key: bytes,
        event: CloudEvent,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> RecordMetadata:
        """Send one event and wait for acks=all."""
        (meta,) = await self.publish_many([(topic, key, event, headers)])
        return meta

    async def publish_many(self, messages: Sequence[Message]) -> list[RecordMetadata]:
        """Send a batch concurrently; returns when every message is acknowledged.

        Raises :class:`KafkaUnavailable` if any one is not: the caller must treat the whole
        batch as not accepted (re-sending is safe: consumers dedupe on the event id)."""
        if not messages:
            return []
        producer = await self._ensure_started()
        started = time.perf_counter()
        topic_label = messages[0][0]

        async def send_all() -> list[RecordMetadata]:
            futures = [
                await producer.send(
                    topic,
                    value=event if isinstance(event, bytes) else event.to_bytes(),
                    key=key,
                    headers=list(headers),
                )
                for topic, key, event, headers in messages
            ]
            if len(futures) == 1:
                return [await futures[0]]
            return list(await asyncio.gather(*futures))

        # Large batches get proportionally longer; an outage still answers within seconds.
        timeout = self._publish_timeout + 0.002 * len(messages)
        try:
            async with asyncio.timeout(timeout):
                results = await send_all()
        except (KafkaError, OSError, TimeoutError) as exc:
            PUBLISH_SECONDS.labels(topic_label, "error").observe(time.perf_counter() - started)
            log.warning(
                "kafka.publish_failed", topic=topic_label, count=len(messages), error=repr(exc)
            )
            raise KafkaUnavailable(f"Kafka did not acknowledge: {exc!r}") from exc
        PUBLISH_SECONDS.labels(topic_label, "ok").observe(time.perf_counter() - started)
        return results


async def _quiet_stop(producer: AIOKafkaProducer) -> None:
    try:
        await producer.stop()
    except Exception:  # already broken; nothing to flush
        pass

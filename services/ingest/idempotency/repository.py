"""The only place that queries ``ingest.idempotency_key``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import IdempotencyKey


@dataclass(frozen=True)
class Claimed:
    pass


@dataclass(frozen=True)
class Done:
    status: int
    body: dict[str, Any]
    webhook_timestamp: int | None


@dataclass(frozen=True)
class InFlight:
    pass


@dataclass(frozen=True)
class Mismatch:
    pass


ClaimResult = Claimed | Done | InFlight | Mismatch


class IdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(
        self,
        source_id: str,
        key: str,
        request_hash: bytes,
        *,
        now: datetime,
        lock_for: timedelta,
        ttl: timedelta,
    ) -> ClaimResult:
        values = {
            "source_id": source_id,
            "key": key,
            "request_hash": request_hash,
            "state": "pending",
            "locked_until": now + lock_for,
            "created_at": now,
            "expires_at": now + ttl,
        }
        created = await self.session.scalar(
            insert(IdempotencyKey)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(IdempotencyKey.source_id)
        )
        if created is not None:
            return Claimed()
        row = await self.session.scalar(
            select(IdempotencyKey)
            .where(IdempotencyKey.source_id == source_id, IdempotencyKey.key == key)
            .with_for_update()
        )
        if row is None:  # deleted (released or expired) between the two statements
            await self.session.execute(insert(IdempotencyKey).values(**values))
            return Claimed()
        if row.expires_at <= now:
            await self._reclaim(source_id, key, values)
            return Claimed()
        if row.request_hash != request_hash:
            return Mismatch()
        if row.state == "done":
            assert row.response_status is not None and row.response_body is not None
            return Done(row.response_status, row.response_body, row.webhook_timestamp)
        if row.locked_until > now:
            return InFlight()
        await self._reclaim(source_id, key, values)  # the first holder died mid-request
        return Claimed()

    async def _reclaim(self, source_id: str, key: str, values: dict[str, Any]) -> None:
        await self.session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.source_id == source_id, IdempotencyKey.key == key)
            .values(**values, webhook_timestamp=None, response_status=None, response_body=None)
        )

    async def complete(
        self,
        source_id: str,
        key: str,
        *,
        status: int,
        body: dict[str, Any],
        webhook_timestamp: int | None,
    ) -> None:
        await self.session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.source_id == source_id, IdempotencyKey.key == key)
            .values(
                state="done",
                response_status=status,
                response_body=body,
                webhook_timestamp=webhook_timestamp,
            )
        )

    async def release(self, source_id: str, key: str) -> None:
        await self.session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.source_id == source_id,
                IdempotencyKey.key == key,
                IdempotencyKey.state == "pending",
            )
        )

    async def purge_expired(self, now: datetime) -> int:
        result = await self.session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now)
        )
        return int(getattr(result, "rowcount", 0) or 0)

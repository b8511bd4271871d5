"""The only place that queries ``ingest.idempotency_key``.

Statements are SQLAlchemy Core, built once: this is the path of every keyed request, and an
ORM session costs several times the CPU of the statement itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ingest.models import IdempotencyKey

_T = IdempotencyKey.__table__
_PK = and_(_T.c.source_id == bindparam("source_id"), _T.c.key == bindparam("key"))
_VALUES = {
    "source_id": bindparam("source_id"),
    "key": bindparam("key"),
    "request_hash": bindparam("request_hash"),
    "state": "done",
    "locked_until": bindparam("now"),
    "created_at": bindparam("now"),
    "expires_at": bindparam("expires_at"),
    "webhook_timestamp": bindparam("webhook_timestamp"),
    "response_status": bindparam("response_status"),
    "response_body": bindparam("response_body"),
}
# A row is only ever written with its response. Inside a transaction that is held until the
# events are durable, the uncommitted row is the claim: a concurrent twin's insert waits on it
# (up to the connection's lock_timeout), and a holder that dies takes its claim with it.
_INSERT = (
    pg_insert(_T)
    .values(_VALUES)
    .on_conflict_do_nothing(index_elements=[_T.c.source_id, _T.c.key])
    .returning(literal(True))
)
_SELECT = select(
    _T.c.request_hash,
    _T.c.state,
    _T.c.locked_until,
    _T.c.expires_at,
    _T.c.response_status,
    _T.c.response_body,
).where(_PK)
# Take over a row that no longer answers: expired, or a ``pending`` claim whose holder died
# (rows of that state were written by the earlier two-transaction scheme, which a rolling
# upgrade can still meet).
_RECLAIM = (
    update(_T)
    .where(
        _PK,
        or_(
            _T.c.expires_at <= bindparam("now"),
            and_(_T.c.state == "pending", _T.c.locked_until <= bindparam("now")),
        ),
    )
    .values({k: v for k, v in _VALUES.items() if k not in ("source_id", "key")})
    .returning(literal(True))
)
_PURGE = delete(_T).where(_T.c.expires_at <= bindparam("now"))


@dataclass(frozen=True)
class Stored:
    """The answer recorded for a key: replayed to an identical request."""

    request_hash: bytes
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Claimed:
    """This request holds the key; its answer is in the row, committed with the transaction."""


@dataclass(frozen=True)
class InFlight:
    """Another request holds the key and has not finished."""


ClaimResult = Claimed | Stored | InFlight


class IdempotencyRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def claim(
        self,
        source_id: str,
        key: str,
        request_hash: bytes,
        *,
        now: datetime,
        expires_at: datetime,
        webhook_timestamp: int | None,
        status: int,
        body: dict[str, Any],
    ) -> ClaimResult:
        """Write the answer for ``key`` unless one is stored; return what holds the key."""
        params = {
            "source_id": source_id,
            "key": key,
            "request_hash": request_hash,
            "now": now,
            "expires_at": expires_at,
            "webhook_timestamp": webhook_timestamp,
            "response_status": status,
            "response_body": body,
        }
        for _ in range(2):  # a purge may delete the row between the insert and the select
            if await self.conn.scalar(_INSERT, params):
                return Claimed()
            row = (await self.conn.execute(_SELECT, params)).first()
            if row is None:
                continue
            if row.expires_at <= now or (row.state == "pending" and row.locked_until <= now):
                if await self.conn.scalar(_RECLAIM, params):
                    return Claimed()
                return InFlight()
            if row.state != "done":
                return InFlight()
            assert row.response_status is not None and row.response_body is not None
            return Stored(row.request_hash, row.response_status, row.response_body)
        return InFlight()

    async def purge_expired(self, now: datetime) -> int:
        result = await self.conn.execute(_PURGE, {"now": now})
        return int(getattr(result, "rowcount", 0) or 0)

"""The audit trail of admin changes: who (the token's name), when, what, on which subject.

Each service keeps its own ``audit_event`` table in its own schema (``AuditEventMixin``) and
writes a row in the transaction of the change it records (:func:`record`; each service binds
its model in ``services/<service>/audit.py`` as ``record_audit``). ``shared/audit_api.py``
serves ``GET /v1/admin/audit`` over a service's table.

What goes into ``changes``: for configuration (reps, teams, rules) the before/after of the
fields that changed (:func:`diff`); for anything about a lead only ids and non-personal fields,
never an email, phone or name, so that erasing a person never has to rewrite the trail.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Select, String, func, insert, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from shared.auth import Principal

MAX_LIMIT = 500
DEFAULT_LIMIT = 100


class AuditEventMixin:
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(200), index=True)
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB)
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)


# --- pure --------------------------------------------------------------------------------


REDACTED = {"changed": True}


def diff(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    *,
    redact: frozenset[str] = frozenset(),
) -> dict[str, dict[str, Any]]:
    """The fields that differ, each ``{"before": x, "after": y}`` (a field absent on one side
    is None there). A field in ``redact`` (personal data: a name, an email) says only that it
    changed."""
    old, new = dict(before or {}), dict(after or {})
    out: dict[str, dict[str, Any]] = {}
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        out[key] = dict(REDACTED) if key in redact else {"before": a, "after": b}
    return out


@dataclass(frozen=True)
class AuditQuery:
    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    action: str | None = None
    subject_id: str | None = None
    limit: int = DEFAULT_LIMIT
    before_id: int | None = None  # from the cursor: events older than this one


def encode_cursor(event_id: int) -> str:
    return base64.urlsafe_b64encode(f"audit:{event_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The event id a cursor stands for; ValueError for anything not made by encode_cursor."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise ValueError("not a cursor of this list") from None
    kind, _, number = text.partition(":")
    if kind != "audit" or not number.isdigit():
        raise ValueError("not a cursor of this list")
    return int(number)


def event_out(event: AuditEventMixin) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "actor": event.actor,
        "action": event.action,
        "subject": {"type": event.subject_type, "id": event.subject_id},
        "changes": event.changes,
        "request_id": event.request_id,
    }


# --- I/O ---------------------------------------------------------------------------------


async def record(
    session: AsyncSession,
    model: type[AuditEventMixin],
    actor: Principal | str,
    action: str,
    subject_type: str,
    subject_id: object,
    changes: Mapping[str, Any] | None = None,
    *,
    at: datetime | None = None,
) -> None:
    """Add one event to the caller's transaction (committed, or rolled back, with the change).
    ``actor`` is the request's principal, or a name for what the service does by itself."""
    principal = actor if isinstance(actor, Principal) else None
    await session.execute(
        insert(model).values(
            at=at if at is not None else func.now(),
            actor=principal.name if principal else str(actor),
            action=action,
            subject_type=subject_type,
            subject_id=str(subject_id),
            changes=dict(changes or {}),
            request_id=principal.request_id if principal else None,
        )
    )


def _select(model: type[AuditEventMixin], q: AuditQuery) -> Select[Any]:
    stmt = select(model)
    if q.since is not None:
        stmt = stmt.where(model.at >= q.since)
    if q.until is not None:
        stmt = stmt.where(model.at < q.until)
    if q.actor is not None:
        stmt = stmt.where(model.actor == q.actor)
    if q.action is not None:
        stmt = stmt.where(model.action == q.action)
    if q.subject_id is not None:
        stmt = stmt.where(model.subject_id == q.subject_id)
    if q.before_id is not None:
        stmt = stmt.where(model.id < q.before_id)
    return stmt.order_by(model.id.desc()).limit(q.limit + 1)


async def events(
    session: AsyncSession, model: type[AuditEventMixin], q: AuditQuery
) -> tuple[Sequence[AuditEventMixin], str | None]:
    """Newest first; the cursor of the next page when there is one."""
    rows = list((await session.scalars(_select(model, q))).all())
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    return rows, (encode_cursor(rows[-1].id) if more and rows else None)


async def latest(
    session: AsyncSession, model: type[AuditEventMixin], action: str, subject_id: str
) -> AuditEventMixin | None:
    stmt = (
        select(model)
        .where(model.action == action, model.subject_id == subject_id)
        .order_by(model.id.desc())
        .limit(1)
    )
    return (await session.scalars(stmt)).first()

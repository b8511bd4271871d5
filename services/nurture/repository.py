"""Every query of the nurture schema. Writers lock the lead row first (the scheduler skips
locked leads instead of waiting), so changes to one lead's enrollments and steps are
serialized without deadlocks."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.nurture.domain import state as values
from services.nurture.domain.consent import ConsentRecord, ConsentSource, ConsentState
from services.nurture.models import (
    Consent,
    Enrollment,
    LeadAlias,
    NurtureLead,
    Outbox,
    PendingActivity,
    ProcessedEvent,
    ScheduledStep,
)
from shared.db import lock_keys

OPEN = ("active", "paused")


class NurtureRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- leads ---

    async def lead(self, lead_id: uuid.UUID, *, lock: bool = False) -> NurtureLead | None:
        stmt = select(NurtureLead).where(NurtureLead.id == lead_id)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def resolve(self, ref: uuid.UUID) -> uuid.UUID | None:
        """A canonical lead id, or a submission id that merged into one."""
        found = await self.session.scalar(select(NurtureLead.id).where(NurtureLead.id == ref))
        if found is not None:
            return found
        return await self.session.scalar(select(LeadAlias.lead_id).where(LeadAlias.ref_id == ref))

    def add_lead(self, lead: NurtureLead) -> None:
        self.session.add(lead)

    async def add_alias(self, ref: uuid.UUID, lead_id: uuid.UUID) -> None:
        if ref == lead_id:
            return
        await self.session.execute(
            insert(LeadAlias).values(ref_id=ref, lead_id=lead_id).on_conflict_do_nothing()
        )

    async def lock_leads_skip_locked(
        self, ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, NurtureLead]:
        """Lock these leads in id order, skipping any another transaction holds."""
        stmt = (
            select(NurtureLead)
            .where(NurtureLead.id.in_(sorted(set(ids))))
            .order_by(NurtureLead.id)
            .with_for_update(skip_locked=True)
        )
        return {lead.id: lead for lead in (await self.session.execute(stmt)).scalars()}

    # --- enrollments ---

    async def enrollments(self, lead_id: uuid.UUID) -> list[Enrollment]:
        stmt = (
            select(Enrollment)
            .where(Enrollment.lead_id == lead_id)
            .order_by(Enrollment.enrolled_at, Enrollment.id)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def enrollments_by_id(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Enrollment]:
        stmt = select(Enrollment).where(Enrollment.id.in_(list(set(ids))))
        return {e.id: e for e in (await self.session.execute(stmt)).scalars()}

    async def add_enrollment(self, values: dict[str, Any]) -> Enrollment | None:
        """Insert unless the same cause enrolled before or the sequence is already open."""
        return await self.session.scalar(
            insert(Enrollment).values(**values).on_conflict_do_nothing().returning(Enrollment)
        )

    async def has_open_enrollments(self, lead_id: uuid.UUID) -> bool:
        found = await self.session.scalar(
            select(Enrollment.id)
            .where(Enrollment.lead_id == lead_id, Enrollment.status.in_(OPEN))
            .limit(1)
        )
        return found is not None

    # --- scheduled steps (the durable timers) ---

    async def schedule(
        self,
        enrollment_id: uuid.UUID,
        lead_id: uuid.UUID,
        step: int,
        due_at: datetime,
        *,
        channel: str,
        state: str = "pending",
    ) -> None:
        await self.session.execute(
            insert(ScheduledStep)
            .values(enrollment_id=enrollment_id, lead_id=lead_id, step=step, channel=channel,
                    state=state, due_at=due_at, planned_at=due_at)
            .on_conflict_do_nothing()
        )  # fmt: skip

    async def schedule_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """Several next steps in one statement (keys as :meth:`schedule`'s arguments)."""
        if not rows:
            return
        values = [{**r, "state": "pending", "planned_at": r["due_at"]} for r in rows]
        await self.session.execute(insert(ScheduledStep).values(values).on_conflict_do_nothing())

    async def set_step_state(
        self,
        enrollment_ids: Sequence[uuid.UUID],
        from_states: Sequence[str],
        to_state: str,
        *,
        note: str | None = None,
    ) -> int:
        result = await self.session.execute(
            update(ScheduledStep)
            .where(ScheduledStep.enrollment_id.in_(list(enrollment_ids)), ScheduledStep.state.in_(list(from_states)))
            .values(state=to_state, note=note)
        )  # fmt: skip
        return result.rowcount or 0  # type: ignore[attr-defined]

    async def resume_steps(self, enrollment_ids: Sequence[uuid.UUID], due_at: datetime) -> int:
        """Paused steps become due again, at the earliest ``due_at`` (the next window applies
        when they fire)."""
        result = await self.session.execute(
            update(ScheduledStep)
            .where(ScheduledStep.enrollment_id.in_(list(enrollment_ids)), ScheduledStep.state == "paused")
            .values(state="pending", due_at=func.greatest(ScheduledStep.due_at, due_at), note=None)
        )  # fmt: skip
        return result.rowcount or 0  # type: ignore[attr-defined]

    async def claim_due(self, now: datetime, limit: int) -> list[ScheduledStep]:
        """Due steps no other scheduler holds, oldest first, locked until commit."""
        stmt = (
            select(ScheduledStep)
            .where(ScheduledStep.state == "pending", ScheduledStep.due_at <= now)
            .order_by(ScheduledStep.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def sent_since(
        self, lead_ids: Iterable[uuid.UUID], since: datetime
    ) -> dict[uuid.UUID, list[datetime]]:
        stmt = select(ScheduledStep.lead_id, ScheduledStep.emitted_at).where(
            ScheduledStep.lead_id.in_(list(set(lead_ids))),
            ScheduledStep.state == "emitted",
            ScheduledStep.emitted_at > since,
        )
        out: dict[uuid.UUID, list[datetime]] = defaultdict(list)
        for lead_id, at in (await self.session.execute(stmt)).all():
            out[lead_id].append(at)
        return out

    async def consents_of(
        self, lead_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, list[ConsentRecord]]:
        """Each lead's consent history, oldest first (the latest per channel is its consent)."""
        ids = list(set(lead_ids))
        out: dict[uuid.UUID, list[ConsentRecord]] = defaultdict(list)
        if not ids:
            return out
        stmt = (
            select(Consent)
            .where(Consent.lead_id.in_(ids))
            .order_by(Consent.recorded_at, Consent.id)
        )
        for c in (await self.session.execute(stmt)).scalars():
            out[c.lead_id].append(
                ConsentRecord(
                    channel="sms" if c.channel == "sms" else "email",
                    state=ConsentState(c.state), source=ConsentSource(c.source),
                    recorded_at=c.recorded_at, event_id=c.event_id,
                )
            )  # fmt: skip
        return out

    async def add_consents(self, records: Sequence[tuple[uuid.UUID, ConsentRecord]]) -> None:
        """Consent records (an event that recorded one before adds nothing)."""
        await INSERT_CONSENTS.run(
            self.session,
            [{"lead_id": lead_id, "channel": r.channel, "state": str(r.state),
              "source": str(r.source), "recorded_at": r.recorded_at, "event_id": r.event_id}
             for lead_id, r in records],
        )  # fmt: skip

    async def steps_of_lead(self, lead_id: uuid.UUID) -> list[ScheduledStep]:
        stmt = (
            select(ScheduledStep)
            .where(ScheduledStep.lead_id == lead_id)
            .order_by(ScheduledStep.due_at, ScheduledStep.id)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def timer_counts(self, now: datetime) -> tuple[int, int]:
        """Pending steps, and how many of them are overdue (one index scan)."""
        row = (
            await self.session.execute(
                select(
                    func.count(),
                    func.count().filter(ScheduledStep.due_at <= now),
                ).where(ScheduledStep.state == "pending")
            )
        ).one()
        return int(row[0]), int(row[1])

    # --- sweeps ---

    async def remarket_candidates(self, cutoff: datetime, limit: int) -> list[NurtureLead]:
        stmt = (
            select(NurtureLead)
            .where(
                NurtureLead.list_name == "active",
                NurtureLead.suppressed.is_(None),
                NurtureLead.converted_at.is_(None),
                NurtureLead.with_sales.is_(False),  # sales owns it now
                NurtureLead.nurture_since <= cutoff,
            )
            .order_by(NurtureLead.nurture_since)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def idle_candidates(
        self, cutoff: datetime, limit: int, *, reengaged: bool
    ) -> list[NurtureLead]:
        """Leads idle since ``cutoff`` or longer: before re-engagement, or after it."""
        stmt = (
            select(NurtureLead)
            .where(
                NurtureLead.reengaged_at.is_not(None)
                if reengaged
                else NurtureLead.reengaged_at.is_(None),
                NurtureLead.idle_since.is_not(None),
                NurtureLead.idle_since <= cutoff,
                NurtureLead.list_name != "sunset",
                NurtureLead.suppressed.is_(None),
                NurtureLead.converted_at.is_(None),
                NurtureLead.with_sales.is_(False),  # sales owns it now
            )
            .order_by(NurtureLead.idle_since)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(stmt)).scalars())


def _columns(model: Any, value_type: type) -> list[Any]:
    """The model's attributes named as the value's fields (``Lead.list_name`` is ``list``)."""
    return [getattr(model, name).label(name) for name in value_type.__dataclass_fields__]


LEAD_COLUMNS = _columns(NurtureLead, values.Lead)
ENROLLMENT_COLUMNS = _columns(Enrollment, values.Enrollment)
STEP_COLUMNS = _columns(ScheduledStep, values.Step)


class BatchRepository(NurtureRepository):
    """The queries of a batch of decisions and activities: one statement per kind of thing,
    rows as the domain's values (``services.nurture.domain.state``)."""

    async def mark_processed_many(self, event_ids: Sequence[str], now: datetime) -> set[str]:
        """Record event ids; returns those not processed before."""
        rows = await INSERT_PROCESSED.run(
            self.session,
            [{"event_id": e, "processed_at": now} for e in dict.fromkeys(event_ids)],
        )
        return {r[0] for r in rows}

    async def lock_keys(self, keys: Sequence[str]) -> None:
        """Advisory locks on many keys in one statement (see :func:`shared.db.lock_keys`)."""
        await lock_keys(self.session, *keys)

    async def aliases_of(self, refs: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        refs = list(set(refs))
        if not refs:
            return {}
        rows = await self.session.execute(
            select(LeadAlias.ref_id, LeadAlias.lead_id).where(LeadAlias.ref_id.in_(refs))
        )
        return {r[0]: r[1] for r in rows}

    async def lock_lead_values(self, ids: Iterable[uuid.UUID]) -> list[values.Lead]:
        """The leads that exist among ``ids``, locked in id order (as every writer locks)."""
        ids = sorted(set(ids))
        if not ids:
            return []
        rows = await self.session.execute(
            select(*LEAD_COLUMNS)
            .where(NurtureLead.id.in_(ids))
            .order_by(NurtureLead.id)
            .with_for_update(of=NurtureLead)
        )
        return [values.Lead(**r._mapping) for r in rows]

    async def enrollment_values(self, lead_ids: Sequence[uuid.UUID]) -> list[values.Enrollment]:
        if not lead_ids:
            return []
        rows = await self.session.execute(
            select(*ENROLLMENT_COLUMNS)
            .where(Enrollment.lead_id.in_(list(lead_ids)))
            .order_by(Enrollment.enrolled_at, Enrollment.id)
        )
        return [values.Enrollment(**r._mapping) for r in rows]

    async def open_step_values(self, lead_ids: Sequence[uuid.UUID]) -> list[values.Step]:
        """Pending and paused steps of these leads (no transition touches the others)."""
        if not lead_ids:
            return []
        rows = await self.session.execute(
            select(*STEP_COLUMNS).where(
                ScheduledStep.lead_id.in_(list(lead_ids)),
                ScheduledStep.state.in_(list(values.OPEN_STEPS)),
            )
        )
        return [values.Step(**r._mapping) for r in rows]

    async def parked_rows(self, refs: Iterable[uuid.UUID]) -> list[Any]:
        """Events parked under these refs, in the order they were parked: rows with
        ``event_id``, ``lead_ref``, ``event_type``, ``activity`` (the event's data) and
        ``parked_at``."""
        refs = list(set(refs))
        if not refs:
            return []
        rows = await self.session.execute(
            select(
                PendingActivity.event_id,
                PendingActivity.lead_ref,
                PendingActivity.event_type,
                PendingActivity.activity,
                PendingActivity.parked_at,
            )
            .where(PendingActivity.lead_ref.in_(refs))
            .order_by(PendingActivity.parked_at, PendingActivity.seq)
        )
        return list(rows)

    # --- writes: one statement each for the whole batch, rows passed as one array per
    # column (INSERT ... SELECT FROM unnest(...)): constant SQL, prepared once per connection,
    # and the arrays are encoded by the driver, not row by row in Python ---

    async def insert_leads(self, leads: Sequence[values.Lead]) -> None:
        await INSERT_LEADS.run(self.session, [_lead_row(lead) for lead in leads])

    async def update_leads(self, leads: Sequence[values.Lead]) -> None:
        """Every column of each lead, by primary key."""
        await UPDATE_LEADS.run(self.session, [_lead_row(lead) for lead in leads])

    async def add_aliases(self, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> None:
        await INSERT_ALIASES.run(
            self.session, [{"ref_id": ref, "lead_id": lead_id} for ref, lead_id in pairs]
        )

    async def insert_enrollments(self, enrollments: Sequence[values.Enrollment]) -> int:
        """Returns how many were inserted (the others' cause, or open sequence, existed)."""
        rows = await INSERT_ENROLLMENTS.run(self.session, [vars(e) for e in enrollments])
        return len(rows)

    async def update_enrollments(self, enrollments: Sequence[values.Enrollment]) -> None:
        """What transitions change (status, who paused it, reason, end), by primary key."""
        await UPDATE_ENROLLMENTS.run(self.session, [vars(e) for e in enrollments])

    async def insert_steps(self, steps: Sequence[values.Step]) -> None:
        await INSERT_STEPS.run(self.session, [vars(s) for s in steps])

    async def update_steps(self, steps: Sequence[values.Step]) -> None:
        """State, due time and note of stored steps, by primary key."""
        await UPDATE_STEPS.run(self.session, [vars(s) for s in steps])

    async def park_many(self, rows: Sequence[dict[str, Any]]) -> None:
        await INSERT_PARKED.run(self.session, rows)

    async def unpark(self, event_ids: Sequence[str]) -> None:
        if event_ids:
            await self.session.execute(
                delete(PendingActivity).where(PendingActivity.event_id.in_(list(event_ids)))
            )

    async def insert_outbox(self, rows: Sequence[dict[str, Any]]) -> None:
        await INSERT_OUTBOX.run(self.session, rows)


PG = postgresql.dialect()
ARRAY_TYPES = {"UUID": "uuid", "BOOLEAN": "bool", "INTEGER": "int4", "BIGINT": "int8",
               "BYTEA": "bytea", "TIMESTAMP WITH TIME ZONE": "timestamptz"}  # fmt: skip


class Bulk:
    """One multi-row statement over a table's columns: ``INSERT ... SELECT FROM unnest`` or
    ``UPDATE ... FROM unnest ... WHERE key``. JSONB columns travel as text and are cast."""

    def __init__(
        self, table: Any, columns: Sequence[str], *, update_by: str | None = None,
        suffix: str = "",
    ) -> None:  # fmt: skip
        self.columns = list(columns)
        self.returns = "RETURNING" in suffix
        cols = [table.c[name] for name in self.columns]
        json = {c.name for c in cols if c.type.compile(dialect=PG) == "JSONB"}
        arrays = ", ".join(f"CAST(:p_{c.name} AS {self._array_type(c)}[])" for c in cols)
        names = ", ".join(f'"{c.name}"' for c in cols)
        source = f"unnest({arrays}) AS v({names})"

        def val(name: str) -> str:
            return f'CAST(v."{name}" AS jsonb)' if name in json else f'v."{name}"'

        if update_by is None:
            picked = ", ".join(val(n) for n in self.columns)
            sql = f"INSERT INTO {table.fullname} ({names}) SELECT {picked} FROM {source} {suffix}"
        else:
            sets = ", ".join(f'"{n}" = {val(n)}' for n in self.columns if n != update_by)
            sql = (
                f"UPDATE {table.fullname} AS t SET {sets} FROM {source} "
                f'WHERE t."{update_by}" = v."{update_by}" {suffix}'
            )
        self.statement = text(sql)
        self.json = json

    @staticmethod
    def _array_type(column: Any) -> str:
        name = column.type.compile(dialect=PG)
        return ARRAY_TYPES.get(name, "text")  # VARCHAR(n), JSONB (as text)

    async def run(self, session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        if not rows:
            return []
        params = {f"p_{name}": [row[name] for row in rows] for name in self.columns}
        for name in self.json:
            params[f"p_{name}"] = [
                v if v is None or isinstance(v, str) else orjson.dumps(v).decode()
                for v in params[f"p_{name}"]
            ]
        result = await session.execute(self.statement, params)
        return list(result.all()) if self.returns else []


def _lead_row(lead: values.Lead) -> dict[str, Any]:
    """A lead value as column values (the attribute ``list_name`` is the column ``list``)."""
    row = dict(vars(lead))
    row["list"] = row.pop("list_name")
    return row


LEAD = NurtureLead.__table__
LEAD_COLUMNS_ALL = [c.name for c in LEAD.columns]
STEP_COLUMNS_NEW = ["enrollment_id", "lead_id", "step", "channel", "state", "due_at",
                    "planned_at", "note"]  # fmt: skip
INSERT_LEADS = Bulk(LEAD, LEAD_COLUMNS_ALL)
UPDATE_LEADS = Bulk(LEAD, LEAD_COLUMNS_ALL, update_by="id")
INSERT_ALIASES = Bulk(LeadAlias.__table__, ["ref_id", "lead_id"], suffix="ON CONFLICT DO NOTHING")
INSERT_ENROLLMENTS = Bulk(
    Enrollment.__table__, [c.name for c in Enrollment.__table__.columns],
    suffix="ON CONFLICT DO NOTHING RETURNING id",
)  # fmt: skip
UPDATE_ENROLLMENTS = Bulk(
    Enrollment.__table__, ["id", "status", "paused_by", "reason", "ended_at"], update_by="id"
)
INSERT_STEPS = Bulk(ScheduledStep.__table__, STEP_COLUMNS_NEW, suffix="ON CONFLICT DO NOTHING")
UPDATE_STEPS = Bulk(ScheduledStep.__table__, ["id", "state", "due_at", "note"], update_by="id")
INSERT_PARKED = Bulk(
    PendingActivity.__table__, ["event_id", "lead_ref", "event_type", "activity", "parked_at"],
    suffix="ON CONFLICT DO NOTHING",
)  # fmt: skip
INSERT_CONSENTS = Bulk(
    Consent.__table__, ["lead_id", "channel", "state", "source", "recorded_at", "event_id"],
    suffix="ON CONFLICT DO NOTHING",
)  # fmt: skip
INSERT_OUTBOX = Bulk(Outbox.__table__, ["topic", "key", "event", "created_at"])
INSERT_PROCESSED = Bulk(
    ProcessedEvent.__table__, ["event_id", "processed_at"],
    suffix="ON CONFLICT DO NOTHING RETURNING event_id",
)  # fmt: skip

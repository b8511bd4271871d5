"""The only place that queries the import tables (jobs, their stored chunks, row results)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.jobs import CLAIMABLE, JobStatus
from services.ingest.imports.batch import RowResult
from services.ingest.models import ImportChunk, ImportJob, ImportRow


@dataclass(frozen=True)
class StoredChunk:
    rows: str
    status: JobStatus


class ImportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- upload ---------------------------------------------------------------------------

    async def get(self, import_id: uuid.UUID) -> ImportJob | None:
        return await self.session.get(ImportJob, import_id, populate_existing=True)

    async def create(self, values: dict[str, Any]) -> bool:
        """Insert the job; False when a job with its id exists (an identical upload)."""
        created = await self.session.scalar(
            insert(ImportJob).values(**values).on_conflict_do_nothing().returning(ImportJob.id)
        )
        return created is not None

    async def add_chunks(
        self, import_id: uuid.UUID, chunks: Sequence[tuple[int, int, str]]
    ) -> None:
        await self.session.execute(
            insert(ImportChunk),
            [
                {"import_id": import_id, "seq": seq, "row_count": count, "rows": rows}
                for seq, count, rows in chunks
            ],
        )

    async def finish_upload(
        self,
        import_id: uuid.UUID,
        *,
        total_rows: int,
        chunk_count: int,
        status: JobStatus,
        now: datetime,
    ) -> None:
        await self.session.execute(
            update(ImportJob)
            .where(ImportJob.id == import_id)
            .values(
                total_rows=total_rows,
                chunk_count=chunk_count,
                status=status,
                finished_at=now if status == JobStatus.done else None,
                updated_at=now,
            )
        )

    async def requeue(self, import_id: uuid.UUID, now: datetime) -> bool:
        """A cancelled or failed job goes back to the queue, to go on where it stopped."""
        result = await self.session.execute(
            update(ImportJob)
            .where(
                ImportJob.id == import_id,
                ImportJob.status.in_([JobStatus.cancelled, JobStatus.failed]),
            )
            .values(
                status=JobStatus.queued,
                error=None,
                finished_at=None,
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
            )
            .returning(ImportJob.id)
        )
        return result.first() is not None

    async def cancel(self, import_id: uuid.UUID, now: datetime) -> bool:
        """Queued or running -> cancelled; the worker stops after the batch in flight."""
        result = await self.session.execute(
            update(ImportJob)
            .where(ImportJob.id == import_id, ImportJob.status.in_(CLAIMABLE))
            .values(status=JobStatus.cancelled, finished_at=now, updated_at=now)
            .returning(ImportJob.id)
        )
        return result.first() is not None

    # -- reading results ------------------------------------------------------------------

    async def rows(
        self, import_id: uuid.UUID, *, status: str | None, after: int, limit: int
    ) -> list[ImportRow]:
        query = (
            select(ImportRow)
            .where(ImportRow.import_id == import_id, ImportRow.row_number > after)
            .order_by(ImportRow.row_number)
            .limit(limit)
        )
        if status:
            query = query.where(ImportRow.status == status)
        return list((await self.session.scalars(query)).all())

    # -- the worker -----------------------------------------------------------------------

    async def claim(
        self, *, owner: str, topic_prefix: str, lease: timedelta, now: datetime
    ) -> tuple[ImportJob, JobStatus] | None:
        """The oldest job no live worker holds (queued, or running with a lapsed lease, or
        held by ``owner`` itself), locked so that concurrent claimers skip it. Returns it
        with the status it had (running: taken over from a dead worker)."""
        job = await self.session.scalar(
            select(ImportJob)
            .where(
                ImportJob.status.in_(CLAIMABLE),
                ImportJob.topic_prefix == topic_prefix,
                or_(
                    ImportJob.lease_expires_at.is_(None),
                    ImportJob.lease_expires_at < func.now(),
                    ImportJob.lease_owner == owner,
                ),
            )
            .order_by(ImportJob.created_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if job is None:
            return None
        before = job.status
        job.status = JobStatus.running
        job.lease_owner = owner
        job.lease_expires_at = await self.session.scalar(select(func.now() + lease))
        job.started_at = job.started_at or now
        job.updated_at = now
        await self.session.flush()
        return job, before

    async def chunk(self, import_id: uuid.UUID, seq: int) -> StoredChunk | None:
        """A stored chunk with its job's status now (a cancel shows here before the batch)."""
        row = (
            await self.session.execute(
                select(ImportChunk.rows, ImportJob.status)
                .join(ImportJob, ImportJob.id == ImportChunk.import_id)
                .where(ImportChunk.import_id == import_id, ImportChunk.seq == seq)
            )
        ).first()
        return None if row is None else StoredChunk(rows=row[0], status=row[1])

    async def lock(self, import_id: uuid.UUID) -> ImportJob | None:
        return await self.session.scalar(
            select(ImportJob)
            .where(ImportJob.id == import_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def add_rows(self, import_id: uuid.UUID, rows: Sequence[RowResult]) -> None:
        if not rows:
            return
        await self.session.execute(
            insert(ImportRow).on_conflict_do_nothing(),
            [
                {
                    "import_id": import_id,
                    "row_number": r.row_number,
                    "status": r.status,
                    "lead_id": r.submission_id,
                    "event_id": r.event_id,
                    "errors": r.errors,
                    "note": None,
                }
                for r in rows
            ],
        )

    async def advance(
        self,
        import_id: uuid.UUID,
        *,
        next_chunk: int,
        accepted: int,
        rejected: int,
        status: JobStatus,
        lease: timedelta,
        now: datetime,
    ) -> None:
        """Record one batch's progress; a finished job lets go of its lease."""
        holding = status == JobStatus.running
        await self.session.execute(
            update(ImportJob)
            .where(ImportJob.id == import_id)
            .values(
                next_chunk=next_chunk,
                accepted_rows=ImportJob.accepted_rows + accepted,
                rejected_rows=ImportJob.rejected_rows + rejected,
                status=status,
                finished_at=now if status == JobStatus.done else ImportJob.finished_at,
                lease_owner=ImportJob.lease_owner if holding else None,
                lease_expires_at=func.now() + lease if holding else None,
                updated_at=now,
            )
        )

    async def delete_chunks(self, import_id: uuid.UUID) -> None:
        await self.session.execute(delete(ImportChunk).where(ImportChunk.import_id == import_id))

    async def renew(self, import_id: uuid.UUID, owner: str, lease: timedelta) -> bool:
        """Extend the lease while ``owner`` still holds a running job."""
        result = await self.session.execute(
            update(ImportJob)
            .where(
                ImportJob.id == import_id,
                ImportJob.lease_owner == owner,
                ImportJob.status == JobStatus.running,
            )
            .values(lease_expires_at=func.now() + lease)
            .returning(ImportJob.id)
        )
        return result.first() is not None

    async def fail(self, import_id: uuid.UUID, owner: str, error: str, now: datetime) -> bool:
        result = await self.session.execute(
            update(ImportJob)
            .where(
                ImportJob.id == import_id,
                ImportJob.lease_owner == owner,
                ImportJob.status == JobStatus.running,
            )
            .values(
                status=JobStatus.failed,
                error=error,
                finished_at=now,
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
            )
            .returning(ImportJob.id)
        )
        return result.first() is not None

    async def release(self, owner: str) -> int:
        """Let go of every job ``owner`` holds (shutdown): another worker takes them at once."""
        result = await self.session.execute(
            update(ImportJob)
            .where(ImportJob.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
        )
        return int(getattr(result, "rowcount", 0) or 0)

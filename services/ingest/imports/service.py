"""Import jobs: store an uploaded file as a queued job, show a job, cancel one.

The job id derives from the target (list or show) and the file's hash, so a re-upload
finds the first job. The file is read twice as a stream (fingerprint, then rows) and
stored in chunks in the same transaction that creates the job, so a job a worker can see
always has its whole file."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from services.ingest import metrics
from services.ingest.audit import record_audit
from services.ingest.context import IngestContext
from services.ingest.domain import badge_scans, import_files
from services.ingest.domain.ids import list_import_id, trade_show_import_id
from services.ingest.domain.jobs import ImportKind, JobStatus, can_cancel, resumes_on_reupload
from services.ingest.imports.batch import Show
from services.ingest.imports.repository import ImportRepository
from services.ingest.imports.schemas import (
    ImportJobOut,
    ImportJobWithRows,
    ListRef,
    RowOut,
    ShowOut,
)
from services.ingest.leads.schemas import LEAD_FIELDS
from services.ingest.leads.service import lane
from services.ingest.models import ImportJob, ImportRow
from shared.auth import Principal
from shared.http import ApiError
from shared.logging import get_logger

log = get_logger(__name__)

# chunks parsed and stored per round trip to the parsing thread
CHUNKS_PER_STEP = 20


@dataclass(frozen=True)
class Target:
    """What a file is imported into: a purchased list or a trade show."""

    kind: ImportKind
    list_id: str | None = None
    show: Show | None = None

    @property
    def channel(self) -> str:
        return "purchased_list" if self.kind == ImportKind.list else "trade_show"


def _invalid_file(exc: badge_scans.FileInvalid) -> ApiError:
    return ApiError(
        422,
        "invalid_file",
        str(exc),
        errors=[{"field": "file", "message": str(exc), "type": "file"}],
    )


def _scan(stream: IO[bytes]) -> import_files.FileFacts:
    stream.seek(0)
    return import_files.scan(stream)


def _open(stream: IO[bytes], encoding: str) -> import_files.Rows:
    stream.seek(0)
    return import_files.open_rows(stream, encoding)


def _next_chunks(chunks: Iterator[import_files.Chunk]) -> list[tuple[int, int, str]]:
    return [
        (c.seq, len(c.rows), import_files.encode_rows(c.rows))
        for c in itertools.islice(chunks, CHUNKS_PER_STEP)
    ]


def _import_id(target: Target, sha256: str, overrides: dict[str, str] | None) -> uuid.UUID:
    if target.kind == ImportKind.list:
        assert target.list_id is not None
        return list_import_id(list_id=target.list_id, file_sha256=sha256, overrides=overrides)
    show = target.show
    assert show is not None
    return trade_show_import_id(
        show_id=show.show_id,
        name=show.name,
        end_date=show.end_date,
        timezone=show.timezone,
        file_sha256=sha256,
        overrides=overrides,
    )


async def create_job(
    ctx: IngestContext,
    target: Target,
    upload: IO[bytes],
    file_name: str | None,
    overrides: dict[str, str] | None,
    actor: Principal,
) -> tuple[ImportJob, bool]:
    """Store the file as a queued job (and its ``import.started`` audit event). Returns (the
    job, whether it is an earlier one)."""
    try:
        facts = await asyncio.to_thread(_scan, upload)
    except badge_scans.FileInvalid as exc:
        raise _invalid_file(exc) from None
    import_id = _import_id(target, facts.sha256, overrides)
    existing = await _existing(ctx, import_id, actor)
    if existing is not None:
        return existing, True
    try:
        parsed = await asyncio.to_thread(_open, upload, facts.encoding)
        plan = badge_scans.plan_columns(parsed.headers, overrides, LEAD_FIELDS)
    except badge_scans.FileInvalid as exc:
        raise _invalid_file(exc) from None

    settings = ctx.settings
    chunks = import_files.chunked(
        parsed.rows, parsed.headers, plan, settings.ingest_import_batch_rows
    )
    now = ctx.clock()
    show = target.show
    async with ctx.sessions.begin() as session:
        repo = ImportRepository(session)
        created = await repo.create(
            {
                "id": import_id,
                "kind": target.kind,
                "status": JobStatus.queued,
                "topic_prefix": settings.topic_prefix,
                "list_id": target.list_id,
                "show_id": show.show_id if show else None,
                "show_name": show.name if show else None,
                "end_date": show.end_date if show else None,
                "timezone": show.timezone if show else None,
                "file_name": (file_name or "")[:300] or None,
                "file_sha256": facts.sha256,
                "file_bytes": facts.size,
                "fields": list(plan.mapping.values()),
                "column_mapping": plan.mapping,
                "ignored_columns": plan.ignored,
                "total_rows": None,
                "accepted_rows": 0,
                "rejected_rows": 0,
                "chunk_count": 0,
                "next_chunk": 0,
                "created_at": now,
                "updated_at": now,
            }
        )
        if created:
            total, count = 0, 0
            while True:
                try:
                    step = await asyncio.to_thread(_next_chunks, chunks)
                except badge_scans.FileInvalid as exc:
                    raise _invalid_file(exc) from None
                if not step:
                    break
                total += sum(rows for _, rows, _ in step)
                count += len(step)
                if total > settings.ingest_import_max_rows:
                    raise ApiError(
                        413,
                        "too_many_rows",
                        f"the file has more than {settings.ingest_import_max_rows} rows",
                        errors=[
                            {
                                "field": "file",
                                "message": f"at most {settings.ingest_import_max_rows} rows per import",
                                "type": "too_many_rows",
                            }
                        ],
                    )
                await repo.add_chunks(import_id, step)
            status = JobStatus.queued if count else JobStatus.done
            await repo.finish_upload(
                import_id, total_rows=total, chunk_count=count, status=status, now=now
            )
            await record_audit(
                session, actor, "import.started", "import", import_id,
                {"kind": target.kind.value, "list_id": target.list_id,
                 "show_id": show.show_id if show else None, "file_sha256": facts.sha256,
                 "file_bytes": facts.size, "total_rows": total},
            )  # fmt: skip
    if not created:  # an identical upload was stored meanwhile
        raced = await _existing(ctx, import_id, actor)
        assert raced is not None
        return raced, True
    job = await _get(ctx, import_id)
    metrics.IMPORT_JOBS.labels(target.kind.value, job.status.value).inc()
    log.info(
        "ingest.import_queued",
        import_id=str(import_id),
        kind=target.kind.value,
        rows=job.total_rows,
        chunks=job.chunk_count,
    )
    ctx.import_wakeup.set()
    return job, False


async def _existing(ctx: IngestContext, import_id: uuid.UUID, actor: Principal) -> ImportJob | None:
    """The job of an earlier identical upload; a cancelled or failed one is queued again."""
    async with ctx.sessions.begin() as session:
        repo = ImportRepository(session)
        job = await repo.get(import_id)
        if job is None:
            return None
        requeued = resumes_on_reupload(job.status) and await repo.requeue(import_id, ctx.clock())
        if requeued:
            job = await repo.get(import_id)
            assert job is not None
            await record_audit(
                session, actor, "import.started", "import", import_id, {"requeued": True}
            )
    if requeued:
        metrics.IMPORT_JOBS.labels(job.kind.value, JobStatus.queued.value).inc()
        log.info("ingest.import_requeued", import_id=str(import_id))
        ctx.import_wakeup.set()
    return job


async def _get(ctx: IngestContext, import_id: uuid.UUID) -> ImportJob:
    async with ctx.sessions() as session:
        job = await ImportRepository(session).get(import_id)
    if job is None:
        raise ApiError(404, "not_found", f"no import {import_id}")
    return job


def job_out(ctx: IngestContext, job: ImportJob) -> ImportJobOut:
    return ImportJobOut(**_job_fields(ctx, job))


def _job_fields(ctx: IngestContext, job: ImportJob) -> dict[str, Any]:
    show = None
    if job.kind == ImportKind.trade_show and job.show_id:
        assert job.show_name and job.end_date and job.timezone
        show = ShowOut(
            id=job.show_id, name=job.show_name, end_date=job.end_date, timezone=job.timezone
        )
    return {
        "import_id": str(job.id),
        "kind": job.kind,
        "status": job.status,
        "list_ref": ListRef(id=job.list_id) if job.list_id else None,
        "show": show,
        "topic": job.topic_prefix + lane("purchased_list" if job.list_id else "trade_show").topic,
        "file_name": job.file_name,
        "file_sha256": job.file_sha256,
        "file_bytes": job.file_bytes,
        "total_rows": job.total_rows,
        "rows_read": job.accepted_rows + job.rejected_rows,
        "accepted": job.accepted_rows,
        "rejected": job.rejected_rows,
        "column_mapping": job.column_mapping,
        "ignored_columns": job.ignored_columns,
        "error": job.error,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


def row_out(row: ImportRow) -> RowOut:
    if row.status == "accepted":
        ref = str(row.lead_id) if row.lead_id else None
        return RowOut(
            row=row.row_number,
            status="accepted",
            submission_id=ref,
            lead_id=ref,
            event_id=row.event_id,
        )
    return RowOut(row=row.row_number, status="rejected", errors=row.errors)


async def get_job(
    ctx: IngestContext, import_id: uuid.UUID, *, status: str | None, after: int, limit: int
) -> ImportJobWithRows:
    async with ctx.sessions() as session:
        repo = ImportRepository(session)
        job = await repo.get(import_id)
        if job is None:
            raise ApiError(404, "not_found", f"no import {import_id}")
        rows = await repo.rows(import_id, status=status, after=after, limit=limit) if limit else []
    return ImportJobWithRows(
        **_job_fields(ctx, job),
        rows=[row_out(r) for r in rows],
        next_after=rows[-1].row_number if limit and len(rows) == limit else None,
    )


async def cancel_job(ctx: IngestContext, import_id: uuid.UUID, actor: Principal) -> ImportJob:
    """Stop a queued or running job; rows already published stay (and stay recorded)."""
    async with ctx.sessions.begin() as session:
        repo = ImportRepository(session)
        job = await repo.get(import_id)
        if job is None:
            raise ApiError(404, "not_found", f"no import {import_id}")
        if job.status == JobStatus.cancelled:
            return job
        before = job.status.value
        cancelled = can_cancel(job.status) and await repo.cancel(import_id, ctx.clock())
        job = await repo.get(import_id)
        assert job is not None
        if not cancelled:
            raise ApiError(
                409,
                "import_finished",
                f"import {import_id} is {job.status.value}; only a queued or running import can be cancelled",
            )
        await record_audit(
            session, actor, "import.cancelled", "import", import_id,
            {"status": {"before": before, "after": JobStatus.cancelled.value}},
        )  # fmt: skip
    metrics.IMPORT_JOBS.labels(job.kind.value, JobStatus.cancelled.value).inc()
    log.info("ingest.import_cancelled", import_id=str(import_id))
    return job

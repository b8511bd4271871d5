"""Import jobs: their kinds, their states and the moves between them. Pure."""

from __future__ import annotations

from enum import StrEnum


class ImportKind(StrEnum):
    trade_show = "trade_show"
    list = "list"


class JobStatus(StrEnum):
    queued = "queued"  # stored, waiting for a worker
    running = "running"  # a worker holds its lease (or held it and died: the lease runs out)
    done = "done"
    cancelled = "cancelled"
    failed = "failed"


# a worker may claim these (a running job only once its lease ran out)
CLAIMABLE = (JobStatus.queued, JobStatus.running)
FINISHED = frozenset({JobStatus.done, JobStatus.cancelled, JobStatus.failed})


def can_cancel(status: JobStatus) -> bool:
    return status in CLAIMABLE


def resumes_on_reupload(status: JobStatus) -> bool:
    """A re-upload of a cancelled or failed job's file queues it again: it goes on from the
    row it stopped at (rows published before keep their event ids)."""
    return status in (JobStatus.cancelled, JobStatus.failed)


def after_batch(status: JobStatus, *, last: bool) -> JobStatus:
    """The status once a batch is recorded: a cancel that came meanwhile stands."""
    if status == JobStatus.running and last:
        return JobStatus.done
    return status

"""Moving one (locked) lead to a lifecycle stage: the lead row, its stage history, metrics."""

from __future__ import annotations

from datetime import datetime

from services.router import metrics
from services.router.domain.intake import StageMove
from services.router.domain.lifecycle import Stage
from services.router.models import Lead
from services.router.repository import RouterRepository
from shared.metrics import on_commit


async def move_stage(
    repo: RouterRepository, lead: Lead, stage: Stage, *, cause: str, now: datetime
) -> StageMove | None:
    """Record ``lead`` entering ``stage`` (nothing when it is there already)."""
    if stage == lead.lifecycle_stage:
        return None
    move = StageMove(lead.id, stage, lead.lifecycle_stage, now, cause, lead.stage_entered_at)
    lead.lifecycle_stage, lead.stage_entered_at = stage, now
    await repo.record_stage_moves([move])
    labels = (move.previous_stage or "none", stage.value, lead.source_id, lead.channel)
    seconds = (now - move.left_entered_at).total_seconds() if move.left_entered_at else None

    def record() -> None:
        metrics.LIFECYCLE_TRANSITIONS.labels(*labels).inc()
        if seconds is not None and move.previous_stage is not None:
            metrics.TIME_IN_STAGE.labels(move.previous_stage).observe(seconds)

    on_commit(repo.session, record)
    return move

"""Re-scoring a lead from its merged fields and activities (shared by intake and activities),
and the lifecycle stage the score moves it to."""

from __future__ import annotations

from datetime import datetime

from services.router.context import RouterContext
from services.router.convert import activity_points, lead_profile
from services.router.domain.lifecycle import LeadStatus, Stage, scored_stage
from services.router.domain.scoring import score
from services.router.lifecycle.stages import move_stage
from services.router.models import Lead
from services.router.repository import RouterRepository


async def rescore(
    ctx: RouterContext,
    repo: RouterRepository,
    lead: Lead,
    now: datetime,
    *,
    new: bool = False,
    reopen: bool = False,
) -> None:
    """Score from the merged fields and every activity (a brand-new lead has none; a
    recycled lead counts only what happened since it was recycled), and move the lifecycle
    stage forward when the score says so (``reopen``: a recycled or disqualified lead may
    come back into the funnel)."""
    points = [] if new else activity_points(await repo.activities(lead.id))
    if lead.status == LeadStatus.recycled and lead.recycled_at is not None:
        points = [p for p in points if p.at > lead.recycled_at]
    result = score(lead_profile(lead), points, ctx.scoring.rules, now)
    lead.score = result.total
    lead.temperature = result.temperature
    lead.stage = result.stage
    lead.score_breakdown = result.to_dict()
    stage = scored_stage(
        Stage(lead.lifecycle_stage), result.stage, is_name=lead.is_name, reopen=reopen
    )
    await move_stage(repo, lead, stage, cause="score", now=now)

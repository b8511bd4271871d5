"""Rows to score offline: one lead's fields and activities, when to score it, and its outcome.

Datasets (a CSV export, the router's own history) become ``ScoringRow`` values, so that
evaluating, fitting and scoring offline all go through the router's own ``score``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.router.domain.model import ActivityPoint, LeadProfile


@dataclass(frozen=True)
class ScoringRow:
    id: str  # the input's id column, or the lead id
    lead: LeadProfile
    activities: tuple[ActivityPoint, ...]
    at: datetime  # the moment the row is scored (engagement decays up to it)
    outcome: bool | None  # converted or qualified: True; lost: False; unknown: None

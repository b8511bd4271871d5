"""Funnel KPIs from lifecycle-stage tallies: conversion rates and the shape of the answer. Pure.

The stages are the router's fixed lifecycle enum. The funnel runs lead -> mql -> sql ->
opportunity -> customer; ``name`` (purchased-list names), ``recycled`` and ``disqualified``
are side stages, counted beside it. A lead that reached a funnel stage has reached every
earlier one (arriving straight at sql counts as having been a lead and an MQL)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.router.domain.lifecycle import Stage

# Rates are fractions; four decimals are 0.01 % - finer would only be noise to a reader.
RATE_DECIMALS = 4


# the router's one definition of the stages (services/router/domain/lifecycle.py)
LifecycleStage = Stage

FUNNEL_STAGES: tuple[LifecycleStage, ...] = (
    LifecycleStage.lead,
    LifecycleStage.mql,
    LifecycleStage.sql,
    LifecycleStage.opportunity,
    LifecycleStage.customer,
)
SIDE_STAGES: tuple[LifecycleStage, ...] = (
    LifecycleStage.name,
    LifecycleStage.recycled,
    LifecycleStage.disqualified,
)
# In the order the funnel is read: the side stage ``name`` before the funnel, the others after.
ALL_STAGES: tuple[LifecycleStage, ...] = (
    LifecycleStage.name,
    *FUNNEL_STAGES,
    LifecycleStage.recycled,
    LifecycleStage.disqualified,
)
NONE_LABEL = "(none)"  # the group or reason of a lead without one


def stages_from(stage: LifecycleStage) -> tuple[LifecycleStage, ...]:
    """The funnel stages at or after ``stage``: entering any of them means ``stage`` was reached."""
    return FUNNEL_STAGES[FUNNEL_STAGES.index(stage) :]


def rate(numerator: int, denominator: int) -> float | None:
    """``numerator / denominator`` rounded to :data:`RATE_DECIMALS`; ``None`` when nothing was
    there to convert (a rate of 0 would claim every one of none failed)."""
    if numerator < 0 or denominator < 0:
        raise ValueError(f"counts cannot be negative: {numerator}/{denominator}")
    if numerator > denominator:
        raise ValueError(
            f"a stage cannot hold more leads than the one before: {numerator}/{denominator}"
        )
    if denominator == 0:
        return None
    return round(numerator / denominator, RATE_DECIMALS)


@dataclass(frozen=True)
class GroupTally:
    """What the database counted for one group of the cohort.

    ``reached``/``median_seconds``: per funnel stage, leads that reached it and the median time
    from their first stage entry to reaching it; ``entered``: per side stage, leads that ever
    entered it; ``current``: leads per stage they are in now; ``disqualified_by_reason``: leads
    that were ever disqualified, by their disqualification reason."""

    key: str | None
    cohort: int
    reached: Mapping[str, int] = field(default_factory=dict)
    median_seconds: Mapping[str, float | None] = field(default_factory=dict)
    entered: Mapping[str, int] = field(default_factory=dict)
    current: Mapping[str, int] = field(default_factory=dict)
    disqualified_by_reason: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FunnelStage:
    stage: str
    reached: int
    rate_from_previous: float | None
    rate_from_cohort: float | None
    median_seconds_to_reach: float | None
    current: int


@dataclass(frozen=True)
class SideStage:
    stage: str
    entered: int
    rate_from_cohort: float | None
    current: int
    by_reason: dict[str, int] | None = None


@dataclass(frozen=True)
class FunnelGroup:
    key: str | None
    cohort: int
    stages: list[FunnelStage]
    side_stages: list[SideStage]


def funnel_group(tally: GroupTally) -> FunnelGroup:
    """Counts and rates per stage: each funnel stage from the one before (the first from the
    cohort) and from the cohort; side stages from the cohort."""
    stages = []
    previous = tally.cohort
    for stage in FUNNEL_STAGES:
        reached = tally.reached.get(stage, 0)
        stages.append(
            FunnelStage(
                stage=stage,
                reached=reached,
                rate_from_previous=rate(reached, previous),
                rate_from_cohort=rate(reached, tally.cohort),
                median_seconds_to_reach=tally.median_seconds.get(stage),
                current=tally.current.get(stage, 0),
            )
        )
        previous = reached
    side = [
        SideStage(
            stage=stage,
            entered=tally.entered.get(stage, 0),
            rate_from_cohort=rate(tally.entered.get(stage, 0), tally.cohort),
            current=tally.current.get(stage, 0),
            by_reason=(
                dict(sorted(tally.disqualified_by_reason.items(), key=lambda kv: (-kv[1], kv[0])))
                if stage == LifecycleStage.disqualified
                else None
            ),
        )
        for stage in SIDE_STAGES
    ]
    return FunnelGroup(key=tally.key, cohort=tally.cohort, stages=stages, side_stages=side)


def order_groups(groups: list[FunnelGroup]) -> list[FunnelGroup]:
    """Largest cohort first, then by key (``(none)`` like any other key)."""
    return sorted(groups, key=lambda g: (-g.cohort, g.key or ""))

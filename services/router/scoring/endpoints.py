"""Token-protected (read) scoring history: the rules versions routers loaded, with their
file's text, and stored evaluations of them (``leadflow scoring evaluate --store``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from services.router.admin.endpoints import get_context, read
from services.router.context import RouterContext
from services.router.models import ScoringEvaluation, ScoringVersion
from services.router.scoring import store
from services.router.scoring.schemas import (
    EVALUATION_EXAMPLE,
    VERSION,
    VERSION_EXAMPLE,
    VERSION_WITH_CONTENT_EXAMPLE,
    ScoringEvaluationOut,
    ScoringEvaluationsOut,
    ScoringVersionsOut,
    ScoringVersionWithContent,
)
from shared.http import ApiError
from shared.openapi import ADMIN_UNAUTHORIZED, errors, not_found, ok

router = APIRouter(prefix="/v1/admin/scoring", tags=["admin"], dependencies=[Depends(read)])
RouterCtx = Annotated[RouterContext, Depends(get_context)]

VERSIONS_DEFAULT, VERSIONS_MAX = 50, 500
EVALUATIONS_DEFAULT, EVALUATIONS_MAX = 20, 200
_VERSION_PATTERN = r"^[0-9a-f]{12}$"


def no_evaluation_detail(rules_version: str) -> str:
    return (
        f"no evaluation of rules version {rules_version} yet: run leadflow scoring evaluate --store"
    )


_GET_VERSION = errors(
    ADMIN_UNAUTHORIZED, not_found(f"no scoring version {VERSION}", "A version never recorded")
)
_GET_EVALUATION = errors(
    ADMIN_UNAUTHORIZED,
    not_found(no_evaluation_detail(VERSION), "The rules in force were never evaluated"),
)


def version_out(row: ScoringVersion, active: str) -> dict[str, Any]:
    return {
        "version": row.version,
        "active": row.version == active,
        "recorded_from": row.recorded_from,
        "content_known": row.content is not None,
        "file_name": row.file_name,
        "criteria_count": row.criteria_count,
        "thresholds": row.thresholds,
        "first_loaded_at": row.first_loaded_at,
        "last_loaded_at": row.last_loaded_at,
    }


def evaluation_out(row: ScoringEvaluation, active: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "rules_version": row.rules_version,
        "active": row.rules_version == active,
        "computed_at": row.computed_at,
        "source": row.source,
        "parameters": row.parameters,
        "n": row.n,
        "positives": row.positives,
        "auc": row.auc,
        "report": row.report,
    }


@router.get(
    "/versions",
    summary="The scoring rules versions routers loaded, the most recently first loaded first",
    description="Recorded when a router loads its rules file (at start and on every reload "
    "that changes it); `active` marks the rules this router scores with. Versions only seen "
    "in scores stored before versions were recorded have `recorded_from: scores` and no "
    "known file.",
    response_model=ScoringVersionsOut,
    responses={200: ok({"active_version": VERSION, "versions": [VERSION_EXAMPLE]})},
)
async def list_scoring_versions(
    ctx: RouterCtx,
    limit: Annotated[int, Query(ge=1, le=VERSIONS_MAX, description="at most this many")] = (
        VERSIONS_DEFAULT
    ),
) -> dict[str, Any]:
    active = ctx.scoring.rules.version
    async with ctx.sessions() as session:
        rows = await store.versions(session, limit)
    return {"active_version": active, "versions": [version_out(r, active) for r in rows]}


@router.get(
    "/versions/{version}",
    summary="One scoring rules version with its file's text",
    description="`content` is null (and `content_known` false) for a version only seen in "
    "stored scores: its file was never recorded.",
    response_model=ScoringVersionWithContent,
    responses={
        200: ok(VERSION_WITH_CONTENT_EXAMPLE),
        **_GET_VERSION,
    },
)
async def get_scoring_version(
    ctx: RouterCtx,
    version: Annotated[str, Path(description="the 12-hex version", max_length=64)],
) -> dict[str, Any]:
    async with ctx.sessions() as session:
        row = await store.version(session, version) if len(version) == 12 else None
    if row is None:
        raise ApiError(404, "not_found", f"no scoring version {version}")
    return version_out(row, ctx.scoring.rules.version) | {"content": row.content}


@router.get(
    "/evaluation",
    summary="The latest stored evaluation of the rules in force",
    description="Stored by `leadflow scoring evaluate --store` (daily by the "
    "`leadflow-scoring-evaluate` CronJob). 404 when the rules in force were never evaluated.",
    response_model=ScoringEvaluationOut,
    responses={200: ok(EVALUATION_EXAMPLE), **_GET_EVALUATION},
)
async def get_scoring_evaluation(ctx: RouterCtx) -> dict[str, Any]:
    active = ctx.scoring.rules.version
    async with ctx.sessions() as session:
        row = await store.latest_evaluation(session, active)
    if row is None:
        raise ApiError(404, "not_found", no_evaluation_detail(active))
    return evaluation_out(row, active)


@router.get(
    "/evaluations",
    summary="Stored evaluations, the most recently computed first",
    description="Of every version, or of `version` alone.",
    response_model=ScoringEvaluationsOut,
    responses={200: ok({"evaluations": [EVALUATION_EXAMPLE]})},
)
async def list_scoring_evaluations(
    ctx: RouterCtx,
    version: Annotated[
        str | None,
        Query(description="only evaluations of this rules version", pattern=_VERSION_PATTERN),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=EVALUATIONS_MAX, description="at most this many")] = (
        EVALUATIONS_DEFAULT
    ),
) -> dict[str, Any]:
    active = ctx.scoring.rules.version
    async with ctx.sessions() as session:
        rows = await store.evaluations(session, rules_version=version, limit=limit)
    return {"evaluations": [evaluation_out(r, active) for r in rows]}

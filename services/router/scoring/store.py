"""The scoring history in the router's database: the rules versions routers loaded
(``router.scoring_version``) and stored evaluations of them (``router.scoring_evaluation``).

Writers take a session (the write joins the caller's transaction, which commits it) or an
engine (the write commits in a transaction of its own). Neither table holds personal data."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from services.router.domain.scoring import ScoringRules
from services.router.models import ScoringEvaluation, ScoringVersion
from shared import db


class EvaluationSource(StrEnum):
    """Where an evaluation's outcomes came from."""

    HISTORY = "history"  # the router's own leads and what became of them
    CSV = "csv"  # a file of scored rows with outcomes


class VersionOrigin(StrEnum):
    """How a version came to be recorded."""

    ROUTER = "router"  # a router loaded it: its file's text is known
    SCORES = "scores"  # only seen in scores stored before versions were recorded


@dataclass(frozen=True)
class EvaluationSummary:
    n: int
    positives: int
    auc: float | None


def evaluation_summary(report: Mapping[str, Any], rules_version: str) -> EvaluationSummary:
    """The headline figures of an evaluation report; ValueError when it lacks them or names
    another rules version than the one it is recorded for."""
    named = report.get("rules_version")
    if named is not None and named != rules_version:
        raise ValueError(f"the report evaluates rules version {named}, not {rules_version}")
    try:
        n, positives = report["n"], report["positives"]
    except KeyError as exc:
        raise ValueError(f"the report has no {exc.args[0]!r}") from None
    if not isinstance(n, int) or not isinstance(positives, int) or not 0 <= positives <= n:
        raise ValueError(f"the report's n ({n!r}) and positives ({positives!r}) are not counts")
    auc = report.get("auc")
    if auc is not None and not (isinstance(auc, int | float) and 0.0 <= auc <= 1.0):
        raise ValueError(f"the report's auc ({auc!r}) is not a number between 0 and 1")
    return EvaluationSummary(n=n, positives=positives, auc=None if auc is None else float(auc))


def version_row(rules: ScoringRules, text: bytes, file_name: str, at: datetime) -> dict[str, Any]:
    """The ``scoring_version`` row of rules a router loaded from ``text`` at ``at``."""
    t = rules.thresholds
    return {
        "version": rules.version,
        "recorded_from": VersionOrigin.ROUTER.value,
        "file_name": file_name,
        "content": text.decode("utf-8", errors="replace"),
        "criteria_count": len(rules.criteria),
        "thresholds": {"warm": t.warm, "hot": t.hot, "mql": t.mql, "sql": t.sql},
        "first_loaded_at": at,
        "last_loaded_at": at,
    }


async def record_version(session: AsyncSession, row: Mapping[str, Any]) -> bool:
    """Upsert a loaded version (:func:`version_row`): the first load creates it, a later one
    (another router, a restart, a return to it) moves ``last_loaded_at`` and fills in what a
    backfilled row did not know. Idempotent across routers. True when the row was created."""
    stmt = insert(ScoringVersion).values(**row)
    kept = ScoringVersion
    upsert: ReturningInsert[tuple[bool]] = stmt.on_conflict_do_update(
        index_elements=[ScoringVersion.version],
        set_={
            "recorded_from": stmt.excluded.recorded_from,
            "file_name": stmt.excluded.file_name,
            "content": stmt.excluded.content,
            "criteria_count": stmt.excluded.criteria_count,
            "thresholds": stmt.excluded.thresholds,
            "first_loaded_at": func.least(kept.first_loaded_at, stmt.excluded.first_loaded_at),
            "last_loaded_at": func.greatest(kept.last_loaded_at, stmt.excluded.last_loaded_at),
        },
    ).returning(literal_column("(xmax = 0)").label("created"))  # no prior row version
    return bool((await session.execute(upsert)).scalar_one())


async def versions(session: AsyncSession, limit: int) -> list[ScoringVersion]:
    """The recorded versions, the most recently first loaded first."""
    stmt = (
        select(ScoringVersion)
        .order_by(ScoringVersion.first_loaded_at.desc(), ScoringVersion.version.desc())
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def version(session: AsyncSession, rules_version: str) -> ScoringVersion | None:
    return await session.get(ScoringVersion, rules_version)


async def record_evaluation(
    session_or_engine: AsyncSession | AsyncEngine,
    *,
    rules_version: str,
    source: EvaluationSource | str,
    parameters: Mapping[str, Any],
    report: Mapping[str, Any],
    computed_at: datetime,
) -> uuid.UUID:
    """Store an evaluation report (``leadflow scoring evaluate --store``) and return its id.

    ``parameters`` are what it ran with (``since``, ``negative_after_days``, ``as_of_days``;
    the CSV's file name, ...); ``report`` is the whole report, whose ``n``, ``positives`` and ``auc`` are
    also kept in columns. With a session the row joins its transaction (flushed, committed by
    the caller); with an engine it is committed at once. ValueError for an unknown source or
    a report without its counts (:func:`evaluation_summary`)."""
    kind = EvaluationSource(source)
    summary = evaluation_summary(report, rules_version)
    evaluation_id = uuid.uuid4()
    row = ScoringEvaluation(
        id=evaluation_id,
        rules_version=rules_version,
        computed_at=computed_at,
        source=kind.value,
        parameters=dict(parameters),
        n=summary.n,
        positives=summary.positives,
        auc=summary.auc,
        report=dict(report),
    )
    if isinstance(session_or_engine, AsyncEngine):
        async with db.sessionmaker(session_or_engine).begin() as session:
            session.add(row)
    else:
        session_or_engine.add(row)
        await session_or_engine.flush()
    return evaluation_id


async def latest_evaluation(
    session_or_engine: AsyncSession | AsyncEngine, rules_version: str
) -> ScoringEvaluation | None:
    """The most recently computed evaluation of ``rules_version``, or None."""
    found = await evaluations(session_or_engine, rules_version=rules_version, limit=1)
    return found[0] if found else None


async def evaluations(
    session_or_engine: AsyncSession | AsyncEngine,
    *,
    rules_version: str | None = None,
    limit: int = 20,
) -> list[ScoringEvaluation]:
    """Stored evaluations, the most recently computed first; of one version or of all."""
    stmt = select(ScoringEvaluation)
    if rules_version is not None:
        stmt = stmt.where(ScoringEvaluation.rules_version == rules_version)
    stmt = stmt.order_by(ScoringEvaluation.computed_at.desc(), ScoringEvaluation.id).limit(limit)
    if isinstance(session_or_engine, AsyncEngine):
        async with db.sessionmaker(session_or_engine)() as session:
            return list((await session.scalars(stmt)).all())
    return list((await session_or_engine.scalars(stmt)).all())

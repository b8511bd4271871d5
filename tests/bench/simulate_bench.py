"""Routing simulation benchmark: how fast ``leadflow routing simulate`` replays history.

Run ``python -m tests.bench.simulate_bench [--leads 100000] [--db/--no-db]``. Two figures:

- **replay**: the pure replay (:func:`services.router.domain.simulation.simulate`) of
  ``--leads`` generated arrivals over 30 days through the shipped ``routing.yaml`` and
  ``scoring.yaml`` (working hours, holidays, follow-the-sun: leads queue at night and
  drain in the morning), with 60 % of the leads released by a disposition 1 hour to 10
  days after arrival; leads/s;
- **read** (``--db``): :func:`read_history` of as many seeded leads (each with one
  submission, one decision, and the releases) from an embedded PostgreSQL of its own,
  started, migrated and seeded with ``generate_series`` before the clock starts.

- **command** (``--db``): ``leadflow routing simulate`` itself on the seeded database (read,
  replay, tables and the JSON report), through typer's runner.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from services.router.domain.model import LeadProfile
from services.router.domain.scoring import load_scoring_rules
from services.router.domain.simulation import Actual, HistoricalLead, Release, simulate
from services.router.settings import CONFIG_DIR
from services.router.simulation.candidate import load_candidate
from services.router.simulation.history import read_history
from shared import db
from shared.stack.common import free_port
from shared.stack.postgres import EmbeddedPostgres
from shared.stack.stack import SERVICES

COUNTRIES = ["DE", "GB", "FR", "US", "US", "US", "CA", "SG", "AU", "JP", "BR", "NL"]
SIZES = ["11-50", "51-200", "201-500", "1001-5000", "5001+"]
INDUSTRIES = ["Software", "Retail", "Finance", "Manufacturing"]
TITLES = ["VP Engineering", "Head of Sales", "CTO", "Student", None]
RELEASED = 0.6
START = datetime(2026, 10, 5, tzinfo=UTC)  # a Monday: the same hours and holidays every run
STATUSES = ["disqualified", "qualified", "recycled", "converted"]


def generated(n: int, seed: int = 7) -> tuple[list[HistoricalLead], list[Release]]:
    rng = random.Random(seed)
    start = START
    span = 30 * 86400
    leads: list[HistoricalLead] = []
    releases: list[Release] = []
    for _ in range(n):
        at = start + timedelta(seconds=rng.uniform(0, span))
        profile = LeadProfile(
            job_title=rng.choice(TITLES),
            company_size=rng.choice(SIZES),
            industry=rng.choice(INDUSTRIES),
            country=rng.choice(COUNTRIES),
            source_id="website",
            channel="web",
        )
        lead_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        leads.append(HistoricalLead(lead_id, at, profile, Actual("assigned", "rep-lena", "emea")))
        if rng.random() < RELEASED:
            later = at + timedelta(seconds=rng.uniform(3600, 10 * 86400))
            releases.append(Release(lead_id, later, rng.choice(STATUSES)))
    return leads, releases


def bench_replay(n: int) -> dict[str, float]:
    leads, releases = generated(n)
    candidate = load_candidate(CONFIG_DIR / "routing.yaml")
    scoring = load_scoring_rules(CONFIG_DIR / "scoring.yaml")
    started = time.perf_counter()
    report = simulate(leads, releases, candidate, scoring)
    seconds = time.perf_counter() - started
    print(
        f"replay: {n:,} leads, {report.releases:,} releases in {seconds:.2f} s "
        f"({n / seconds:,.0f} leads/s); queue {report.queue_entries:,} entered, "
        f"{report.dequeued:,} drained, {report.still_queued:,} left"
    )
    return {"replay_seconds": seconds, "replay_leads_per_s": n / seconds}


SEED_SQL = [
    """INSERT INTO router.lead (id, status, is_name, profile, source_id, channel, received_at,
        score, temperature, stage, score_breakdown, created_at, updated_at, lifecycle_stage,
        stage_entered_at)
    SELECT md5('lead' || g)::uuid, 'assigned', false, '{}'::jsonb, 'website', 'web',
        now() - (g * 2592000.0 / :n) * interval '1 second', 40, 'warm', 'mql', '{}'::jsonb,
        now(), now(), 'mql', now()
    FROM generate_series(1, :n) g""",
    """INSERT INTO router.lead_submission (submission_id, lead_id, event_id, source_id, channel,
        matched_by, detail, filled, conflicts, received_at, processed_at, fields)
    SELECT md5('sub' || g)::uuid, md5('lead' || g)::uuid, 'e' || g, 'website', 'web', 'new', '',
        '[]'::jsonb, '[]'::jsonb, now() - (g * 2592000.0 / :n) * interval '1 second', now(),
        jsonb_build_object('email', 'p' || g || '@example.com', 'first_name', 'P', 'last_name',
            'Q' || g, 'job_title', 'VP Engineering', 'company_size', '1001-5000',
            'industry', 'Software', 'country', (ARRAY['DE','US','SG','FR'])[1 + g % 4])
    FROM generate_series(1, :n) g""",
    """INSERT INTO router.assignment (id, lead_id, outcome, kind, rep_id, team_id, queue, rule,
        reason, explanation, score, cause_event_id, decided_at)
    SELECT md5('a' || g)::uuid, md5('lead' || g)::uuid, 'assigned', 'initial', 'rep-lena',
        'emea', NULL, 'emea', 'seeded', '{}'::jsonb, '{}'::jsonb, 'e' || g,
        now() - (g * 2592000.0 / :n) * interval '1 second'
    FROM generate_series(1, :n) g""",
    """INSERT INTO router.lead_status_change (id, lead_id, status, reason, rep_id, reported_by,
        occurred_at, recorded_at, applied, detail, cause_event_id)
    SELECT md5('c' || g)::uuid, md5('lead' || g)::uuid, 'disqualified', 'not_a_fit', 'rep-lena',
        'crm', now() - (g * 2592000.0 / :n) * interval '1 second' + interval '2 hours', now(), true, '',
        'c' || g
    FROM generate_series(1, :n) g WHERE g % 5 < 3""",
]


async def _seed_and_read(url: str, n: int) -> dict[str, float]:
    from sqlalchemy import text

    engine = db.create_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            for statement in SEED_SQL:
                await conn.execute(text(statement), {"n": n})
            await conn.execute(text("ANALYZE"))
        scoring = load_scoring_rules(CONFIG_DIR / "scoring.yaml")
        started = time.perf_counter()
        history = await read_history(
            engine, scoring, window=timedelta(days=31), now=datetime.now(UTC)
        )
        seconds = time.perf_counter() - started
    finally:
        await engine.dispose()
    print(
        f"read: {len(history.leads):,} leads, {len(history.releases):,} releases in "
        f"{seconds:.2f} s ({len(history.leads) / seconds:,.0f} leads/s)"
    )
    return {"read_seconds": seconds, "read_leads_per_s": len(history.leads) / seconds}


def _command(url: str, out: Path) -> float:
    """The whole command on the seeded database, JSON report included."""
    from typer.testing import CliRunner

    from shared.cli import app

    args = ["routing", "simulate", "--rules", str(CONFIG_DIR / "routing.yaml"), "--json", str(out)]
    started = time.perf_counter()
    result = CliRunner().invoke(app, args, env={"LEADFLOW_DATABASE_URL": url})
    seconds = time.perf_counter() - started
    if result.exit_code != 0:
        raise RuntimeError(f"simulate exited {result.exit_code}: {result.output[-2000:]}")
    print(f"command: leadflow routing simulate on the seeded leads in {seconds:.2f} s")
    return seconds


def bench_read(n: int) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="leadflow-simbench-"))
    pg = EmbeddedPostgres(root=root / "pg", port=free_port(), durable=False)
    try:
        pg.start()
        pg.ensure_database("simbench")
        url = pg.url("simbench")
        router = next(s for s in SERVICES if s.name == "router")
        assert router.migrations is not None
        db.upgrade(router.migrations, url, router.schema)
        figures = asyncio.run(_seed_and_read(url, n))
        figures["command_seconds"] = _command(url, root / "report.json")
        return figures
    finally:
        pg.destroy()
        shutil.rmtree(root, ignore_errors=True)


def main(
    leads: Annotated[int, typer.Option(min=1)] = 100_000,
    with_db: Annotated[bool, typer.Option("--db/--no-db")] = True,
) -> None:
    figures = bench_replay(leads)
    if with_db:
        figures |= bench_read(leads)
        total = figures["replay_seconds"] + figures["read_seconds"]
        print(f"read + replay: {total:.2f} s for {leads:,} leads")


if __name__ == "__main__":
    typer.run(main)

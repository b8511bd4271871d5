"""Nurture benchmark: due-step throughput with 1,000,000 scheduled steps pending vs an empty
table, lateness of steps falling due at constant rates, and enrollments per second when a
burst of routing decisions arrives (``tests/bench/nurture_enrollments.py``).

``python -m tests.bench.nurture [--seed-steps 1000000] [--due 20000] [--rates 50,200]
[--duration 30] [--repeats 3] [--measure all|steps|enrollments] [--enrollments 20000]
[--label current]`` (``make bench NURTURE_BENCH_ARGS="..."``).

What it does:

1. Starts its own isolated stack in a temp dir on free loopback ports (embedded PostgreSQL
   with fsync on, a KRaft Kafka broker, migrations, topics) and tears it down at the end,
   also on error, Ctrl-C or SIGTERM.
2. Seeds ``--seed-steps`` pending steps into ``nurture.scheduled_step`` (each with its lead
   and active enrollment, over every sequence of ``tests/fixtures/nurture-24x7.yaml``), due
   uniformly over the 60 days starting one hour from now, with ``INSERT ... SELECT FROM
   generate_series`` statements (lead, enrollment and step in one statement per chunk), then
   VACUUM ANALYZE + CHECKPOINT. A second database on the same server stays empty (the
   baseline). The plans of the scheduler's queries are recorded on both (EXPLAIN ANALYZE).
3. Throughput: one nurture process (a uvicorn subprocess with the default settings: tick 1 s,
   batch 200; only the sequences file is the 24x7 fixture, so every instant is sendable)
   runs against one database at a time; a slice of ``--due`` steps due in the last minute
   is committed in one transaction while it runs. Throughput = slice / time from that commit
   until every step of the slice is ``emitted`` and the outbox is empty (all published to
   Kafka). The seeded and empty databases alternate across repeats.
4. Lateness: with the seeded database (and its nurture process), ``rate x --duration``
   steps are committed ahead of time, due uniformly at ``--rates`` steps/s; lateness =
   ``emitted_at - due_at`` from the rows (it includes the up-to-1 s tick), and the time the
   step reached Kafka (record timestamp) - ``due_at``.
5. Every slice is deleted again (and the tables vacuumed) after its run, so each run starts
   from the same table. Writes ``tests/bench/results/nurture.json`` and ``nurture.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.nurture.sequences_file import load_sequences
from services.nurture.settings import NurtureSettings
from shared import db
from shared.events.registry import NURTURE_STEP
from shared.kafka.topics import all_topics, ensure_topics
from shared.stack.common import REPO_ROOT, free_port
from shared.stack.stack import SERVICES, ServiceProcess, Stack
from tests.bench.common import (
    CpuMeter,
    assert_loopback,
    bench_stack,
    code_version,
    console,
    fmt,
    loop_factory,
    machine_info,
    machine_line,
    markdown_tables,
    median,
    percentile,
    postgres_settings,
    postmaster_pid,
    print_tables,
    ratio,
    wait_for_quiet,
    wait_for_quiet_run,
)

RESULTS_DIR = REPO_ROOT / "tests" / "bench" / "results"
NURTURE = next(s for s in SERVICES if s.name == "nurture")
SEQUENCES_FILE = REPO_ROOT / "tests" / "fixtures" / "nurture-24x7.yaml"
DEFAULTS = {name: NurtureSettings.model_fields[name].default for name in (
    "nurture_tick_seconds", "nurture_batch_size", "nurture_sweep_seconds"
)}  # fmt: skip
CODE_PATHS = ("services/nurture", "shared")  # the code a nurture process runs
SLICE_SEQUENCE = "web-welcome"  # step 1 by email; emitting it schedules step 2 (2 days on)

# Hard bounds: the benchmark must stay finite whatever NURTURE_BENCH_ARGS says.
MAX_SEED = 5_000_000
MAX_DUE = 200_000
MAX_RATE = 2000.0
MAX_DURATION = 300.0
MAX_WARMUP = 60.0
MAX_REPEATS = 5
MAX_RUN_TIMEOUT = 3600.0
MAX_DRAIN = 600.0
SEED_CHUNK = 100_000
BACKGROUND_FROM = timedelta(hours=1)  # no seeded step falls due while the benchmark runs
BACKGROUND_SPREAD_DAYS = 60
LATENESS_LEAD_S = 5.0  # a lateness slice is committed this long before its first step is due
POLL_S = 0.25
STALL_S = 60.0  # a throughput run without any progress this long: nurture is broken, stop
SATURATED_GROWTH_S = 1.0  # second-half p50 lateness over first-half p50 + this: not keeping up
DISTURBED_OTHER_PCT = 50  # % of one core used by other work during a run: disturbed
TIMEZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "Asia/Kolkata",
    "Australia/Sydney",
]
CHANNEL_OF_TRIGGER = {"trade_show": "trade_show", "purchased_list": "purchased_list"}

app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


# --------------------------------------------------------------------------- SQL


def _sql_array(values: list[str], cast: str = "text") -> str:
    for v in values:
        assert "'" not in v and "\\" not in v, v
    return "(ARRAY[" + ",".join(f"'{v}'" for v in values) + f"]::{cast}[])"


def _sequences() -> list[tuple[str, str, list[str]]]:
    """(sequence id, trigger kind, the channel of each step) of the fixture's sequences."""
    config = load_sequences(SEQUENCES_FILE)
    return [
        (s.id, s.trigger.kind, [p.channel for p in config.steps(s.id)]) for s in config.sequences
    ]


def background_sql(lo: int, hi: int) -> str:
    """One statement: leads lo..hi, an active enrollment each (a sequence of the fixture,
    picked uniformly) and one pending step of it, due uniformly over the 60 days starting
    an hour from now. Recent leads (nurture clock under 20 days): no sweep has work."""
    seqs = _sequences()
    ids = _sql_array([s[0] for s in seqs])
    triggers = _sql_array([s[1] for s in seqs])
    channels = _sql_array([CHANNEL_OF_TRIGGER.get(s[1], "web") for s in seqs])
    n_steps = "(ARRAY[" + ",".join(str(len(s[2])) for s in seqs) + "]::int[])"
    width = max(len(s[2]) for s in seqs)  # step channels, row q - 1 of a q x width matrix
    step_channels = _sql_array([c for s in seqs for c in s[2] + ["email"] * (width - len(s[2]))])
    zones = _sql_array(TIMEZONES)
    start = int(BACKGROUND_FROM.total_seconds())
    return f"""
WITH s AS MATERIALIZED (
  SELECT g, gen_random_uuid() AS lead_id, gen_random_uuid() AS enrollment_id,
         1 + floor(random() * {len(seqs)})::int AS q,
         random() AS r_step, random() AS r_due, random() AS r_since,
         floor(random() * {len(TIMEZONES)})::int AS tz
  FROM generate_series({lo}, {hi}) AS g
), l AS (
  INSERT INTO nurture.lead (id, email, phone, first_name, timezone, timezone_source, channel,
      is_name, list, with_sales, nurture_since, created_at, updated_at)
  SELECT lead_id, 'lead' || g || '@example.com',
         CASE WHEN g % 3 = 0 THEN '+1555' || lpad((g % 10000000)::text, 7, '0') END,
         'Seed', {zones}[1 + tz], 'lead', {channels}[q], {channels}[q] = 'purchased_list',
         'active', false, now() - r_since * interval '20 days',
         now() - r_since * interval '20 days', now()
  FROM s
), e AS (
  INSERT INTO nurture.enrollment (id, lead_id, sequence_id, trigger, status, reason,
      enrolled_at, cause)
  SELECT enrollment_id, lead_id, {ids}[q], {triggers}[q], 'active', 'bench seed',
         now() - r_since * interval '20 days', 'bench:' || enrollment_id
  FROM s
)
INSERT INTO nurture.scheduled_step (enrollment_id, lead_id, step, channel, state, due_at,
    planned_at)
SELECT enrollment_id, lead_id, step, {step_channels}[(q - 1) * {width} + step], 'pending',
       due, due
FROM (
  SELECT enrollment_id, lead_id, q, 1 + floor(r_step * {n_steps}[q])::int AS step,
         now() + interval '{start} seconds' + r_due * interval '{BACKGROUND_SPREAD_DAYS} days' AS due
  FROM s
) x
"""


SLICE_SQL = """
WITH s AS MATERIALIZED (
  SELECT g, gen_random_uuid() AS lead_id, gen_random_uuid() AS enrollment_id
  FROM generate_series(1, CAST(:n AS int)) AS g
), l AS (
  INSERT INTO nurture.lead (id, email, phone, first_name, timezone, timezone_source, channel,
      is_name, list, with_sales, nurture_since, created_at, updated_at)
  SELECT lead_id, 'due.' || :tag || '.' || g || '@example.com', NULL, 'Due', 'America/New_York',
         'lead', 'web', false, 'active', false, now(), now(), now()
  FROM s
), e AS (
  INSERT INTO nurture.enrollment (id, lead_id, sequence_id, trigger, status, reason,
      enrolled_at, cause)
  SELECT enrollment_id, lead_id, :sequence, 'web_welcome', 'active', 'bench due slice', now(),
         'bench:' || enrollment_id
  FROM s
), st AS (
  INSERT INTO nurture.scheduled_step (enrollment_id, lead_id, step, channel, state, due_at,
      planned_at)
  SELECT enrollment_id, lead_id, 1, 'email', 'pending', due, due
  FROM (
    SELECT enrollment_id, lead_id,
           CAST(:start AS timestamptz) + (g - 1) * make_interval(secs => CAST(:spacing AS float8)) AS due
    FROM s
  ) x
)
SELECT lead_id FROM s
"""

TABLES = ("lead", "enrollment", "scheduled_step", "outbox")


async def _scalar(engine: AsyncEngine, query: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(query), params)).scalar()


async def _rows(engine: AsyncEngine, query: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(query), params)).all())


async def vacuum(engine: AsyncEngine, *, checkpoint: bool = False) -> float:
    """VACUUM ANALYZE the nurture tables a run touches (and CHECKPOINT)."""
    started = time.perf_counter()
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in TABLES:
            await auto.execute(text(f"VACUUM (ANALYZE) nurture.{table}"))
        if checkpoint:
            await auto.execute(text("CHECKPOINT"))
    return time.perf_counter() - started


async def seed(engine: AsyncEngine, n: int, progress: Progress) -> dict[str, Any]:
    """Bulk-load n pending steps (with their leads and enrollments), VACUUM ANALYZE, CHECKPOINT."""
    task = progress.add_task(f"seeding {n:,} scheduled steps", total=n)
    started = time.perf_counter()
    async with engine.connect() as conn:
        for lo in range(1, n + 1, SEED_CHUNK):
            hi = min(n, lo + SEED_CHUNK - 1)
            await conn.execute(text(background_sql(lo, hi)))
            await conn.commit()
            progress.update(task, completed=hi)
    insert_s = time.perf_counter() - started
    progress.update(task, description="VACUUM ANALYZE")
    t_vac = time.perf_counter()
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in TABLES:
            await auto.execute(text(f"VACUUM (ANALYZE) nurture.{table}"))
        vacuum_s = time.perf_counter() - t_vac
        t_cp = time.perf_counter()
        await auto.execute(text("CHECKPOINT"))
        checkpoint_s = time.perf_counter() - t_cp
    progress.update(task, visible=False)
    stats = await table_stats(engine)
    stats.update(
        insert_s=round(insert_s, 1),
        rows_per_s=round(n / insert_s) if insert_s else None,
        statements=-(-n // SEED_CHUNK),
        vacuum_analyze_s=round(vacuum_s, 1),
        checkpoint_s=round(checkpoint_s, 1),
        total_s=round(time.perf_counter() - started, 1),
    )
    return stats


async def table_stats(engine: AsyncEngine) -> dict[str, Any]:
    states = await _rows(
        engine, "SELECT state, count(*) FROM nurture.scheduled_step GROUP BY 1 ORDER BY 2 DESC"
    )
    span = (
        await _rows(
            engine,
            "SELECT min(due_at), max(due_at) FROM nurture.scheduled_step WHERE state = 'pending'",
        )
    )[0]
    sequences = await _rows(
        engine, "SELECT sequence_id, count(*) FROM nurture.enrollment GROUP BY 1 ORDER BY 1"
    )
    sizes = {
        t: round(await _scalar(engine, f"SELECT pg_total_relation_size('nurture.{t}')") / 2**20, 1)
        for t in TABLES
    }
    indexes = await _rows(
        engine,
        "SELECT indexrelname, pg_relation_size(indexrelid) FROM pg_stat_user_indexes "
        "WHERE schemaname = 'nurture' AND relname = 'scheduled_step' ORDER BY 1",
    )
    return {
        "steps": {s: n for s, n in states},
        "leads": await _scalar(engine, "SELECT count(*) FROM nurture.lead"),
        "enrollments": await _scalar(engine, "SELECT count(*) FROM nurture.enrollment"),
        "enrollments_by_sequence": {s: n for s, n in sequences},
        "pending_due_from": span[0].isoformat() if span[0] else None,
        "pending_due_to": span[1].isoformat() if span[1] else None,
        "table_mb": sizes,
        "scheduled_step_index_mb": {name: round(size / 2**20, 1) for name, size in indexes},
        "database_mb": round(
            await _scalar(engine, "SELECT pg_database_size(current_database())") / 2**20
        ),
    }


async def insert_slice(
    engine: AsyncEngine, n: int, start: datetime, spacing_s: float
) -> list[uuid.UUID]:
    """n new leads with step 1 of the welcome sequence due at start + i * spacing (i < n),
    committed in one transaction; returns the lead ids."""
    async with engine.begin() as conn:
        rows = await conn.execute(
            text(SLICE_SQL),
            {
                "n": n,
                "tag": uuid.uuid4().hex[:8],
                "sequence": SLICE_SEQUENCE,
                "start": start,
                "spacing": spacing_s,
            },
        )
        return [r[0] for r in rows]


async def delete_slice(engine: AsyncEngine, ids: list[uuid.UUID]) -> float:
    """Remove a slice (its steps, the steps it scheduled, enrollments, leads) and vacuum, so
    the next run starts from the same table."""
    started = time.perf_counter()
    async with engine.begin() as conn:
        for table, column in (("scheduled_step", "lead_id"), ("enrollment", "lead_id"), ("lead", "id")):  # fmt: skip
            await conn.execute(
                text(f"DELETE FROM nurture.{table} WHERE {column} = ANY(:ids)"), {"ids": ids}
            )
    await vacuum(engine)  # also resets the change counters: no autoanalyze lands in a run
    return time.perf_counter() - started


# --------------------------------------------------------------------------- query plans

CLAIM_SQL = (
    "SELECT * FROM nurture.scheduled_step WHERE state = 'pending' AND due_at <= now() "
    "ORDER BY due_at LIMIT {batch} FOR UPDATE SKIP LOCKED"
)
PLAN_QUERIES = {
    "claim_due": CLAIM_SQL,
    "sent_since": (
        "SELECT lead_id, emitted_at FROM nurture.scheduled_step WHERE lead_id IN ({ids}) "
        "AND state = 'emitted' AND emitted_at > now() - interval '7 days'"
    ),
    "timer_counts": (
        "SELECT count(*), count(*) FILTER (WHERE due_at <= now()) FROM nurture.scheduled_step "
        "WHERE state = 'pending'"
    ),
}


async def explain_plans(url: str, batch: int, due: int) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of the scheduler's queries with ``due`` steps due (a
    throughput slice; the statistics are those of before it, as in a run), in a transaction
    that is rolled back; and the claim as asyncpg runs it (a prepared statement with
    parameters, executed 8 times first so PostgreSQL may switch to its generic plan)."""
    engine = db.create_engine(url, pool_size=1)
    out: dict[str, Any] = {}
    try:
        async with engine.connect() as conn:
            trans = await conn.begin()
            rows = await conn.execute(
                text(SLICE_SQL),
                {"n": due, "tag": "plan", "sequence": SLICE_SEQUENCE, "spacing": 60 / due,
                 "start": datetime.now(UTC) - timedelta(minutes=1)},
            )  # fmt: skip
            ids = [r[0] for r in rows][:batch]
            for name, query in PLAN_QUERIES.items():
                sql = query.format(batch=batch, ids=",".join(f"'{i}'" for i in ids))
                plan = [r[0] for r in await conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {sql}"))]
                out[name] = {"plan": plan, "execution_ms": _plan_ms(plan, "Execution Time")}
            await conn.execute(
                text(
                    "PREPARE bench_claim (text, timestamptz, int) AS SELECT * FROM "
                    "nurture.scheduled_step WHERE state = $1 AND due_at <= $2 ORDER BY due_at "
                    "LIMIT $3 FOR UPDATE SKIP LOCKED"
                )
            )
            for _ in range(8):
                await conn.execute(text(f"EXECUTE bench_claim ('pending', now(), {batch})"))
            plan = [
                r[0]
                for r in await conn.execute(
                    text(
                        f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_claim ('pending', now(), {batch})"
                    )
                )
            ]
            out["claim_due_prepared"] = {
                "plan": plan,
                "execution_ms": _plan_ms(plan, "Execution Time"),
                "generic": any("$1" in line or "$2" in line for line in plan),
            }
            await trans.rollback()
            await conn.execute(text("DEALLOCATE bench_claim"))
    finally:
        await engine.dispose()
    return out


def _plan_ms(plan: list[str], label: str) -> float | None:
    for line in plan:
        if line.strip().startswith(label):
            return float(line.split(":")[1].split()[0])
    return None


def _plan_nodes(plan: list[str]) -> str:
    """The plan's node names, outermost first (e.g. 'Limit > LockRows > Index Scan ix_...')."""
    nodes = []
    for line in plan:
        body = line.strip().removeprefix("->").strip()
        if "(cost=" not in body and "(actual" not in body:
            continue
        node = body.split("  (")[0].split(" (")[0]
        nodes.append(
            node.replace(" on nurture.scheduled_step", "").replace(" on scheduled_step", "")
        )
    return " > ".join(nodes)


# --------------------------------------------------------------------------- environment


@dataclass
class Side:
    """One database + topic prefix, and its nurture process while it runs."""

    name: str
    stack: Stack
    database_url: str
    prefix: str
    engine: AsyncEngine
    log: Path
    procs: list[ServiceProcess]
    proc: ServiceProcess | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.proc.pid if self.proc and self.proc.proc else None

    @property
    def steps_topic(self) -> str:
        return self.prefix + NURTURE_STEP.topic

    def env(self) -> dict[str, str]:
        return self.stack.env(
            LEADFLOW_ENV="test",
            LEADFLOW_LOG_LEVEL="WARNING",
            LEADFLOW_TOPIC_PREFIX=self.prefix,
            LEADFLOW_DATABASE_URL=self.database_url,
            LEADFLOW_NURTURE_SEQUENCES_FILE=str(SEQUENCES_FILE),
            LEADFLOW_NURTURE_CONSUMER_GROUP=f"{self.prefix}nurture",
            # the defaults, spelled out: an environment that sets them must not change the run
            **{f"LEADFLOW_{k.upper()}": str(v) for k, v in DEFAULTS.items()},
        )

    async def start(self) -> None:
        self.proc = ServiceProcess(NURTURE, self.env(), port=free_port(), log=self.log)
        self.procs.append(self.proc)  # torn down with the stack whatever happens
        await asyncio.to_thread(self.proc.start)
        await asyncio.to_thread(self.proc.wait_ready, 60)
        assert_loopback(self.proc.url)

    async def stop(self) -> None:
        if self.proc is not None:
            await asyncio.to_thread(self.proc.stop)
            self.proc = None

    def alive(self) -> None:
        if self.proc is not None and (self.proc.proc is None or self.proc.proc.poll() is not None):
            self.stalled("exited")

    def stalled(self, what: str) -> NoReturn:
        """Stop the benchmark: the service is broken, not slow (its log's tail says why)."""
        tail = self.log.read_text(errors="replace").splitlines()[-5:] if self.log.exists() else []
        raise RuntimeError(
            f"nurture ({self.name}) {what}; {self.log} ends with:\n" + "\n".join(tail)
        )

    async def outbox(self) -> int:
        return int(await _scalar(self.engine, "SELECT count(*) FROM nurture.outbox"))

    async def due_pending(self) -> int:
        return int(
            await _scalar(
                self.engine,
                "SELECT count(*) FROM nurture.scheduled_step "
                "WHERE state = 'pending' AND due_at <= now()",
            )
        )

    async def slice_states(self, ids: list[uuid.UUID]) -> dict[str, int]:
        rows = await _rows(
            self.engine,
            "SELECT step || ':' || state, count(*) FROM nurture.scheduled_step "
            "WHERE lead_id = ANY(:ids) GROUP BY 1",
            ids=ids,
        )
        return {k: n for k, n in rows}


class StepsTopic:
    """End offsets of a side's ``nurture.steps.v1`` topic, and the records between two sets
    of offsets (no consumer group)."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
        )

    async def start(self) -> None:
        await self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()

    async def _partitions(self, topic: str) -> list[TopicPartition]:
        for _ in range(50):
            cluster = await self.consumer._client.fetch_all_metadata()
            partitions = cluster.partitions_for_topic(topic)
            if partitions:
                return [TopicPartition(topic, p) for p in sorted(partitions)]
            await asyncio.sleep(0.2)
        raise RuntimeError(f"topic {topic} does not exist")

    async def end_offsets(self, topic: str) -> dict[int, int]:
        tps = await self._partitions(topic)
        return {tp.partition: off for tp, off in (await self.consumer.end_offsets(tps)).items()}

    async def read(
        self, topic: str, start: dict[int, int], end: dict[int, int]
    ) -> list[tuple[float, dict[str, Any]]]:
        """(record timestamp in epoch seconds, event) for every record in [start, end)."""
        tps = [TopicPartition(topic, p) for p in sorted(end) if end[p] > start.get(p, 0)]
        if not tps:
            return []
        self.consumer.assign(tps)
        for tp in tps:
            self.consumer.seek(tp, start.get(tp.partition, 0))
        out: list[tuple[float, dict[str, Any]]] = []
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline:
            positions = [await self.consumer.position(tp) for tp in tps]
            if all(pos >= end[tp.partition] for pos, tp in zip(positions, tps, strict=True)):
                break
            batch = await self.consumer.getmany(timeout_ms=200, max_records=5000)
            for tp, records in batch.items():
                for r in records:
                    if r.offset < end[tp.partition]:
                        out.append((r.timestamp / 1000, json.loads(r.value)))
        return out


# --------------------------------------------------------------------------- measurements


async def settle(side: Side, stack: Stack, limit: float) -> dict[str, Any]:
    """The next measurement starts from rest: the outbox relayed, then (bounded by ``limit``)
    until work other than ours uses under 30 % of a core over 2 s."""
    deadline = time.perf_counter() + 60
    for _ in range(120):
        if not await side.outbox() or time.perf_counter() > deadline:
            break
        await asyncio.sleep(0.5)
    return await wait_for_quiet_run(
        {"nurture": side.pid, "kafka": stack.kafka.pid()}, postmaster_pid(stack), limit
    )


def _meter(side: Side, stack: Stack) -> CpuMeter:
    return CpuMeter({"nurture": side.pid, "kafka": stack.kafka.pid()}, postmaster_pid(stack))


async def throughput_run(
    side: Side,
    stack: Stack,
    topic: StepsTopic,
    params: dict[str, Any],
    rep: int,
    progress: Progress,
    task: Any,
) -> dict[str, Any]:
    n = params["due"]
    label = f"rep {rep + 1}/{params['repeats']} {side.name:5} {n:,} due steps"
    progress.reset(task, total=n, completed=0, description=label)
    before = await settle(side, stack, params["wait_idle_run"])
    offsets0 = await topic.end_offsets(side.steps_topic)
    t_insert = time.perf_counter()
    # due over the last minute, oldest first: all of it is due at once
    ids = await insert_slice(side.engine, n, datetime.now(UTC) - timedelta(minutes=1), 60 / n)
    insert_s = time.perf_counter() - t_insert
    meter = _meter(side, stack)
    with meter:
        t0 = time.perf_counter()
        t0_wall = datetime.now(UTC)
        deadline = t0 + params["run_timeout"]
        last, moved = (n, 0), t0
        while True:
            remaining, outbox = await side.due_pending(), await side.outbox()
            progress.update(task, completed=n - min(n, remaining))
            if (remaining == 0 and outbox == 0) or time.perf_counter() > deadline:
                break
            if (remaining, outbox) != last:
                last, moved = (remaining, outbox), time.perf_counter()
            elif time.perf_counter() - moved > STALL_S:
                side.stalled(
                    f"no progress for {STALL_S:g} s ({remaining:,} due, {outbox:,} in the outbox)"
                )
            side.alive()
            await asyncio.sleep(POLL_S)
        wall = time.perf_counter() - t0
    timed_out = remaining > 0 or outbox > 0
    offsets1 = await topic.end_offsets(side.steps_topic)
    published = sum(offsets1.values()) - sum(offsets0.values())
    states = await side.slice_states(ids)
    emitted = states.get("1:emitted", 0)
    first_at, last_at, last_batch = (
        await _rows(
            side.engine,
            "SELECT min(emitted_at), max(emitted_at), count(*) FILTER (WHERE emitted_at = "
            "(SELECT max(emitted_at) FROM nurture.scheduled_step WHERE lead_id = ANY(:ids) AND "
            "step = 1)) FROM nurture.scheduled_step WHERE lead_id = ANY(:ids) AND step = 1 "
            "AND state = 'emitted'",
            ids=ids,
        )
    )[0]
    span = (last_at - first_at).total_seconds() if first_at and last_at else 0.0
    steady = (emitted - last_batch) / span if span > 0 else None
    run = {
        "database": side.name,
        "repeat": rep + 1,
        "due": n,
        "insert_s": round(insert_s, 2),
        "emitted": emitted,
        "next_steps_scheduled": states.get("2:pending", 0),
        "published": published,
        "timed_out": timed_out,
        "wall_s": round(wall, 2),
        "steps_per_s": round(emitted / wall, 1),
        "steady_steps_per_s": round(steady, 1) if steady else None,
        "first_emitted_after_s": (
            round((first_at - t0_wall).total_seconds(), 2) if first_at else None
        ),
        "cpu": meter.result,
        "before": before,
    }
    cpu = run["cpu"]
    progress.console.log(
        f"{label}: {run['steps_per_s']:.1f} steps/s over {wall:.1f} s (steady "
        f"{fmt(run['steady_steps_per_s'])}/s); {emitted:,} emitted, {published:,} published; "
        f"nurture CPU {cpu['nurture_pct']} %, postgres {cpu['postgres_pct']} %, other "
        f"{cpu['other_pct']} %" + (" [red]TIMED OUT[/red]" if timed_out else "")
    )
    if not timed_out and (emitted != n or published != n or run["next_steps_scheduled"] != n):
        raise RuntimeError(
            f"{side.name}: slice of {n} gave {states} and {published} records on "
            f"{side.steps_topic}: expected each step emitted, published and followed once"
        )
    run["cleanup_s"] = round(await delete_slice(side.engine, ids), 1)
    return run


def _lateness(values: list[float]) -> dict[str, float | None]:
    ms = sorted(round(v * 1000, 1) for v in values)
    return {
        "p50": percentile(ms, 50),
        "p90": percentile(ms, 90),
        "p99": percentile(ms, 99),
        "max": ms[-1] if ms else None,
    }


async def lateness_run(
    side: Side,
    stack: Stack,
    topic: StepsTopic,
    params: dict[str, Any],
    rate: float,
    rep: int,
    progress: Progress,
    task: Any,
) -> dict[str, Any]:
    warmup, duration = params["warmup"], params["duration"]
    n_all = round(rate * (warmup + duration))
    warm = round(rate * warmup)  # due first, not measured
    n = n_all - warm
    label = f"rep {rep + 1}/{params['repeats']} lateness {rate:g} steps/s"
    progress.reset(task, total=warmup + duration, completed=0, description=label)
    before = await settle(side, stack, params["wait_idle_run"])
    offsets0 = await topic.end_offsets(side.steps_topic)
    first_due = datetime.now(UTC) + timedelta(seconds=LATENESS_LEAD_S)
    ids = await insert_slice(side.engine, n_all, first_due, 1 / rate)
    margin = (first_due - datetime.now(UTC)).total_seconds()
    measured_from = first_due + timedelta(seconds=warm / rate)
    await asyncio.sleep(max(0.0, (measured_from - datetime.now(UTC)).total_seconds()))
    meter = _meter(side, stack)
    with meter:  # the window in which the measured steps fall due
        t0 = time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < duration:
            progress.update(task, completed=warmup + elapsed)
            side.alive()
            await asyncio.sleep(min(POLL_S, duration - elapsed))
    progress.update(task, completed=warmup + duration, description=f"{label}: draining")
    backlog = await side.due_pending()
    drain_deadline = time.perf_counter() + params["drain_timeout"]
    while time.perf_counter() < drain_deadline:
        if await side.due_pending() == 0 and await side.outbox() == 0:
            break
        side.alive()
        await asyncio.sleep(POLL_S)
    drain_s = time.perf_counter() - t0 - duration
    rows = await _rows(
        side.engine,
        "SELECT lead_id, extract(epoch FROM emitted_at - due_at) FROM nurture.scheduled_step "
        "WHERE lead_id = ANY(:ids) AND step = 1 AND state = 'emitted' AND due_at >= :since "
        "ORDER BY due_at",
        ids=ids,
        since=measured_from - timedelta(seconds=0.5 / rate),
    )
    late = [float(r[1]) for r in rows]
    half = len(late) // 2
    offsets1 = await topic.end_offsets(side.steps_topic)
    wanted = {str(r[0]) for r in rows}
    published = [
        ts - datetime.fromisoformat(event["data"]["due_at"]).timestamp()
        for ts, event in await topic.read(side.steps_topic, offsets0, offsets1)
        if event["data"]["lead_id"] in wanted
    ]
    first_half, second_half = _lateness(late[:half])["p50"], _lateness(late[half:])["p50"]
    growing = (
        first_half is not None
        and second_half is not None
        and second_half > first_half + 1000 * SATURATED_GROWTH_S
    )
    run = {
        "rate": rate,
        "repeat": rep + 1,
        "steps": n,
        "warmup_steps": warm,
        "insert_margin_s": round(margin, 2),
        "emitted": len(late),
        "unemitted": n - len(late),
        "published": len(published),
        "backlog_at_window_end": backlog,
        "drain_s": round(drain_s, 2),
        "lateness_ms": _lateness(late),
        "published_lateness_ms": _lateness(published),
        "lateness_first_half_p50_ms": first_half,
        "lateness_second_half_p50_ms": second_half,
        "saturated": bool(n - len(late)) or growing,
        "cpu": meter.result,
        "before": before,
    }
    lat, pub, cpu = run["lateness_ms"], run["published_lateness_ms"], run["cpu"]
    progress.console.log(
        f"{label}: lateness p50 {fmt(lat['p50'], 0)} / p90 {fmt(lat['p90'], 0)} / p99 "
        f"{fmt(lat['p99'], 0)} / max {fmt(lat['max'], 0)} ms (to Kafka p50 {fmt(pub['p50'], 0)}, "
        f"p99 {fmt(pub['p99'], 0)} ms); {len(late):,}/{n:,} emitted; nurture CPU "
        f"{cpu['nurture_pct']} %, postgres {cpu['postgres_pct']} %, other {cpu['other_pct']} %"
        + (" [yellow]SATURATED[/yellow]" if run["saturated"] else "")
    )
    run["cleanup_s"] = round(await delete_slice(side.engine, ids), 1)
    return run


# --------------------------------------------------------------------------- orchestration


async def run_all(
    stack: Stack, tmp: Path, procs: list[ServiceProcess], params: dict[str, Any]
) -> dict[str, Any]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    seeded = Side(
        f"{params['seed_steps'] // 1_000_000}M"
        if params["seed_steps"] % 1_000_000 == 0
        else f"{params['seed_steps']:,}",
        stack,
        stack.database_url,
        "benchseeded.",
        db.create_engine(stack.database_url, pool_size=2),
        tmp / "nurture-seeded.log",
        procs,
    )
    result: dict[str, Any] = {"seeded_database": seeded.name}
    sides = [seeded]
    topic = StepsTopic(stack.bootstrap)
    try:
        await ensure_topics(stack.bootstrap, all_topics(seeded.prefix))
        if params["baseline"]:
            # a second database on the same server, migrated, with its own prefix: the baseline
            name = "bench_empty"
            await asyncio.to_thread(stack.postgres.ensure_database, name)
            url = stack.postgres.url(name)
            for spec in SERVICES:
                assert spec.migrations is not None
                await asyncio.to_thread(db.upgrade, spec.migrations, url, spec.schema)
            empty = Side(
                "empty",
                stack,
                url,
                "benchempty.",
                db.create_engine(url, pool_size=2),
                tmp / "nurture-empty.log",
                procs,
            )
            await ensure_topics(stack.bootstrap, all_topics(empty.prefix))
            await vacuum(empty.engine, checkpoint=True)
            sides.append(empty)
        await topic.start()
        with Progress(*columns, console=console, transient=False) as progress:
            # ---- seeding
            s = result["seed"] = await seed(seeded.engine, params["seed_steps"], progress)
            progress.console.log(
                f"seeded {params['seed_steps']:,} steps (+ leads, enrollments) in "
                f"{s['insert_s']:.1f} s ({s['rows_per_s']:,} steps/s); VACUUM ANALYZE "
                f"{s['vacuum_analyze_s']:.1f} s, CHECKPOINT {s['checkpoint_s']:.1f} s; "
                f"scheduled_step {s['table_mb']['scheduled_step']:,} MB, database "
                f"{s['database_mb']:,} MB"
            )
            result["postgres_settings"] = await postgres_settings(seeded.engine)
            result["plans"] = {}
            for side in sides:
                result["plans"][side.name] = await explain_plans(
                    side.database_url, params["nurture_batch_size"], params["due"]
                )
                await vacuum(side.engine, checkpoint=True)  # the rolled-back slice's dead rows
            claim = result["plans"][seeded.name]["claim_due"]
            progress.console.log(
                f"claim_due on {seeded.name}: {_plan_nodes(claim['plan'])}, "
                f"{claim['execution_ms']} ms"
            )

            # ---- throughput: seeded vs empty, alternating; one nurture process at a time
            task = progress.add_task("", total=params["due"])
            runs = []
            for rep in range(params["repeats"]):
                for side in sides if rep % 2 == 0 else list(reversed(sides)):
                    await side.start()
                    try:
                        runs.append(
                            await throughput_run(side, stack, topic, params, rep, progress, task)
                        )
                    finally:
                        await side.stop()
            result["throughput_runs"] = runs

            # ---- lateness at constant rates, seeded database
            runs = []
            await seeded.start()
            try:
                for rep in range(params["repeats"]):
                    for rate in params["rates"]:
                        runs.append(
                            await lateness_run(
                                seeded, stack, topic, params, rate, rep, progress, task
                            )
                        )
            finally:
                await seeded.stop()
            result["lateness_runs"] = runs
            progress.update(task, visible=False)
            result["seed_after"] = await table_stats(seeded.engine)
    finally:
        for side in sides:
            with contextlib.suppress(Exception):
                await side.stop()
            with contextlib.suppress(Exception):
                await side.engine.dispose()
        with contextlib.suppress(Exception):
            await topic.stop()
    return result


# --------------------------------------------------------------------------- aggregation

CPU_KEYS = ("nurture_pct", "postgres_pct", "kafka_pct", "loadgen_pct", "other_pct", "machine_busy_pct")  # fmt: skip


def _ms_per_step(run: dict[str, Any], key: str, per_s: float | None) -> float | None:
    """CPU milliseconds per step: CPU % of one core / steps per second."""
    pct = run["cpu"].get(key)
    return round(10 * pct / per_s, 2) if pct is not None and per_s else None


def summarize(result: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    tp: dict[str, Any] = {}
    for name in dict.fromkeys(r["database"] for r in result["throughput_runs"]):
        runs = [r for r in result["throughput_runs"] if r["database"] == name]
        tp[name] = {
            "steps_per_s": median([r["steps_per_s"] for r in runs], 1),
            "steady_steps_per_s": median([r["steady_steps_per_s"] for r in runs], 1),
            "per_repeat": [r["steps_per_s"] for r in runs],
            "timed_out": sum(r["timed_out"] for r in runs),
            "nurture_cpu_ms_per_step": median(
                [_ms_per_step(r, "nurture_pct", r["steps_per_s"]) for r in runs]
            ),
            "postgres_cpu_ms_per_step": median(
                [_ms_per_step(r, "postgres_pct", r["steps_per_s"]) for r in runs]
            ),
            "cpu_pct": {k: median([r["cpu"].get(k) for r in runs], 1) for k in CPU_KEYS},
        }
    names = list(tp)
    if len(names) == 2:
        a, b = tp[names[0]], tp[names[1]]
        tp["ratio_seeded_over_empty"] = {
            "steps_per_s": ratio(a["steps_per_s"], b["steps_per_s"]),
            "steady_steps_per_s": ratio(a["steady_steps_per_s"], b["steady_steps_per_s"]),
            "nurture_cpu_ms_per_step": ratio(
                a["nurture_cpu_ms_per_step"], b["nurture_cpu_ms_per_step"]
            ),
            "postgres_cpu_ms_per_step": ratio(
                a["postgres_cpu_ms_per_step"], b["postgres_cpu_ms_per_step"]
            ),
        }
    lateness = []
    for rate in params["rates"]:
        runs = [r for r in result["lateness_runs"] if r["rate"] == rate]
        lateness.append(
            {
                "rate": rate,
                "lateness_ms": {
                    k: median([r["lateness_ms"][k] for r in runs], 0)
                    for k in ("p50", "p90", "p99", "max")
                },
                "published_lateness_ms": {
                    k: median([r["published_lateness_ms"][k] for r in runs], 0)
                    for k in ("p50", "p90", "p99", "max")
                },
                "steps_total": sum(r["steps"] for r in runs),
                "unemitted_total": sum(r["unemitted"] for r in runs),
                "saturated_repeats": sum(r["saturated"] for r in runs),
                "nurture_cpu_ms_per_step": median(
                    [_ms_per_step(r, "nurture_pct", rate) for r in runs]
                ),
                "postgres_cpu_ms_per_step": median(
                    [_ms_per_step(r, "postgres_pct", rate) for r in runs]
                ),
                "cpu_pct": {k: median([r["cpu"].get(k) for r in runs], 1) for k in CPU_KEYS},
            }
        )
    return {"throughput": tp, "lateness": lateness}


# --------------------------------------------------------------------------- reporting


def tables(result: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    summary, p = result["summary"], result["parameters"]
    tp = summary["throughput"]
    names = [k for k in tp if k != "ratio_seeded_over_empty"]
    tp_rows = [
        [
            f"{name} pending steps" if name != "empty" else "empty (baseline)",
            fmt(tp[name]["steps_per_s"]),
            fmt(tp[name]["steady_steps_per_s"]),
            ", ".join(fmt(v) for v in tp[name]["per_repeat"]),
            str(tp[name]["timed_out"]),
            fmt(tp[name]["cpu_pct"]["nurture_pct"], 0),
            fmt(tp[name]["nurture_cpu_ms_per_step"], 2),
            fmt(tp[name]["cpu_pct"]["postgres_pct"], 0),
            fmt(tp[name]["postgres_cpu_ms_per_step"], 2),
            fmt(tp[name]["cpu_pct"]["kafka_pct"], 0),
            fmt(tp[name]["cpu_pct"]["machine_busy_pct"], 0),
            fmt(tp[name]["cpu_pct"]["other_pct"], 0),
        ]
        for name in names
    ]
    if "ratio_seeded_over_empty" in tp:
        r = tp["ratio_seeded_over_empty"]
        tp_rows.append(
            [f"ratio {names[0]} / empty", fmt(r["steps_per_s"], 2), fmt(r["steady_steps_per_s"], 2),
             "", "", "", fmt(r["nurture_cpu_ms_per_step"], 2), "",
             fmt(r["postgres_cpu_ms_per_step"], 2), "", "", ""]
        )  # fmt: skip
    lat_rows = []
    for row in summary["lateness"]:
        lat, pub = row["lateness_ms"], row["published_lateness_ms"]
        lat_rows.append(
            [
                fmt(row["rate"], 0),
                fmt(lat["p50"], 0),
                fmt(lat["p90"], 0),
                fmt(lat["p99"], 0),
                fmt(lat["max"], 0),
                fmt(pub["p50"], 0),
                fmt(pub["p99"], 0),
                fmt(pub["max"], 0),
                f"{row['unemitted_total']} / {row['steps_total']:,}",
                f"{row['saturated_repeats']}/{p['repeats']}",
                fmt(row["cpu_pct"]["nurture_pct"], 0),
                fmt(row["nurture_cpu_ms_per_step"], 2),
                fmt(row["cpu_pct"]["postgres_pct"], 0),
                fmt(row["cpu_pct"]["machine_busy_pct"], 0),
                fmt(row["cpu_pct"]["other_pct"], 0),
            ]
        )
    plan_rows = []
    for side, plans in result["plans"].items():
        for query, plan in plans.items():
            plan_rows.append(
                [
                    side,
                    query,
                    _plan_nodes(plan["plan"]),
                    fmt(plan["execution_ms"], 2),
                ]
            )
    return [
        (
            f"Due-step throughput: {p['due']:,} steps due at once, until all emitted and "
            f"published (medians of {p['repeats']} repeat(s))",
            ["database", "steps/s (wall)", "steps/s (steady)", "per repeat", "timed out",
             "nurture CPU %", "nurture CPU ms/step", "postgres CPU %", "postgres CPU ms/step",
             "kafka CPU %", "machine busy %", "other CPU %"],
            tp_rows,
        ),
        (
            f"Lateness of steps falling due at a constant rate for {p['duration']:g} s, with "
            f"{p['seed_steps']:,} pending steps (medians of {p['repeats']} repeat(s); "
            "includes the 1 s tick)",
            ["due steps/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "to Kafka p50 ms",
             "to Kafka p99 ms", "to Kafka max ms", "not emitted / due", "saturated",
             "nurture CPU %", "nurture CPU ms/step", "postgres CPU %", "machine busy %",
             "other CPU %"],
            lat_rows,
        ),
        (
            f"The scheduler's queries with {p['due']:,} steps due (EXPLAIN ANALYZE, rolled "
            "back; statistics of before the slice, as in a run)",
            ["database", "query", "plan", "execution ms"],
            plan_rows,
        ),
    ]  # fmt: skip


def _before(run: dict[str, Any]) -> str:
    b = run.get("before") or {}
    return f"other {b.get('other_pct', '-')} % after waiting {b.get('waited_s', '-')} s"


def markdown(result: dict[str, Any]) -> str:
    """``nurture.md``: the due-step sections (when measured) and the enrollments section."""
    from tests.bench import nurture_enrollments

    steps = _steps_markdown(result) if "throughput_runs" in result else "# Nurture benchmark\n"
    return steps + "\n".join(["", *nurture_enrollments.markdown(result.get("enrollments", {}))])


def _steps_markdown(result: dict[str, Any]) -> str:
    m, p, s = result["machine"], result["parameters"], result["seed"]
    idle = p["idle_before_start"]
    quiet = "quiet" if idle["quiet"] else "NOT quiet: other jobs were running"
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    pg = result["postgres_settings"]
    rates = ", ".join(f"{r:g}" for r in p["rates"])
    seeded_name = result["seeded_database"]
    code = p.get("code") or {}
    lines = [
        "# Nurture benchmark: due-step throughput with 1M pending steps vs empty, lateness",
        "",
        f"- date: {m['date']} (whole run {result['elapsed_s']:.0f} s)",
        f"- machine: {machine_line(m)}",
        f"- Python {m['python']}, Kafka {m['kafka_version']}, PostgreSQL {pg['server_version']} "
        f"(shared_buffers {pg['shared_buffers']}, fsync {pg['fsync']}, synchronous_commit "
        f"{pg['synchronous_commit']}, plan_cache_mode {pg['plan_cache_mode']}); {packages}",
        f"- command: `{p['command']}`",
        f"- code: commit {code.get('commit')}; {', '.join(code.get('paths', []))} "
        + ("with uncommitted changes" if code.get("dirty") else "as committed")
        + (
            "; **the code changed during the run** (processes started later ran other code: "
            "compare with care)"
            if result.get("code_changed_during_run")
            else "; unchanged during the run"
        ),
        f"- machine before start: {idle['busy_pct']:g} % busy over 3 s after waiting "
        f"{idle['waited_s']:g} s ({quiet})",
        f"- parameters: {p['seed_steps']:,} pending steps seeded; throughput slices of "
        f"{p['due']:,} due steps; lateness at {rates} steps/s for {p['duration']:g} s each"
        + (
            f" (after {p['warmup']:g} s of unmeasured warm-up steps)"
            if p.get("warmup")
            else " (no warm-up)"
        )
        + ", "
        f"drain timeout {p['drain_timeout']:g} s; {p['repeats']} repeat(s) of everything, "
        f"medians reported; one nurture process, tick {p['nurture_tick_seconds']:g} s, batch "
        f"{p['nurture_batch_size']}, sweep every {p['nurture_sweep_seconds']:g} s (the "
        f"defaults); sequences file `{p['sequences_file']}`",
        "",
        f"> **Caveat: this machine has {m['nproc']} cores and everything shares them**: nurture "
        "(one process, one event loop, one transaction per batch of 200), PostgreSQL (fsync on), "
        "Kafka (a JVM) and this benchmark's polling. Compare the seeded and empty figures from "
        "the same run rather than reading absolute numbers as production capacity. 'other CPU' "
        "is CPU used by anything else on the machine (other jobs, the kernel): when it is high "
        "the run was disturbed (see the per-repeat lines). **Lateness includes the scheduler "
        f"tick**: a step is claimed at the first tick at or after its due time, so with a "
        f"{p['nurture_tick_seconds']:g} s tick even an idle scheduler is up to "
        f"{p['nurture_tick_seconds']:g} s late (p50 about half of it).",
        "",
        "## Seeding",
        "",
        f"- {p['seed_steps']:,} pending steps, each with its lead and active enrollment, in "
        f"{s['insert_s']:.1f} s ({s['rows_per_s']:,} steps/s; {s['statements']} INSERT ... "
        f"SELECT FROM generate_series statements of up to {SEED_CHUNK:,} rows, lead + "
        f"enrollment + step in one statement each), VACUUM ANALYZE {s['vacuum_analyze_s']:.1f} s, "
        f"CHECKPOINT {s['checkpoint_s']:.1f} s; total {s['total_s']:.1f} s",
        f"- due between {s['pending_due_from'][:16]} and {s['pending_due_to'][:16]} UTC "
        f"(uniform over {BACKGROUND_SPREAD_DAYS} days from an hour after seeding: none falls "
        "due during the run); enrollments by sequence: "
        + ", ".join(f"{k} {v:,}" for k, v in s["enrollments_by_sequence"].items()),
        f"- sizes: nurture.scheduled_step {s['table_mb']['scheduled_step']:,} MB with indexes ("
        + ", ".join(f"{k} {v:g} MB" for k, v in s["scheduled_step_index_mb"].items())
        + f"), nurture.lead {s['table_mb']['lead']:,} MB, nurture.enrollment "
        f"{s['table_mb']['enrollment']:,} MB, database {s['database_mb']:,} MB",
        "",
    ]
    lines += markdown_tables(tables(result))
    claim = result["plans"][seeded_name]["claim_due"]
    prepared = result["plans"][seeded_name]["claim_due_prepared"]
    lines += [
        f"The claim on the {seeded_name} table (EXPLAIN ANALYZE, BUFFERS):",
        "",
        "```",
        *claim["plan"],
        "```",
        "",
        "As a prepared statement with parameters (how asyncpg runs it), after 8 executions: "
        + ("PostgreSQL switched to its **generic plan**" if prepared["generic"] else
           "PostgreSQL kept custom plans")
        + f" ({_plan_nodes(prepared['plan'])}, {fmt(prepared['execution_ms'], 2)} ms).",
        "",
        "'steps/s (wall)' = slice / time from the commit of the slice until every step of it "
        "was `emitted` and `nurture.outbox` was empty (published). 'steps/s (steady)' = steps "
        "emitted between the first and the last batch / the time between them (`emitted_at` "
        "is the start of the batch). 'CPU ms/step' = CPU % of one core / steps per second. "
        "Lateness = `emitted_at - due_at` of each row (the claim time of its batch, before the "
        "commit); 'to Kafka' = the record's timestamp on `nurture.steps.v1` (when the outbox "
        "relay sent it) - `due_at`. 'saturated' = repeats where a step was not emitted within "
        "the window + drain timeout, or the second half's p50 lateness exceeded the first "
        f"half's by over {SATURATED_GROWTH_S:g} s.",
        "",
    ]  # fmt: skip
    for run in result["throughput_runs"]:
        cpu = run["cpu"]
        lines.append(
            f"- throughput {run['database']} repeat {run['repeat']}: {run['steps_per_s']:g} "
            f"steps/s in {run['wall_s']:g} s; steady {fmt(run['steady_steps_per_s'])}; first "
            f"emitted after {fmt(run['first_emitted_after_s'], 2)} s; {run['emitted']:,} "
            f"emitted, {run['published']:,} published, {run['next_steps_scheduled']:,} next "
            f"steps scheduled; slice inserted in {run['insert_s']:g} s; CPU nurture "
            f"{cpu['nurture_pct']} %, postgres {cpu['postgres_pct']} %, kafka {cpu['kafka_pct']} "
            f"%, other {cpu['other_pct']} % (before: {_before(run)})"
            + ("; TIMED OUT" if run["timed_out"] else "")
        )
    lines.append("")
    for run in result["lateness_runs"]:
        lat, pub, cpu = run["lateness_ms"], run["published_lateness_ms"], run["cpu"]
        lines.append(
            f"- lateness {run['rate']:g}/s repeat {run['repeat']}: p50 {fmt(lat['p50'], 0)} / "
            f"p90 {fmt(lat['p90'], 0)} / p99 {fmt(lat['p99'], 0)} / max {fmt(lat['max'], 0)} ms; "
            f"to Kafka p50 {fmt(pub['p50'], 0)} / p99 {fmt(pub['p99'], 0)} / max "
            f"{fmt(pub['max'], 0)} ms; first/second-half p50 "
            f"{fmt(run['lateness_first_half_p50_ms'], 0)}/"
            f"{fmt(run['lateness_second_half_p50_ms'], 0)} ms; {run['emitted']:,}/{run['steps']:,} "
            f"emitted, {run['published']:,} published; due backlog at window end "
            f"{run['backlog_at_window_end']}; CPU nurture {cpu['nurture_pct']} %, postgres "
            f"{cpu['postgres_pct']} %, kafka {cpu['kafka_pct']} %, other {cpu['other_pct']} % "
            f"(before: {_before(run)})" + ("; SATURATED" if run["saturated"] else "")
        )
    all_runs = [*result["throughput_runs"], *result["lateness_runs"]]
    disturbed = [
        f"{r.get('database', 'lateness')} rep {r['repeat']}"
        + (f" {r['rate']:g}/s" if "rate" in r else "")
        + f" (other {r['cpu']['other_pct']:g} %)"
        for r in all_runs
        if (r["cpu"].get("other_pct") or 0) > DISTURBED_OTHER_PCT
    ]
    not_quiet = sum(1 for r in all_runs if not (r.get("before") or {}).get("quiet", True))
    waited = sum((r.get("before") or {}).get("waited_s", 0) for r in all_runs)
    lines += [
        "",
        f"Runs disturbed by other work on the machine ('other' CPU over {DISTURBED_OTHER_PCT} % "
        "of a core; medians limit their weight): " + ("; ".join(disturbed) or "none") + ".",
        f"Before each measurement the benchmark waited (up to {p['wait_idle_run']:g} s) for "
        f"other work to drop under 30 % of a core: {waited:.0f} s in all, including the 2 s "
        f"check before each; {not_quiet} of {len(all_runs)} measurement(s) started with the "
        "machine still busy.",
        "",
        "## Method",
        "",
        "- Own throw-away stack in a temp dir on free loopback ports: embedded PostgreSQL with "
        "fsync on (its default configuration), a KRaft Kafka broker, migrations, topics. The "
        "seeded database is the stack's; the baseline is a second database on the same server, "
        "migrated, empty; each has its own topic prefix and consumer group.",
        "- Nurture is the real service: one uvicorn process (`ServiceProcess`, log level "
        "WARNING, `LEADFLOW_ENV=test`) with the default tick, batch and sweep settings spelled "
        "out in its environment; only the sequences file is `tests/fixtures/nurture-24x7.yaml` "
        "(no send windows, no quiet hours, a cap of 50 a week), so no step is deferred and the "
        "results do not depend on the time of day. It runs its whole runtime: consumer (idle "
        "topics), outbox relay, scheduler, lifecycle sweep, timer gauges (which count the "
        "pending steps every 15 s).",
        f"- Seed: {p['seed_steps']:,} leads (email, a third with a phone, eight time zones), "
        "one active enrollment each in a sequence of the fixture (uniform), and one pending "
        "step each (a random step of that sequence), due uniformly over "
        f"{BACKGROUND_SPREAD_DAYS} days from an hour after seeding; leads are recent, so the "
        "lifecycle sweep finds nothing to do. Random UUIDs (`gen_random_uuid()`) as in "
        "production. No emitted history is seeded.",
        f"- Slices: new leads with step 1 of `{SLICE_SEQUENCE}` (email), enrolled, committed in "
        "one `INSERT ... SELECT FROM generate_series` statement while nurture runs. Emitting a "
        "step writes its outbox row and schedules step 2 (two days on). After each run the "
        "slice is deleted (its steps, the steps it scheduled, enrollments, leads) and the "
        "tables vacuumed, so every run starts from the same table.",
        "- Throughput: one nurture process at a time (started before, stopped after each run); "
        "repeats alternate which database goes first. Done = no step due and pending, and the "
        "outbox empty; then checked: every step of the slice emitted, its step 2 scheduled, "
        "and exactly one record per step on the topic (end offsets).",
        f"- Lateness: the slice is committed {LATENESS_LEAD_S:g} s before its first step is "
        "due; its steps fall due at t0 + i / rate (those of the warm-up, if any, first: they "
        "are emitted but not measured); CPU is measured over the window in which the measured "
        "ones fall due; then the benchmark waits (up to the drain timeout) for all of them. "
        "The records are read back from the topic afterwards (no consumer runs during the "
        "measurement).",
        "- Before each measurement the outbox is drained and other work on the machine is "
        "checked over 2 s (see above). CPU figures come from /proc (postgres = postmaster + "
        "backends), in % of one core; 'machine busy' is % of all cores. The benchmark polls "
        f"two counts every {POLL_S:g} s during a throughput run (part of the postgres CPU). "
        "Raw per-repeat figures and full query plans are in `nurture.json`.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


async def _enrollments(
    stack: Stack, tmp: Path, procs: list[ServiceProcess], params: dict[str, Any]
) -> list[dict[str, Any]]:
    from tests.bench import nurture_enrollments

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TaskProgressColumn(), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=False) as progress:
        return await nurture_enrollments.run_enrollments(stack, tmp, procs, params, progress)


def _parse_rates(value: str) -> list[float]:
    try:
        rates = [float(x) for x in value.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter("comma-separated numbers, e.g. 50,200") from None
    if not rates or any(not 0 < r <= MAX_RATE for r in rates):
        raise typer.BadParameter(f"each rate must be in (0, {MAX_RATE:g}]")
    return rates


@app.command()
def main(
    seed_steps: Annotated[
        int, typer.Option(help="pending steps seeded into nurture.scheduled_step")
    ] = 1_000_000,
    due: Annotated[int, typer.Option(help="throughput: steps due at once per run")] = 20_000,
    rates: Annotated[
        str, typer.Option(help="lateness: steps falling due per second, comma separated")
    ] = "50,200",
    duration: Annotated[
        float, typer.Option(help="lateness: seconds over which the steps fall due, per run")
    ] = 30.0,
    warmup: Annotated[
        float,
        typer.Option(help="lateness: seconds of steps falling due before the measured ones"),
    ] = 0.0,
    repeats: Annotated[
        int, typer.Option(help="repeats of every measurement (medians reported)")
    ] = 3,
    baseline: Annotated[
        bool, typer.Option(help="also measure throughput against an empty table")
    ] = True,
    run_timeout: Annotated[
        float, typer.Option(help="throughput: give up on a slice after this many s")
    ] = 600.0,
    drain_timeout: Annotated[
        float, typer.Option(help="lateness: wait this long after the window for the last steps")
    ] = 120.0,
    out: Annotated[Path, typer.Option(help="results directory")] = RESULTS_DIR,
    wait_idle: Annotated[
        float,
        typer.Option(
            help="before starting, wait up to this many seconds for the machine to be quiet "
            "(other processes' CPU under 25 % of all cores)"
        ),
    ] = 300.0,
    wait_idle_run: Annotated[
        float,
        typer.Option(
            help="before each measurement, wait up to this many seconds for other work on the "
            "machine to drop under 30 % of a core"
        ),
    ] = 60.0,
    measure: Annotated[
        str,
        typer.Option(
            help="all | steps (due-step throughput and lateness) | enrollments (decisions "
            "drained per second); what is not measured is kept from nurture.json"
        ),
    ] = "all",
    enrollments: Annotated[
        int, typer.Option(help="enrollments: leads.assigned.v1 decisions published per repeat")
    ] = 20_000,
    label: Annotated[
        str,
        typer.Option(
            help="enrollments: the name of the measured code in the results (before, after, "
            "current ...); an earlier result under the same name is replaced"
        ),
    ] = "current",
    render_only: Annotated[
        bool, typer.Option(help="only re-render nurture.md (and the tables) from nurture.json")
    ] = False,
    keep: Annotated[
        bool, typer.Option(help="keep the temp dir (logs, data) for inspection")
    ] = False,
) -> None:
    """Nurture due-step throughput (1M pending steps vs empty), lateness at constant rates,
    and enrollments per second from a burst of routing decisions."""
    if render_only:
        result = json.loads((out / "nurture.json").read_text())
        if "throughput_runs" in result:
            result["summary"] = summarize(result, result["parameters"])
        (out / "nurture.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
        (out / "nurture.md").write_text(markdown(result))
        if "throughput_runs" in result:
            print_tables(tables(result))
        console.print(f"re-rendered {out / 'nurture.md'} from {out / 'nurture.json'}")
        return
    if measure not in ("all", "steps", "enrollments"):
        raise typer.BadParameter("--measure must be all, steps or enrollments")
    if not (1000 <= enrollments <= MAX_DUE):
        raise typer.BadParameter(f"--enrollments must be in [1000, {MAX_DUE:,}]")
    if not label or not all(c.isalnum() or c in "-_" for c in label):
        raise typer.BadParameter("--label: letters, digits, - and _")
    measure_steps, measure_enrollments = measure != "enrollments", measure != "steps"
    rate_list = _parse_rates(rates)
    checks = [
        (1000 <= seed_steps <= MAX_SEED, f"--seed-steps must be in [1000, {MAX_SEED:,}]"),
        (100 <= due <= MAX_DUE, f"--due must be in [100, {MAX_DUE:,}]"),
        (0 < duration <= MAX_DURATION, f"--duration must be in (0, {MAX_DURATION:g}]"),
        (0 <= warmup <= MAX_WARMUP, f"--warmup must be in [0, {MAX_WARMUP:g}]"),
        (
            all(1 <= round(r * duration) and r * (warmup + duration) <= MAX_DUE for r in rate_list),
            f"each rate x --duration must give at least 1 step, rate x (--warmup + --duration) "
            f"at most {MAX_DUE:,}",
        ),
        (1 <= repeats <= MAX_REPEATS, f"--repeats must be in [1, {MAX_REPEATS}]"),
        (0 < run_timeout <= MAX_RUN_TIMEOUT, f"--run-timeout must be in (0, {MAX_RUN_TIMEOUT:g}]"),
        (0 < drain_timeout <= MAX_DRAIN, f"--drain-timeout must be in (0, {MAX_DRAIN:g}]"),
        (0 <= wait_idle <= 1800, "--wait-idle must be in [0, 1800]"),
        (0 <= wait_idle_run <= 600, "--wait-idle-run must be in [0, 600]"),
    ]
    for ok, message in checks:
        if not ok:
            raise typer.BadParameter(message)

    factory, loop_name = loop_factory()
    params: dict[str, Any] = {
        "command": " ".join(["python -m tests.bench.nurture", *sys.argv[1:]]),
        "seed_steps": seed_steps,
        "due": due,
        "rates": rate_list,
        "duration": duration,
        "warmup": warmup,
        "repeats": repeats,
        "baseline": baseline,
        "run_timeout": run_timeout,
        "drain_timeout": drain_timeout,
        "wait_idle_run": wait_idle_run,
        "client_loop": loop_name,
        "sequences_file": str(SEQUENCES_FILE.relative_to(REPO_ROOT)),
        "postgres_durable": True,
        **DEFAULTS,
    }

    def on_sigterm(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    per_slice = run_timeout + wait_idle_run + 30
    per_rate = LATENESS_LEAD_S + warmup + duration + drain_timeout + wait_idle_run + 30
    worst = repeats * ((2 if baseline else 1) * per_slice + len(rate_list) * per_rate)
    worst = (worst if measure_steps else 0) + (
        repeats * (run_timeout + wait_idle_run + 90) if measure_enrollments else 0
    )
    console.log(
        f"bounded: at most ~{worst / 60:.0f} min of measurements (timeouts)"
        + (f" plus seeding {seed_steps:,} steps" if measure_steps else "")
    )
    params["idle_before_start"] = wait_for_quiet(wait_idle)
    params["code"] = code_version(*CODE_PATHS)
    eparams = {
        "command": params["command"],
        "cwd": str(REPO_ROOT),
        "enrollments": enrollments,
        "repeats": repeats,
        "run_timeout": run_timeout,
        "wait_idle_run": wait_idle_run,
        "client_loop": loop_name,
        "sequences_file": params["sequences_file"],
        "idle_before_start": params["idle_before_start"],
        "code": params["code"],
        **DEFAULTS,
    }
    machine = machine_info()
    started = time.perf_counter()
    raw: dict[str, Any] | None = None
    enroll_runs: list[dict[str, Any]] | None = None
    try:
        with bench_stack("nurture", keep) as (stack, tmp, procs):
            with asyncio.Runner(loop_factory=factory) as runner:
                if measure_steps:
                    raw = runner.run(run_all(stack, tmp, procs, params))
                if measure_enrollments:
                    enroll_runs = runner.run(_enrollments(stack, tmp, procs, eparams))
    except KeyboardInterrupt:
        console.print("[red]interrupted: stack torn down, no results written[/red]")
        raise typer.Exit(130) from None

    # each run starts a fresh nurture process: had the code changed meanwhile, say so
    changed = code_version(*CODE_PATHS)["fingerprint"] != params["code"]["fingerprint"]
    if changed:
        console.log("[red]services/nurture or shared changed during the run: see nurture.md[/red]")
    path = out / "nurture.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    if raw is not None:
        result = {
            "machine": machine,
            "parameters": params,
            "elapsed_s": round(time.perf_counter() - started, 1),
            **raw,
            "code_changed_during_run": changed,
        }
        result["summary"] = summarize(result, params)
    else:
        result = {k: v for k, v in previous.items() if k != "enrollments"}
    result["enrollments"] = dict(previous.get("enrollments", {}))
    if enroll_runs is not None:
        from tests.bench import nurture_enrollments

        eparams["code_changed_during_run"] = changed
        result["enrollments"][label] = {
            "machine": machine,
            "parameters": eparams,
            "runs": enroll_runs,
            "summary": nurture_enrollments.summarize(enroll_runs),
        }
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    (out / "nurture.md").write_text(markdown(result))
    if "throughput_runs" in result:
        print_tables(tables(result))
    console.print(
        f"results: {out / 'nurture.json'}, {out / 'nurture.md'} "
        f"({time.perf_counter() - started:.0f} s)"
    )


if __name__ == "__main__":
    app()

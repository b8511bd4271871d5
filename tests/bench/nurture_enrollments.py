"""Nurture benchmark, enrollments per second: how fast nurture's consumer of routing
decisions drains a burst of ``leads.assigned.v1`` events, as during a purchased-list import
(the router can emit 1,000+ decisions/s then).

Run through ``python -m tests.bench.nurture --measure enrollments [--enrollments 20000]
[--repeats 3] [--label after]``; the figures go into ``nurture.json`` under
``enrollments.<label>`` and a section of ``nurture.md`` (the other sections are kept).

Per repeat: a fresh nurture process (the real service, default settings, the 24x7
sequences fixture) on its own migrated database and topic prefix; one warm-up decision
until it is processed (the consumer has joined its group); then ``--enrollments``
pre-built decisions are published as fast as the producer takes them, and the clock runs
from the first publish until every decision is processed (its enrollments committed), and
on until the outbox is empty (every lifecycle event published). The mix: 90 % new
purchased-list names (one enrollment each), 6 % web leads below MQL (welcome and a drip:
two), 4 % web leads handed to sales (the welcome, paused); 5 % of all arrivals are a name
seen earlier in the run coming again on another list (no new enrollment). Each repeat has a
database of its own, created and migrated before and dropped after it, so every repeat
starts from the same fresh schema (emptied tables with the statistics of a previous repeat
planned differently and made later repeats slower)."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.progress import Progress
from sqlalchemy import text

from shared import db
from shared.events.registry import LEAD_ASSIGNED
from shared.kafka.producer import EventProducer
from shared.kafka.topics import all_topics, ensure_topics
from shared.stack.stack import SERVICES, ServiceProcess, Stack
from tests.bench.common import fmt, median, ratio
from tests.nurture_env import assigned

DATABASE = "bench_enroll"
PREFIX = "benchenroll."
PUBLISH_CHUNK = 1000
RETURNING_SHARE = 0.05  # a name seen earlier in the run, again on another list
MIX = (  # (share of the new arrivals, kind, enrollments each)
    (0.90, "list_name", 1),
    (0.06, "web_nurture", 2),
    (0.04, "web_sales", 1),
)
ZONES = ["America/New_York", "Europe/Berlin", "America/Los_Angeles", None]
CPU_KEYS = ("nurture_pct", "postgres_pct", "kafka_pct", "loadgen_pct", "other_pct", "machine_busy_pct")  # fmt: skip


def decisions(n: int, seed: int) -> tuple[list[tuple[bytes, bytes]], int, dict[str, int]]:
    """n ``leads.assigned.v1`` events as (key, value) bytes, the enrollments they must
    create, and how many of each kind."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    out: list[tuple[bytes, bytes]] = []
    names: list[uuid.UUID] = []
    expected = 0
    kinds = dict.fromkeys([k for _, k, _ in MIX] + ["returning_name"], 0)
    for i in range(n):
        if names and rng.random() < RETURNING_SHARE:
            lead, kind, enrollments = rng.choice(names), "returning_name", 0
        else:
            lead = uuid.UUID(int=rng.getrandbits(128), version=4)
            r, kind, enrollments = rng.random(), MIX[-1][1], MIX[-1][2]
            for share, k, e in MIX:
                if r < share:
                    kind, enrollments = k, e
                    break
                r -= share
        email = f"name{seed}.{i}@example.com"
        phone = f"+1415555{i % 10000:04d}" if i % 3 == 0 else None
        tz = ZONES[i % len(ZONES)]
        if kind in ("list_name", "returning_name"):
            if kind == "list_name":
                names.append(lead)
            event = assigned(
                lead, now, outcome="nurture", channel="purchased_list", purchased_list=True,
                stage="none", temperature="cold", email=email, phone=phone, timezone=tz,
            )  # fmt: skip
        elif kind == "web_nurture":
            event = assigned(
                lead, now, outcome="nurture", channel="web", stage="none",
                temperature=rng.choice(["cold", "warm"]), email=email, phone=phone, timezone=tz,
            )  # fmt: skip
        else:
            event = assigned(
                lead, now, outcome="assigned", channel="web", stage="sql", temperature="hot",
                email=email, phone=phone, timezone=tz,
            )  # fmt: skip
        out.append((str(lead).encode(), event.to_bytes()))
        expected += enrollments
        kinds[kind] += 1
    return out, expected, kinds


async def _scalar(engine: Any, query: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(query), params)).scalar()


def _fallbacks(url: str) -> float:
    """Batches the running nurture had to handle one message at a time (0 without batches)."""
    body = httpx.get(f"{url}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith("leadflow_consumer_batch_fallbacks_total{")
    )


async def prepare(stack: Stack, tmp: Path, procs: list[ServiceProcess], rep: int) -> Any:
    """A fresh migrated database for one repeat, and the topics; returns the side to run on."""
    from tests.bench.nurture import Side

    name = f"{DATABASE}_{rep + 1}"
    await asyncio.to_thread(stack.postgres.ensure_database, name)
    url = stack.postgres.url(name)
    for spec in SERVICES:
        assert spec.migrations is not None
        await asyncio.to_thread(db.upgrade, spec.migrations, url, spec.schema)
    await ensure_topics(stack.bootstrap, all_topics(PREFIX))
    return Side(
        name, stack, url, PREFIX, db.create_engine(url, pool_size=2),
        tmp / f"nurture-enrollments-{rep + 1}.log", procs,
    )  # fmt: skip


async def drop(stack: Stack, side: Any) -> None:
    await side.engine.dispose()
    admin = db.create_engine(stack.postgres.url("postgres"), pool_size=1)
    try:
        async with admin.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.execute(text(f'DROP DATABASE IF EXISTS "{side.name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


async def enrollment_run(
    side: Any,
    stack: Stack,
    params: dict[str, Any],
    rep: int,
    progress: Progress,
    task: Any,
) -> dict[str, Any]:
    from tests.bench.nurture import POLL_S, STALL_S, _meter, settle

    n = params["enrollments"]
    label = f"rep {rep + 1}/{params['repeats']} {n:,} decisions"
    progress.reset(task, total=n, completed=0, description=f"{label}: building events")
    messages, expected, kinds = await asyncio.to_thread(decisions, n, rep)
    topic = side.prefix + LEAD_ASSIGNED.topic
    producer = EventProducer(stack.bootstrap, client_id="bench-enrollments")
    await producer.start(required=True)
    await side.start()
    try:
        warm = assigned(uuid.uuid4(), datetime.now(UTC), outcome="nurture", stage="none")
        await producer.publish_many([(topic, warm.subject.encode(), warm.to_bytes(), ())])
        deadline = time.perf_counter() + 60
        while not await _scalar(side.engine, "SELECT count(*) FROM nurture.processed_event"):
            if time.perf_counter() > deadline:
                side.stalled("did not process the warm-up decision in 60 s")
            side.alive()
            await asyncio.sleep(POLL_S)
        before = await settle(side, stack, params["wait_idle_run"])
        p0 = int(await _scalar(side.engine, "SELECT count(*) FROM nurture.processed_event"))
        e0 = int(await _scalar(side.engine, "SELECT count(*) FROM nurture.enrollment"))
        fallbacks0 = await asyncio.to_thread(_fallbacks, side.proc.url)
        progress.update(task, description=label)
        meter = _meter(side, stack)
        with meter:
            t0 = time.perf_counter()
            t0_wall = datetime.now(UTC)
            for i in range(0, n, PUBLISH_CHUNK):
                chunk = messages[i : i + PUBLISH_CHUNK]
                await producer.publish_many([(topic, k, v, ()) for k, v in chunk])
            publish_s = time.perf_counter() - t0
            enrolled_s = published_s = None
            last, moved = -1, time.perf_counter()
            deadline = t0 + params["run_timeout"]
            while time.perf_counter() < deadline:
                done = (
                    int(await _scalar(side.engine, "SELECT count(*) FROM nurture.processed_event"))
                    - p0
                )
                progress.update(task, completed=min(done, n))
                if done >= n and enrolled_s is None:
                    enrolled_s = time.perf_counter() - t0
                if enrolled_s is not None and not await side.outbox():
                    published_s = time.perf_counter() - t0
                    break
                if done != last:
                    last, moved = done, time.perf_counter()
                elif time.perf_counter() - moved > STALL_S:
                    side.stalled(f"no progress for {STALL_S:g} s ({done:,}/{n:,} processed)")
                side.alive()
                await asyncio.sleep(POLL_S)
        fallbacks = await asyncio.to_thread(_fallbacks, side.proc.url) - fallbacks0
    finally:
        await side.stop()
        await producer.stop()
    created = int(await _scalar(side.engine, "SELECT count(*) FROM nurture.enrollment")) - e0
    first, last_at = await _rows1(
        side.engine,
        "SELECT min(processed_at), max(processed_at) FROM nurture.processed_event "
        "WHERE processed_at >= :t0",
        t0=t0_wall,
    )
    span = (last_at - first).total_seconds() if first and last_at else 0.0
    timed_out = enrolled_s is None or published_s is None
    wall = enrolled_s or (time.perf_counter() - t0)
    cpu = meter.result
    run = {
        "repeat": rep + 1,
        "decisions": n,
        "kinds": kinds,
        "enrollments_expected": expected,
        "enrollments_created": created,
        "publish_s": round(publish_s, 2),
        "enrolled_s": round(enrolled_s, 2) if enrolled_s else None,
        "published_s": round(published_s, 2) if published_s else None,
        "timed_out": timed_out,
        "decisions_per_s": round(n / wall, 1),
        "enrollments_per_s": round(created / wall, 1),
        "steady_decisions_per_s": round(n / span, 1) if span > 0 else None,
        "batch_fallbacks": fallbacks,
        "cpu": cpu,
        # CPU ms per decision over the whole window (until every lifecycle event is out)
        "cpu_ms_per_decision": {
            k.removesuffix("_pct"): round(10 * v * (published_s or wall) / n, 3)
            for k in ("nurture_pct", "postgres_pct", "kafka_pct", "loadgen_pct")
            if (v := cpu.get(k)) is not None
        },
        "before": before,
    }
    progress.console.log(
        f"{label}: {run['decisions_per_s']:,.0f} decisions/s, {run['enrollments_per_s']:,.0f} "
        f"enrollments/s ({created:,} in {fmt(enrolled_s, 1)} s, all published after "
        f"{fmt(published_s, 1)} s, published in {publish_s:.1f} s); CPU nurture "
        f"{cpu['nurture_pct']} %, postgres {cpu['postgres_pct']} %, kafka {cpu['kafka_pct']} %, "
        f"other {cpu['other_pct']} %" + (" [red]TIMED OUT[/red]" if timed_out else "")
    )
    if not timed_out and created != expected:
        raise RuntimeError(f"{n} decisions created {created} enrollments, expected {expected}")
    return run


async def _rows1(engine: Any, query: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(query), params)).one()


async def run_enrollments(
    stack: Stack, tmp: Path, procs: list[ServiceProcess], params: dict[str, Any], progress: Progress
) -> list[dict[str, Any]]:
    task = progress.add_task("", total=params["enrollments"])
    runs = []
    try:
        for rep in range(params["repeats"]):
            side = await prepare(stack, tmp, procs, rep)
            try:
                runs.append(await enrollment_run(side, stack, params, rep, progress, task))
            finally:
                await side.stop()
                await drop(stack, side)
    finally:
        progress.update(task, visible=False)
    return runs


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def med(key: str, digits: int = 1) -> float | None:
        return median([r[key] for r in runs], digits)

    return {
        "decisions_per_s": med("decisions_per_s"),
        "enrollments_per_s": med("enrollments_per_s"),
        "per_repeat": [r["enrollments_per_s"] for r in runs],
        "steady_decisions_per_s": med("steady_decisions_per_s"),
        "enrolled_s": med("enrolled_s", 2),
        "published_s": med("published_s", 2),
        "timed_out": sum(r["timed_out"] for r in runs),
        "batch_fallbacks": sum(r["batch_fallbacks"] for r in runs),
        "cpu_pct": {k: median([r["cpu"].get(k) for r in runs], 1) for k in CPU_KEYS},
        "cpu_ms_per_decision": {
            k: median([r["cpu_ms_per_decision"].get(k) for r in runs], 3)
            for k in ("nurture", "postgres", "kafka", "loadgen")
        },
    }


def markdown(enrollments: dict[str, Any]) -> list[str]:
    """The section of ``nurture.md``: one row per measured code (label), and the ratio of
    ``after`` over ``before`` when both are there."""
    if not enrollments:
        return []
    labels = sorted(enrollments, key=lambda k: (k != "before", k != "after", k))
    first = enrollments[labels[0]]["parameters"]
    lines = [
        f"## Enrollments per second: {first['enrollments']:,} `leads.assigned.v1` decisions "
        f"published at once, as during a purchased-list import (medians of {first['repeats']} "
        "repeat(s))",
        "",
        "| code | decisions/s | enrollments/s | per repeat | steady decisions/s | all enrolled s "
        "| all published s | nurture CPU % | nurture CPU ms/decision | postgres CPU % | "
        "postgres CPU ms/decision | kafka CPU ms/decision | other CPU % | batch fallbacks |",
        "|" + "---|" * 14,
    ]
    for label in labels:
        s = enrollments[label]["summary"]
        cpu, ms = s["cpu_pct"], s["cpu_ms_per_decision"]
        lines.append(
            f"| {label} | {fmt(s['decisions_per_s'], 0)} | {fmt(s['enrollments_per_s'], 0)} | "
            + ", ".join(fmt(v, 0) for v in s["per_repeat"])
            + f" | {fmt(s['steady_decisions_per_s'], 0)} | {fmt(s['enrolled_s'], 1)} | "
            f"{fmt(s['published_s'], 1)} | {fmt(cpu['nurture_pct'], 0)} | "
            f"{fmt(ms['nurture'], 2)} | {fmt(cpu['postgres_pct'], 0)} | "
            f"{fmt(ms['postgres'], 2)} | {fmt(ms['kafka'], 2)} | {fmt(cpu['other_pct'], 0)} | "
            f"{s['batch_fallbacks']:g} |"
        )
    if "before" in enrollments and "after" in enrollments:
        a, b = enrollments["after"]["summary"], enrollments["before"]["summary"]
        lines.append(
            f"| after / before | {fmt(ratio(a['decisions_per_s'], b['decisions_per_s']), 2)} | "
            f"{fmt(ratio(a['enrollments_per_s'], b['enrollments_per_s']), 2)} | | | | | | "
            f"{fmt(ratio(a['cpu_ms_per_decision']['nurture'], b['cpu_ms_per_decision']['nurture']), 2)}"
            f" | | {fmt(ratio(a['cpu_ms_per_decision']['postgres'], b['cpu_ms_per_decision']['postgres']), 2)}"
            " | | | |"
        )  # fmt: skip
    lines.append("")
    for label in labels:
        e = enrollments[label]
        p, m, code = e["parameters"], e["machine"], e["parameters"].get("code") or {}
        lines.append(
            f"- **{label}**: `{p['command']}` (run from `{p['cwd']}`), {m['date']}, commit "
            f"{code.get('commit')} ({', '.join(code.get('paths', []))} "
            + ("with uncommitted changes" if code.get("dirty") else "as committed")
            + f"); {m['nproc']} CPU(s), {m['cpu_model']}; machine before start "
            f"{p['idle_before_start']['busy_pct']:g} % busy"
        )
        for r in e["runs"]:
            cpu = r["cpu"]
            lines.append(
                f"  - repeat {r['repeat']}: {r['decisions']:,} decisions ("
                + ", ".join(f"{k} {v:,}" for k, v in r["kinds"].items())
                + f") -> {r['enrollments_created']:,} enrollments in {fmt(r['enrolled_s'], 2)} s, "
                f"all lifecycle events published after {fmt(r['published_s'], 2)} s (published "
                f"in {r['publish_s']:g} s); CPU nurture {cpu['nurture_pct']} %, postgres "
                f"{cpu['postgres_pct']} %, kafka {cpu['kafka_pct']} %, bench {cpu['loadgen_pct']} "
                f"%, other {cpu['other_pct']} %" + ("; TIMED OUT" if r["timed_out"] else "")
            )
    lines += [
        "",
        "'decisions/s' and 'enrollments/s' = decisions (enrollments created) / time from the "
        "first publish until every decision was processed (its enrollments committed in the "
        "same transaction). 'steady' = decisions / the span of their `processed_at` (the start "
        "of each transaction). 'all published' = until `nurture.outbox` was empty too (every "
        "`nurture.lifecycle.v1` event on Kafka). CPU ms/decision = CPU seconds over the whole "
        "window, to the last event published, / decisions; PostgreSQL = postmaster and "
        "backends; the benchmark's own publishing and polling are 'bench'.",
        "",
        "Method: " + " ".join((__doc__ or "").split("\n\n", 2)[2].split()),
        "",
    ]
    return lines

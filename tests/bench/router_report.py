"""The router benchmark's figures: medians over repeats, the targets of issue 9, the tables
(printed and Markdown) and the results file's text."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.bench.common import fmt, machine_line, markdown_tables, median, ratio
from tests.bench.common import print_tables as _print_tables

TARGET_LEADS_PER_S = 1000.0
TARGET_NULL_RATIO = 20.0
TARGET_FAST_P99_MS = 2000.0
DISTURBED_OTHER_PCT = 50  # % of one core used by other work during a run: disturbed
CPU_KEYS = (
    "router_pct",
    "ingest_pct",
    "postgres_pct",
    "kafka_pct",
    "loadgen_pct",
    "other_pct",
    "machine_busy_pct",
)
LAT_KEYS = ("p50", "p90", "p99", "max")


def _ms_per_lead(run: dict[str, Any], key: str) -> float | None:
    """CPU milliseconds per decided lead: CPU % of one core / leads per second."""
    pct = run["cpu"].get(key)
    rate = run["leads_per_s"]
    return round(10 * pct / rate, 2) if pct is not None and rate else None


def _sum_counts(dicts: list[dict[str, int] | None]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for d in dicts:
        total.update(d or {})
    return dict(sorted(total.items()))


def _workload(runs: list[dict[str, Any]]) -> dict[str, Any]:
    checks = [r.get("workload") or {} for r in runs]
    return {
        "arrivals": _sum_counts([c.get("arrivals") for c in checks]),
        "outcomes": _sum_counts([c.get("outcomes") for c in checks]),
        "matched_by": _sum_counts([c.get("matched_by") for c in checks]),
        "returning_joined_their_lead": _sum_counts(
            [c.get("returning_joined_their_lead") for c in checks]
        ),
        "returning_assigned": sum(c.get("returning_assigned", 0) for c in checks),
        "returning_assigned_sticky_to_owner": sum(
            c.get("returning_assigned_sticky_to_owner", 0) for c in checks
        ),
    }


def _throughput(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "leads_per_s": median([r["leads_per_s"] for r in runs], 1),
        "steady_leads_per_s": median([r["steady_leads_per_s"] for r in runs], 1),
        "per_repeat": [r["leads_per_s"] for r in runs],
        "timed_out": sum(r["timed_out"] for r in runs),
        "router_cpu_ms_per_lead": median([_ms_per_lead(r, "router_pct") for r in runs]),
        "postgres_cpu_ms_per_lead": median([_ms_per_lead(r, "postgres_pct") for r in runs]),
        "kafka_cpu_ms_per_lead": median([_ms_per_lead(r, "kafka_pct") for r in runs]),
        "cpu_pct": {k: median([r["cpu"].get(k) for r in runs], 1) for k in CPU_KEYS},
        "workload": _workload(runs),
    }


def _latency(runs: list[dict[str, Any]], key: str) -> dict[str, float | None]:
    return {k: median([r[key][k] for r in runs], 0) for k in LAT_KEYS}


def _bulk(runs: list[dict[str, Any]]) -> dict[str, Any]:
    bulks = [r["bulk"] for r in runs if "bulk" in r]
    if not bulks:
        return {}
    groups: dict[str, list[int | None]] = {}
    for b in bulks:
        for group, state in b["committed_at_end"].items():
            groups.setdefault(group, []).append(state["consumed"] if state else None)
    return {
        "published": bulks[0]["published"],
        "publish_s": median([b["publish_s"] for b in bulks], 1),
        "decided_by_trickle_end": median([b["decided_by_trickle_end"] for b in bulks], 0),
        "decided_by_trickle_end_pct": median([b["decided_by_trickle_end_pct"] for b in bulks], 1),
        "committed_by_group_at_end": groups,
        "consumed_repeats": sum(bool(b["consumed"]) for b in bulks),
        "drained_repeats": sum(bool(b["drained"]) for b in bulks),
        "drain_s_from_publish_end": median(
            [b.get("drain_s_from_publish_end") for b in bulks if b.get("drained")], 1
        ),
        "decided_per_s": median([b.get("decided_per_s") for b in bulks], 1),
    }


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    p = result["parameters"]
    tp: dict[str, Any] = {}
    for name in dict.fromkeys(r["database"] for r in result["throughput_runs"]):
        tp[name] = _throughput([r for r in result["throughput_runs"] if r["database"] == name])
    names = list(tp)
    if len(names) == 2:
        a, b = tp[names[0]], tp[names[1]]
        tp["ratio_seeded_over_empty"] = {
            k: ratio(a[k], b[k])
            for k in (
                "leads_per_s",
                "steady_leads_per_s",
                "router_cpu_ms_per_lead",
                "postgres_cpu_ms_per_lead",
                "kafka_cpu_ms_per_lead",
            )
        }
    nulls = result.get("null_loop_runs") or []
    null = {
        "messages_per_s": median([n["messages_per_s"] for n in nulls], 1),
        "cpu_ms_per_message": median([n["cpu_ms_per_message"] for n in nulls], 4),
        "self_cpu_ms_per_message": median(
            [1000 * n["self_cpu_s"] / n["messages"] if n["messages"] else None for n in nulls],
            4,
        ),
        "kafka_cpu_ms_per_message": median([n["kafka_cpu_ms_per_message"] for n in nulls], 4),
        "repeats": len(nulls),
        "stalled": sum(n["stalled"] for n in nulls),
    }
    over_null = {
        name: ratio(tp[name]["router_cpu_ms_per_lead"], null["cpu_ms_per_message"], 1)
        for name in names
    }
    lat = []
    for rate in p["rates"]:
        runs = [r for r in result.get("latency_runs", []) if r["offered_rps"] == rate]
        if not runs:
            continue
        lat.append(
            {
                "offered_rps": rate,
                "achieved_assigned_per_s": median([r["achieved_assigned_per_s"] for r in runs]),
                "latency_ms": _latency(runs, "latency_ms"),
                "latency_from_202_ms": _latency(runs, "latency_from_202_ms"),
                "http_latency_ms": {
                    k: median([r["http_latency_ms"][k] for r in runs], 0) for k in ("p50", "p99")
                },
                "sent_total": sum(r["sent"] for r in runs),
                "lost_total": sum(r["lost"] for r in runs),
                "late_total": sum(r["late"] for r in runs),
                "http_errors_total": sum(sum(r["http_errors"].values()) for r in runs),
                "saturated_repeats": sum(r["saturated"] for r in runs),
                "repeats": len(runs),
                "drain_s": median([r["drain_s"] for r in runs]),
                "cpu_pct": {k: median([r["cpu"].get(k) for r in runs], 1) for k in CPU_KEYS},
            }
        )
    fast: dict[str, Any] = {}
    for condition in ("idle", "import"):
        runs = [r for r in result.get("fast_lane_runs", []) if r["condition"] == condition]
        if not runs:
            continue
        fast[condition] = {
            "latency_from_202_ms": _latency(runs, "latency_from_202_ms"),
            "latency_ms": _latency(runs, "latency_ms"),
            "decided_total": sum(r["decided"] for r in runs),
            "sent_total": sum(r["sent"] for r in runs),
            "lost_total": sum(r["lost"] for r in runs),
            "late_total": sum(r["late"] for r in runs),
            "http_errors_total": sum(sum(r["http_errors"].values()) for r in runs),
            "outcomes": _sum_counts([r["outcomes"] for r in runs]),
            "repeats": len(runs),
            "cpu_pct": {k: median([r["cpu"].get(k) for r in runs], 1) for k in CPU_KEYS},
        }
    if "import" in fast:
        fast["bulk"] = _bulk(result["fast_lane_runs"])
    summary = {
        "throughput": tp,
        "null_loop": null,
        "router_cpu_over_null": over_null,
        "latency": lat,
        "fast_lane": fast,
    }
    summary["targets"] = targets(summary, names)
    return summary


def targets(summary: dict[str, Any], names: list[str]) -> list[dict[str, Any]]:
    """Issue 9's measurable targets against this run's figures."""
    out: list[dict[str, Any]] = []
    if names:
        seeded = summary["throughput"][names[0]]
        out.append(
            {
                "target": f"throughput with the seeded database >= {TARGET_LEADS_PER_S:,.0f} "
                "leads/s",
                "measured": seeded["leads_per_s"],
                "unit": "leads/s",
                "met": (seeded["leads_per_s"] or 0) >= TARGET_LEADS_PER_S
                and not seeded["timed_out"],
            }
        )
        over = summary["router_cpu_over_null"].get(names[0])
        out.append(
            {
                "target": f"router CPU per lead <= {TARGET_NULL_RATIO:g}x the null loop's per "
                "message (seeded database)",
                "measured": over,
                "unit": "x",
                "met": over is not None and over <= TARGET_NULL_RATIO,
            }
        )
    fast = summary["fast_lane"].get("import")
    if fast:
        p99 = fast["latency_from_202_ms"]["p99"]
        consumed = summary["fast_lane"]["bulk"]["consumed_repeats"]
        out.append(
            {
                "target": f"web-lead p99 from the 202 to the decision <= {TARGET_FAST_P99_MS:,.0f} "
                "ms while a list import drains",
                "measured": p99,
                "unit": "ms",
                "met": p99 is not None and p99 <= TARGET_FAST_P99_MS and bool(consumed),
                "note": None
                if consumed
                else "the bulk lane was not consumed: there was no import draining to compete with",
            }
        )
    return out


# --------------------------------------------------------------------------- tables


def _cpu(cpu: dict[str, Any], *keys: str) -> list[str]:
    return [fmt(cpu.get(k), 0) for k in keys]


def tables(result: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    summary, p = result["summary"], result["parameters"]
    tp = summary["throughput"]
    names = [k for k in tp if k != "ratio_seeded_over_empty"]
    out: list[tuple[str, list[str], list[list[str]]]] = []

    out.append(
        (
            "Targets (issue 9), this run",
            ["target", "measured", "met"],
            [
                [
                    t["target"],
                    f"{fmt(t['measured'], 1)} {t['unit']}",
                    ("yes" if t["met"] else "no") + (f" ({t['note']})" if t.get("note") else ""),
                ]
                for t in summary["targets"]
            ],
        )
    )

    rows = []
    for name in names:
        t = tp[name]
        rows.append(
            [
                f"{name} leads" if name != "empty" else "empty (baseline)",
                fmt(t["leads_per_s"]),
                fmt(t["steady_leads_per_s"]),
                ", ".join(fmt(v) for v in t["per_repeat"]),
                str(t["timed_out"]),
                fmt(t["router_cpu_ms_per_lead"], 2),
                fmt(t["postgres_cpu_ms_per_lead"], 2),
                fmt(t["kafka_cpu_ms_per_lead"], 2),
                *_cpu(t["cpu_pct"], "router_pct", "postgres_pct", "kafka_pct"),
                *_cpu(t["cpu_pct"], "machine_busy_pct", "other_pct"),
            ]
        )
    if "ratio_seeded_over_empty" in tp:
        r = tp["ratio_seeded_over_empty"]
        rows.append(
            [
                f"ratio {names[0]} / empty",
                fmt(r["leads_per_s"], 2),
                fmt(r["steady_leads_per_s"], 2),
                "",
                "",
                fmt(r["router_cpu_ms_per_lead"], 2),
                fmt(r["postgres_cpu_ms_per_lead"], 2),
                fmt(r["kafka_cpu_ms_per_lead"], 2),
                *[""] * 5,
            ]
        )
    out.append(
        (
            f"Router throughput: bursts of {p['leads']:,} leads.received.v1 "
            f"({p['returning_pct']:g} % returning), Kafka in -> decision event read, medians of "
            f"{p['repeats']} repeat(s)",
            [
                "database",
                "leads/s (wall)",
                "leads/s (steady)",
                "per repeat",
                "timed out",
                "router CPU ms/lead",
                "postgres CPU ms/lead",
                "kafka CPU ms/lead",
                "router CPU %",
                "postgres CPU %",
                "kafka CPU %",
                "machine busy %",
                "other CPU %",
            ],
            rows,
        )
    )

    null = summary["null_loop"]
    if null["repeats"]:
        rows = [
            [
                "null aiokafka loop (getmany, json decode, produce per batch, acks=all)",
                fmt(null["messages_per_s"]),
                fmt(null["cpu_ms_per_message"], 3),
                fmt(null["kafka_cpu_ms_per_message"], 3),
                "1",
            ]
        ]
        for name in names:
            rows.append(
                [
                    f"router, {name} database",
                    fmt(tp[name]["leads_per_s"]),
                    fmt(tp[name]["router_cpu_ms_per_lead"], 3),
                    fmt(tp[name]["kafka_cpu_ms_per_lead"], 3),
                    fmt(summary["router_cpu_over_null"][name], 1),
                ]
            )
        out.append(
            (
                f"CPU per message: the router against a null loop over the same events, same "
                f"broker, same run (medians of {null['repeats']})",
                ["process", "messages/s", "CPU ms/message", "kafka CPU ms/message", "x null loop"],
                rows,
            )
        )

    rows = []
    for name in names:
        w = tp[name]["workload"]
        rows.append(
            [
                name,
                ", ".join(f"{k} {v:,}" for k, v in w["arrivals"].items()),
                ", ".join(f"{k} {v:,}" for k, v in w["matched_by"].items()) or "-",
                ", ".join(f"{k} {v:,}" for k, v in w["returning_joined_their_lead"].items())
                if name != "empty"
                else "(nobody is known)",
                f"{w['returning_assigned_sticky_to_owner']:,} of {w['returning_assigned']:,}"
                if name != "empty"
                else "-",
                ", ".join(f"{k} {v:,}" for k, v in w["outcomes"].items()),
            ]
        )
    out.append(
        (
            "Throughput workload, all repeats summed: what arrived and what the router made of it",
            [
                "database",
                "arrivals",
                "matched_by (router.lead_submission)",
                "returning joined their seeded lead",
                "returning assigned -> sticky to owner",
                "decisions (outcome/kind, leads.assigned.v1)",
            ],
            rows,
        )
    )

    rows = []
    for row in summary["latency"]:
        lat = row["latency_ms"]
        rows.append(
            [
                fmt(row["offered_rps"], 0),
                fmt(row["achieved_assigned_per_s"]),
                *[fmt(lat[k], 0) for k in LAT_KEYS],
                f"{row['lost_total']} / {row['late_total']}",
                str(row["http_errors_total"]),
                fmt(row["http_latency_ms"]["p99"], 0),
                fmt(row["drain_s"], 2),
                f"{row['saturated_repeats']}/{row['repeats']}",
                *_cpu(row["cpu_pct"], "router_pct", "ingest_pct", "postgres_pct", "kafka_pct"),
                *_cpu(row["cpu_pct"], "other_pct"),
            ]
        )
    if rows:
        out.append(
            (
                f"End-to-end latency, scheduled POST /v1/leads -> leads.assigned.v1 read "
                f"({p['warmup']:g} s warm-up + {p['duration']:g} s, medians of "
                f"{p['repeats']} repeat(s); lost/late and errors summed)",
                [
                    "offered/s",
                    "decided/s",
                    "p50 ms",
                    "p90 ms",
                    "p99 ms",
                    "max ms",
                    "lost / late",
                    "http errors",
                    "http p99 ms",
                    "drain s",
                    "saturated",
                    "router CPU %",
                    "ingest CPU %",
                    "postgres CPU %",
                    "kafka CPU %",
                    "other CPU %",
                ],
                rows,
            )
        )

    fast = summary["fast_lane"]
    if fast:
        bulk = fast.get("bulk") or {}
        rows = []
        for condition in ("idle", "import"):
            if condition not in fast:
                continue
            f = fast[condition]
            lat = f["latency_from_202_ms"]
            if condition == "import":
                groups = "; ".join(
                    f"{g}: " + ", ".join(fmt(v, 0) if v is not None else "none" for v in vals)
                    for g, vals in bulk["committed_by_group_at_end"].items()
                )
                drained = (
                    f"{fmt(bulk['decided_by_trickle_end'], 0)} of {bulk['published']:,} "
                    f"({fmt(bulk['decided_by_trickle_end_pct'])} %); committed {groups}"
                )
            else:
                drained = "no import"
            rows.append(
                [
                    "idle"
                    if condition == "idle"
                    else f"{bulk.get('published', 0):,} list names on leads.bulk.v1",
                    *[fmt(lat[k], 0) for k in LAT_KEYS],
                    fmt(f["latency_ms"]["p99"], 0),
                    f"{f['decided_total']:,} / {f['sent_total']:,}",
                    f"{f['lost_total']} / {f['late_total']}",
                    drained,
                    *_cpu(f["cpu_pct"], "router_pct", "postgres_pct", "other_pct"),
                ]
            )
        out.append(
            (
                f"Fast lane: {p['trickle_rate']:g} web leads/s through ingest for "
                f"{p['trickle_duration']:g} s (+ {p['warmup']:g} s warm-up), 202 -> "
                f"leads.assigned.v1 read, medians of {p['repeats']} repeat(s)",
                [
                    "bulk lane",
                    "p50 ms",
                    "p90 ms",
                    "p99 ms",
                    "max ms",
                    "p99 from scheduled send ms",
                    "decided / sent",
                    "lost / late",
                    "bulk decided when the trickle ended",
                    "router CPU %",
                    "postgres CPU %",
                    "other CPU %",
                ],
                rows,
            )
        )
    return out


def print_tables(result: dict[str, Any]) -> None:
    _print_tables(tables(result))


# --------------------------------------------------------------------------- markdown


def _before(run: dict[str, Any]) -> str:
    b = run.get("before") or {}
    return f"other {b.get('other_pct', '-')} % after waiting {b.get('waited_s', '-')} s"


def _run_lines(result: dict[str, Any]) -> list[str]:
    lines = []
    for run in result["throughput_runs"]:
        cpu = run["cpu"]
        lines.append(
            f"- throughput {run['database']} repeat {run['repeat']}: {run['leads_per_s']:g} "
            f"leads/s, {run['decided']:,} of {run['leads']:,} decided in {run['wall_s']:g} s "
            f"({run['timing']}); steady {fmt(run['steady_leads_per_s'])}; first decision after "
            f"{fmt(run['first_decision_after_s'], 2)} s; publishing {run['publish_s']:g} s; CPU "
            f"router {cpu.get('router_pct')} %, postgres {cpu.get('postgres_pct')} %, kafka "
            f"{cpu.get('kafka_pct')} %, other {cpu.get('other_pct')} % (before: {_before(run)})"
            + (
                f"; TIMED OUT (all decided after {fmt(run.get('finished_after_s'), 0)} s)"
                if run["timed_out"]
                else ""
            )
        )
    for n in result.get("null_loop_runs") or []:
        lines.append(
            f"- null loop repeat {n['repeat']}: {n['messages']:,} messages in {n['wall_s']:g} s "
            f"({fmt(n['messages_per_s'])}/s, {n['batches']} batches), CPU {n['cpu_s']} s "
            f"({n['cpu_ms_per_message']} ms/message; its own count of the loop "
            f"{n['self_cpu_s']} s), kafka {n['kafka_cpu_s']} s, other "
            f"{n['cpu'].get('other_pct')} %" + ("; STALLED" if n["stalled"] else "")
        )
    for run in result.get("latency_runs") or []:
        lat = run["latency_ms"]
        lines.append(
            f"- latency {run['offered_rps']:g}/s repeat {run['repeat']}: decided "
            f"{run['achieved_assigned_per_s']:g}/s, p50 {fmt(lat['p50'], 0)} / p90 "
            f"{fmt(lat['p90'], 0)} / p99 {fmt(lat['p99'], 0)} / max {fmt(lat['max'], 0)} ms; "
            f"backlog at last send {run['backlog_at_last_send']}; lost {run['lost']}, late "
            f"{run['late']}; CPU router {run['cpu'].get('router_pct')} %, other "
            f"{run['cpu'].get('other_pct')} % (before: {_before(run)})"
            + ("; SATURATED" if run["saturated"] else "")
        )
    for run in result.get("fast_lane_runs") or []:
        lat = run["latency_from_202_ms"]
        line = (
            f"- fast lane {run['condition']} repeat {run['repeat']}: from the 202 p50 "
            f"{fmt(lat['p50'], 0)} / p90 {fmt(lat['p90'], 0)} / p99 {fmt(lat['p99'], 0)} / max "
            f"{fmt(lat['max'], 0)} ms; {run['decided']} of {run['sent']} decided, lost "
            f"{run['lost']}, late {run['late']}; CPU router {run['cpu'].get('router_pct')} %, "
            f"other {run['cpu'].get('other_pct')} % (before: {_before(run)})"
        )
        if "bulk" in run:
            b = run["bulk"]
            line += (
                f"; bulk: {b['published']:,} published in {b['publish_s']:.1f} s, "
                f"{b['decided_by_trickle_end']:,} decided when the trickle ended "
                f"({b['trickle_from_publish_end_s']:g} s after publishing), committed by group "
                f"{b['committed_at_end']}; before: {b['before']}; "
                + (
                    "not consumed"
                    if not b["consumed"]
                    else (
                        f"drained {fmt(b.get('drain_s_from_publish_end'))} s after publishing"
                        if b["drained"]
                        else f"not drained within --bulk-wait ({b.get('decided_after_wait')})"
                    )
                )
            )
        lines.append(line)
    return lines


def markdown(result: dict[str, Any]) -> str:
    m, p, s = result["machine"], result["parameters"], result["seed"]
    idle = p["idle_before_start"]
    quiet = "quiet" if idle["quiet"] else "NOT quiet: other jobs were running"
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    pg = result["postgres_settings"]
    code = p["code"]
    rates = ", ".join(f"{r:g}" for r in p["rates"]) or "none"
    title = "Router benchmark" + (f": {p['label']}" if p.get("label") else "")
    router_env = ", ".join(f"`{k}={v}`" for k, v in p["router_env"].items()) or "none"
    lines = [
        f"# {title}",
        "",
        "Throughput with 1M existing leads vs empty, router CPU vs a null aiokafka loop, "
        "end-to-end latency, fast-lane latency during a bulk import.",
        "",
        f"- date: {m['date']} (whole run {result['elapsed_s']:.0f} s)",
        f"- machine: {machine_line(m)}",
        f"- code: commit {code['commit']} ({', '.join(code['paths'])}: "
        f"{'modified' if code['dirty'] else 'as committed'}, fingerprint {code['fingerprint']}); "
        "services imported from "
        + ", ".join(f"`{v}`" for v in result.get("imported_from", {}).values()),
        f"- Python {m['python']}, Kafka {m['kafka_version']}, PostgreSQL {pg['server_version']} "
        f"(shared_buffers {pg['shared_buffers']}, fsync {pg['fsync']}, synchronous_commit "
        f"{pg['synchronous_commit']}); {packages}",
        f"- command: `{p['command']}`",
        f"- router settings passed through: {router_env}",
        f"- machine before start: {idle['busy_pct']:g} % busy over 3 s after waiting "
        f"{idle['waited_s']:g} s ({quiet})",
        f"- parameters: {p['seed_leads']:,} seeded leads over {p['companies']:,} companies; "
        f"bursts of {p['leads']:,} leads ({p['returning_pct']:g} % returning), burst timeout "
        f"{p['burst_timeout']:g} s; null loop batches of {p['null_batch']}; latency at {rates} "
        f"leads/s, {p['warmup']:g} s warm-up + {p['duration']:g} s; fast lane "
        f"{p['trickle_rate']:g} leads/s for {p['trickle_duration']:g} s beside "
        f"{p['bulk']:,} list names; {p['repeats']} repeat(s) of everything, medians reported; "
        f"routing file `{p['routing_file']}`",
        "",
        f"> **Caveat: this machine has {m['nproc']} cores and everything shares them**: the "
        "router, PostgreSQL (fsync on), Kafka (a JVM), ingest and the load generator. Compare "
        "figures from the same run (seeded against empty, router against the null loop, import "
        "against idle) rather than reading absolute numbers as production capacity. 'other "
        "CPU' is CPU used by anything else on the machine (other jobs, the kernel): when it is "
        "high the run was disturbed.",
        "",
    ]
    for skipped in result.get("skipped") or []:
        lines += [f"> **Skipped:** {skipped}", ""]
    lines += [
        "## Seeding",
        "",
        f"- {s['leads']:,} leads + {s['identities']:,} identities "
        f"({', '.join(f'{k} {v:,}' for k, v in s['identities_by_kind'].items())}) in "
        f"{s['insert_s']:.1f} s ({s['rows_per_s']:,} leads/s; {s['statements']} INSERT ... "
        "SELECT FROM generate_series statements, leads and identities in one statement each), "
        f"VACUUM ANALYZE {s['vacuum_analyze_s']:.1f} s, CHECKPOINT {s['checkpoint_s']:.1f} s",
        f"- statuses: {', '.join(f'{k} {v:,}' for k, v in s['status'].items())}",
        f"- {s['company_keys']:,} company keys (domain, or `name:` for free-mail leads); leads "
        f"per key p50 {s['leads_per_company_key']['p50']}, p99 "
        f"{s['leads_per_company_key']['p99']}, max {s['leads_per_company_key']['max']:,}",
        f"- sizes: router.lead {s['lead_table_mb']:,} MB, router.lead_identity "
        f"{s['identity_table_mb']:,} MB, database {s['database_mb']:,} MB",
        f"- check: {s['check']['sampled']} random rows re-derived with the router's own code "
        "(company key, canonical email, E.164 phone, LeadData validation: all equal; score "
        f"mismatches {s['check']['score_mismatches']})",
    ]
    for name, reps in (result.get("reps") or {}).items():
        lines.append(
            f"- reps ({name} database): "
            + ", ".join(
                f"{r['rep']} ({r['team']}) {r['open_leads']:,}/{r['capacity']:,}" for r in reps
            )
            + " open leads / capacity at the start"
        )
    lines.append("")
    lines += markdown_tables(tables(result))
    lines += [
        "'leads/s (wall)' = leads decided / time from the start (see Method) until the decision "
        "event of the last one was read, or until the timeout; 'steady' = (n - 1) / (last - "
        "first decision read). 'CPU ms/lead' = CPU % of one core / leads per second over the "
        "same window. 'x null loop' = router CPU ms per lead / null loop CPU ms per message.",
        "",
        *_run_lines(result),
        "",
    ]
    all_runs = [
        *result["throughput_runs"],
        *(result.get("latency_runs") or []),
        *(result.get("fast_lane_runs") or []),
    ]
    disturbed = [
        f"{r.get('database') or r.get('condition') or r.get('offered_rps')} rep {r['repeat']} "
        f"(other {r['cpu'].get('other_pct')} %)"
        for r in all_runs
        if (r["cpu"].get("other_pct") or 0) > DISTURBED_OTHER_PCT
    ]
    lines += [
        f"Runs disturbed by other work on the machine ('other' CPU over {DISTURBED_OTHER_PCT} % "
        "of a core; medians limit their weight): " + ("; ".join(disturbed) or "none") + ".",
        "",
        *METHOD,
        "",
    ]
    return "\n".join(lines)


METHOD = [
    "## Method",
    "",
    "- Own throw-away stack in a temp dir on free loopback ports: embedded PostgreSQL with "
    "fsync on (its default configuration), a KRaft Kafka broker, migrations, topics. Router "
    "and ingest are one-worker uvicorn processes (`ServiceProcess`), log level WARNING, "
    "`LEADFLOW_ENV=test`, routing file `tests/bench/routing-bench.yaml` (the demo's "
    "territories: 4 teams, 11 weighted reps, everyone always at work). Each router is started "
    "once before the seed and stopped: it seeds its teams, reps and rules itself.",
    "- Seed: leads with full profiles (names, company with or without legal suffix, domain "
    "and website or a free-mail address, title, size and industry per company, country, "
    "city, time zone, UTM, form, message), 40 % with an E.164 phone, scored per (title, "
    "size, industry, country, free-mail, phone) combination with the shipped scoring rules; below "
    "MQL -> `nurture`, else `assigned` (90 %) or `converted`, owned by a rep of the team the "
    "routing rules pick for the lead's country and size, by the reps' weights; 3 % "
    "purchased-list names. Email and phone identities as the router writes them. Then "
    "`router.rep.open_leads` = each rep's assigned leads, counted.",
    "- Arrivals: new people are distinct (random 9-letter surnames: no fuzzy match) at "
    "seeded companies, with sales-ready profiles (checked with the scoring rules) in every "
    "territory. Returning people are seeded leads (half assigned, half nurture; converted "
    "ones get no decision and are left out), in turn: by email (plus-tagged where the "
    "provider folds tags), by phone (the email dropped or a new free-mail address), by a "
    "one-letter typo of the first or last name at the same company (same company key, a new "
    "address or only a new phone), each fuzzy arrival checked with the router's own matcher "
    "(`fuzzy_match`) against its seeded lead; fuzzy returners come from companies with at "
    "most 150 seeded leads. The empty baseline gets the same kinds of events (nobody is "
    "known there).",
    "- Throughput: the seeded and empty databases each have their own topic prefix, consumer "
    "group and router process; repeats alternate which goes first. A reader with no group "
    "reads `leads.assigned.v1` from its end and notes when each submission's decision is "
    "first read. The first burst of each database is published (acks=all) before its router "
    "starts and is timed from the router's readiness (so it includes the consumer group "
    "join); later bursts are published to the running router and timed from the start of "
    "publishing. A burst that times out is reported as such, then waited for (unmeasured) "
    "so the next measurement starts from rest. Before each burst every router's outbox is "
    "drained and other work on the machine is checked over 2 s.",
    "- Null loop: `tests/bench/null_loop.py` as its own process, with its own consumer group, "
    "reads exactly the offsets of the seeded burst just measured (the same events the router "
    "consumed) with `getmany`, `json.loads` each message, builds a small event from it "
    "(ids, the lead) and sends it to another topic, waiting on the batch's futures (acks=all, "
    "idempotence, linger 2 ms like `shared/kafka/producer.py`), then commits the batch. Its "
    "CPU and Kafka's are read from /proc over exactly its run.",
    "- Latency: ingest and the seeded database's router share the prefix; requests are "
    "scheduled at t0 + i/rate and sent then whatever happened to earlier ones (open loop), "
    "signed with the `standardwebhooks` library; latency = decision read - *scheduled* send "
    "time, so queueing anywhere counts. Warm-up requests are sent but not measured.",
    "- Fast lane: the same open loop at the trickle rate; latency = decision read - the 202's "
    "arrival. 'import': right before the trickle, the list names (purchased-list source "
    "`bench-list`, kind `list`, people at seeded companies) are published to "
    "`leads.bulk.v1` (acks=all). When the trickle ends, the bulk lane's progress is read "
    "twice: decision events read for the list names, and the committed offsets of the "
    "router's group and of `<group>-bulk` on that topic ('none': the group never committed "
    "there). A bulk lane that is being consumed is then waited for (bounded by "
    "`--bulk-wait`) so the next measurement starts from rest.",
    "- CPU figures come from /proc (postgres = postmaster + backends), in % of one core; "
    "'machine busy' is % of all cores. Raw per-repeat figures are in the JSON file.",
]

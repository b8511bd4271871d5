"""The ingest benchmark's server CPU per accepted request and its Targets table (tests/bench/run.py):
pure functions on the recorded dicts, no stack."""

from __future__ import annotations

from typing import Any

import pytest

from tests.bench.run import CPU_KEYS, cpu_ms_per_ok, summarize, tables, targets

PARAMS = {"repeats": 2, "concurrency": 32, "duration": 10.0}


def test_cpu_ms_per_ok_is_window_cpu_over_2xx() -> None:
    # 30 % of one core for 100 2xx/s: 0.3 core-s per s / 100 per s = 3 ms each
    assert cpu_ms_per_ok(30.0, 100.0) == pytest.approx(3.0)
    assert cpu_ms_per_ok(95.0, 380.0) == pytest.approx(2.5)


def test_cpu_ms_per_ok_is_unknown_without_cpu_or_2xx() -> None:
    assert cpu_ms_per_ok(None, 100.0) is None
    assert cpu_ms_per_ok(30.0, 0.0) is None
    assert cpu_ms_per_ok(30.0, None) is None


def _run(
    target: str, repeat: int, ms_per_ok: float | None, p99: float, **extra: Any
) -> dict[str, Any]:
    run: dict[str, Any] = {
        "target": target,
        "repeat": repeat,
        "sent": 1000,
        "achieved_rps": 100.0,
        "errors": {},
        "latency_ms": {"p50": p99 / 4, "p90": p99 / 2, "p99": p99, "max": p99 * 2},
        "send_lag_ms": {"p50": 0.1, "p99": 1.0, "max": 2.0},
        "cpu": {k: 10.0 for k in CPU_KEYS},
        **extra,
    }
    if ms_per_ok is not None:
        run["server_cpu_ms_per_ok"] = ms_per_ok
        run["server_window_pct"] = ms_per_ok * 10
    return run


def _raw(ingest_ms: dict[str, list[float | None]]) -> dict[str, Any]:
    """Two repeats; bare always 0.5 ms per 2xx and p99 5 ms; ingest p99 20 ms at 100/s, 90 at 300/s."""
    p99 = {100.0: 20.0, 300.0: 90.0}
    open_runs = []
    for rate in (100.0, 300.0):
        for rep in (1, 2):
            open_runs.append(_run("bare", rep, 0.5, 5.0, offered_rps=rate))
            ms = ingest_ms[f"{rate:g}"][rep - 1]
            open_runs.append(_run("ingest", rep, ms, p99[rate], offered_rps=rate))
    closed_runs = []
    for rep in (1, 2):
        closed_runs.append(_run("bare", rep, 0.5, 50.0, concurrency=32))
        closed_runs.append(_run("ingest", rep, ingest_ms["closed"][rep - 1], 200.0, concurrency=32))
    return {"open_loop": open_runs, "closed_loop": closed_runs}


def test_summary_takes_the_median_of_each_repeats_cpu_per_ok_and_the_ratio_to_bare() -> None:
    summary = summarize(
        _raw({"100": [2.0, 3.0], "300": [1.8, 2.2], "closed": [1.5, 1.7]}), [100.0, 300.0]
    )
    row = summary["open_loop"][0]
    assert row["ingest"]["server_cpu_ms_per_ok"] == 2.5
    assert row["bare"]["server_cpu_ms_per_ok"] == 0.5
    assert row["ratio_ingest_over_bare"]["server_cpu_ms_per_ok"] == 5.0
    assert summary["closed_loop"]["ingest"]["server_cpu_ms_per_ok"] == 1.6
    assert summary["closed_loop"]["ratio_ingest_over_bare"]["server_cpu_ms_per_ok"] == 3.2


def test_targets_name_the_runs_over_the_cpu_target_and_check_p99_per_rate() -> None:
    summary = summarize(
        _raw({"100": [2.0, 3.0], "300": [2.6, 3.0], "closed": [2.4, 2.6]}), [100.0, 300.0]
    )
    rows = targets(summary, PARAMS)
    assert [r[0] for r in rows] == [
        "ingest server CPU per accepted request <= 2.5 ms (every run)",
        "ingest p99 <= 30 ms at 100 req/s",
        "ingest p99 <= 80 ms at 300 req/s",
        "closed-loop throughput ingest / bare (32 clients)",
    ]
    cpu, p99_100, p99_300, closed = rows
    assert cpu[1] == "100/s 2.50; 300/s 2.80; closed 32 2.50 ms"
    assert cpu[2] == "no: 300/s"
    assert p99_100[1:] == ["20.00 ms", "yes"]
    assert p99_300[1:] == ["90.00 ms", "no"]
    assert closed[1].startswith("1.00 ")
    assert closed[2].startswith("no target")


def test_cpu_target_is_met_only_when_every_run_meets_it() -> None:
    summary = summarize(
        _raw({"100": [2.0, 2.4], "300": [1.8, 2.0], "closed": [1.5, 1.7]}), [100.0, 300.0]
    )
    assert targets(summary, PARAMS)[0][2] == "yes"


def test_a_p99_row_appears_only_for_a_rate_that_was_run() -> None:
    raw = _raw({"100": [2.0, 2.0], "300": [2.0, 2.0], "closed": [2.0, 2.0]})
    summary = summarize(raw, [300.0])
    assert [r[0] for r in targets(summary, PARAMS)][1:-1] == ["ingest p99 <= 80 ms at 300 req/s"]


def test_results_recorded_before_the_cpu_per_ok_figure_render_dashes() -> None:
    summary = summarize(
        _raw({"100": [None, None], "300": [None, None], "closed": [None, None]}), [100.0, 300.0]
    )
    # an older summary lacks the keys altogether
    for row in summary["open_loop"]:
        for name in ("bare", "ingest"):
            del row[name]["server_cpu_ms_per_ok"]
        del row["ratio_ingest_over_bare"]["server_cpu_ms_per_ok"]
    del summary["closed_loop"]["ratio_ingest_over_bare"]["server_cpu_ms_per_ok"]
    cpu = targets(summary, PARAMS)[0]
    assert cpu[1:] == ["-", "-"]
    by_title = {title.split(" (")[0]: rows for title, _, rows in tables(summary, PARAMS)}
    assert by_title["Open loop: constant offered rate"][1][3] == "-"
    assert by_title["Open loop: ingest / bare"][0][2] == "-"
    assert by_title["Max throughput: closed loop, 32 concurrent clients, 10 s"][2][3] == "-"

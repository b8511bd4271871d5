"""A fitted scoring file in the real router: the scores it stores for leads with custom fields
are the ones ``leadflow scoring score`` gives the same rows."""

from __future__ import annotations

import asyncio
import csv
import json
import math
import random
import uuid
from pathlib import Path

from typer.testing import CliRunner

from services.router.domain.scoring import load_scoring_rules
from shared.cli import app
from tests.integration.test_router import start_router
from tests.kafka_helpers import wait_for
from tests.router_env import publish_received, received, sql

SHIPPED_RULES = Path(__file__).resolve().parents[2] / "deploy" / "config" / "scoring.yaml"
HEADER = ["Lead ID", "Email", "Job Title", "Country", "Lead Source", "Time On Site", "Won"]
SENT = 30


def export(n: int, tag: str, seed: int) -> list[list[str]]:
    """Leads with outcomes: senior titles, time on the website and Google convert more."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        title = rng.choice(["VP Sales", "CTO", "Intern", "", "Analyst", "Engineer"])
        seconds = 0 if rng.random() < 0.35 else int(rng.paretovariate(1.2) * 60)
        source = rng.choice(["Google", "google", "Organic Search", "Referral", ""])
        logit = (
            -1.5
            + (1.5 if title in ("VP Sales", "CTO") else 0.0)
            + 0.4 * math.log1p(seconds / 60)
            + (0.8 if source.casefold() == "google" else 0.0)
        )
        won = rng.random() < 1 / (1 + math.exp(-logit))
        rows.append(
            [
                f"L{i:05d}",
                f"person{i}.{tag}@example.com",
                title,
                rng.choice(["DE", "US", "", "IN"]),
                source,
                str(seconds),
                "1" if won else "0",
            ]
        )
    return rows


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def cli(*args: str | Path) -> str:
    result = CliRunner().invoke(app, ["scoring", *map(str, args)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


async def test_the_router_stores_the_scores_scoring_score_gives(env, producer, tmp_path) -> None:
    tag = uuid.uuid4().hex[:8]
    history = write_csv(tmp_path / "history.csv", [HEADER, *export(900, tag, seed=4)])
    fitted = tmp_path / "fitted.yaml"
    cli(
        "fit", "--csv", history, "--outcome", "Won", "--id-column", "Lead ID",
        "--base", SHIPPED_RULES, "--out", fitted,
    )  # fmt: skip
    rules = load_scoring_rules(fitted)
    used = {c.field for criterion in rules.criteria for c in criterion.conditions}
    assert {"custom.lead_source", "custom.time_on_site"} & used

    new = export(SENT, f"new{tag}", seed=99)
    new_csv = write_csv(tmp_path / "new.csv", [HEADER[:-1], *[r[:-1] for r in new]])
    scored = json.loads(
        cli("score", new_csv, "--rules", fitted, "--id-column", "Lead ID", "--format", "json")
    )
    expected = {r["id"]: (r["total"], r["temperature"], r["stage"]) for r in scored}
    assert len(expected) == SENT

    router = await asyncio.to_thread(
        start_router, env, tmp_path, LEADFLOW_ROUTER_SCORING_FILE=str(fitted)
    )
    try:
        items = []
        for _id, email, title, country, source, seconds, _won in new:
            custom: dict[str, str | int] = {"time_on_site": int(seconds)}
            if source:
                custom["lead_source"] = source
            items.append(
                received(
                    {
                        "email": email,
                        "job_title": title or None,
                        "country": country or None,
                        "custom": custom,
                    }
                )
            )
        await publish_received(env, producer, items)

        async def stored():
            rows = await sql(
                env,
                "SELECT profile->>'email', score, temperature, stage, score_breakdown "
                "FROM router.lead",
            )
            return rows if len(rows) == SENT else None

        rows = await wait_for(stored, timeout=60)
    finally:
        await asyncio.to_thread(router.stop)
    by_email = {email: (score, temp, stage) for email, score, temp, stage, _ in rows}
    for lead_id, email, *_ in new:
        assert by_email[email] == expected[lead_id], (lead_id, by_email[email])
    fitted_ids = {c.id for c in rules.criteria}
    breakdown_ids = {item["criterion"] for *_, breakdown in rows for item in breakdown["breakdown"]}
    assert breakdown_ids and breakdown_ids <= fitted_ids
    assert len({s for s, _, _ in by_email.values()}) > 3  # the fitted rules tell leads apart

"""The scoring history against the real router over real HTTP (its own database and topics, a
tokens file and a scoring file in a temp directory): the version in force is recorded with its
file's text, a rewritten file becomes a second version, a stored evaluation is served, unknown
versions and unevaluated rules answer 404 problems, and the endpoints need a read token."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy.ext.asyncio import AsyncEngine

from services.router.domain.scoring import parse_scoring_rules
from services.router.scoring import store
from services.router.scoring.endpoints import no_evaluation_detail
from shared import db
from shared.auth import hash_token, new_token
from shared.http import PROBLEM_JSON
from shared.stack.common import free_port
from shared.stack.stack import SERVICES, ServiceProcess
from tests.kafka_helpers import wait_for
from tests.router_env import RouterEnv, make_router_env, sql, write

ROUTER = next(s for s in SERVICES if s.name == "router")
SCORING = Path(__file__).resolve().parents[2] / "deploy" / "config" / "scoring.yaml"
READER, IMPORTER = new_token(), new_token()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class World:
    env: RouterEnv
    scoring: Path
    router: httpx.AsyncClient
    engine: AsyncEngine


@pytest.fixture(scope="module")
async def world(stack, tmp_root: Path) -> AsyncIterator[World]:
    env = await make_router_env(stack)
    tokens = tmp_root / f"tokens-scoring-{uuid.uuid4().hex[:8]}.yaml"
    tokens.write_text(
        yaml.safe_dump(
            {
                "tokens": [
                    {"name": "reader", "scopes": ["read"], "sha256": hash_token(READER)},
                    {"name": "importer", "scopes": ["import"], "sha256": hash_token(IMPORTER)},
                ]
            }
        )
    )
    scoring = tmp_root / f"scoring-{uuid.uuid4().hex[:8]}.yaml"
    scoring.write_bytes(SCORING.read_bytes())
    extra = {
        "LEADFLOW_ADMIN_TOKENS_FILE": str(tokens),
        "LEADFLOW_ADMIN_TOKEN": "",  # no dev token: only the file's
        "LEADFLOW_ROUTER_SCORING_FILE": str(scoring),
        "LEADFLOW_ROUTER_SCORING_RELOAD_SECONDS": "0.2",
    }
    proc = ServiceProcess(
        ROUTER,
        {k: v for k, v in env.env(**extra).items() if v != ""},
        port=free_port(),
        log=tmp_root / "router-scoring-api.log",
    )
    await asyncio.to_thread(proc.start)
    await asyncio.to_thread(proc.wait_ready)
    engine = db.create_engine(env.database_url, pool_size=2)
    try:
        async with httpx.AsyncClient(base_url=proc.url, timeout=30) as client:
            yield World(env, scoring, client, engine)
    finally:
        await engine.dispose()
        await asyncio.to_thread(proc.stop)


async def get(w: World, path: str, **params: Any) -> dict[str, Any]:
    response = await w.router.get(path, params=params, headers=bearer(READER))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def report(rules_version: str, n: int, positives: int, auc: float | None) -> dict[str, Any]:
    return {
        "n": n,
        "positives": positives,
        "auc": auc,
        "rules_version": rules_version,
        "deciles": [{"decile": 1, "n": n, "positives": positives}],
        "calibration": [],
    }


async def test_the_version_in_force_is_recorded_with_its_file(world: World):
    w = world
    rules = parse_scoring_rules(w.scoring.read_bytes())
    listed = await get(w, "/v1/admin/scoring/versions")
    assert listed["active_version"] == rules.version
    (only,) = listed["versions"]
    assert only["version"] == rules.version and only["active"] is True
    assert only["recorded_from"] == "router" and only["content_known"] is True
    assert only["file_name"] == w.scoring.name
    assert only["criteria_count"] == len(rules.criteria)
    t = rules.thresholds
    assert only["thresholds"] == {"warm": t.warm, "hot": t.hot, "mql": t.mql, "sql": t.sql}
    one = await get(w, f"/v1/admin/scoring/versions/{rules.version}")
    assert one["content"] == w.scoring.read_text()
    assert {k: v for k, v in one.items() if k != "content"} == only


async def test_a_rewritten_file_becomes_a_second_version_both_listed(world: World):
    w = world
    (first,) = (await get(w, "/v1/admin/scoring/versions"))["versions"]
    text = w.scoring.read_text() + "\n# tuned by marketing ops\n"
    w.scoring.write_text(text)
    new_version = parse_scoring_rules(text.encode()).version

    async def two() -> dict[str, Any] | None:
        listed = await get(w, "/v1/admin/scoring/versions")
        return listed if len(listed["versions"]) == 2 else None

    listed = await wait_for(two, timeout=20)
    assert listed["active_version"] == new_version
    newest, oldest = listed["versions"]
    assert newest["version"] == new_version and newest["active"] is True
    assert oldest["version"] == first["version"] and oldest["active"] is False
    assert newest["first_loaded_at"] >= oldest["first_loaded_at"]
    assert (await get(w, f"/v1/admin/scoring/versions/{new_version}"))["content"] == text
    limited = await get(w, "/v1/admin/scoring/versions", limit=1)
    assert [v["version"] for v in limited["versions"]] == [new_version]


async def test_a_stored_evaluation_of_the_rules_in_force_is_served(world: World):
    w = world
    active = (await get(w, "/v1/admin/scoring/versions"))["active_version"]
    missing = await w.router.get("/v1/admin/scoring/evaluation", headers=bearer(READER))
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith(PROBLEM_JSON)
    assert missing.json()["detail"] == no_evaluation_detail(active)
    assert "leadflow scoring evaluate --store" in missing.json()["detail"]

    now = datetime.now(UTC)
    older = await store.record_evaluation(
        w.engine, rules_version=active, source="history", parameters={"since": "2026-09-01"},
        report=report(active, 100, 10, 0.7), computed_at=now - timedelta(days=1),
    )  # fmt: skip
    latest = await store.record_evaluation(
        w.engine, rules_version=active, source=store.EvaluationSource.CSV,
        parameters={"file": "outcomes.csv", "negative_after_days": 90},
        report=report(active, 250, 40, 0.81), computed_at=now,
    )  # fmt: skip
    other = await store.record_evaluation(
        w.engine, rules_version="0123456789ab", source="history", parameters={},
        report=report("0123456789ab", 5, 0, None), computed_at=now + timedelta(minutes=1),
    )  # fmt: skip
    # one written in a caller's transaction that rolls back leaves nothing
    async with db.sessionmaker(w.engine)() as session:
        await store.record_evaluation(
            session, rules_version=active, source="history", parameters={},
            report=report(active, 1, 1, None), computed_at=now + timedelta(days=1),
        )  # fmt: skip
        await session.rollback()

    got = await get(w, "/v1/admin/scoring/evaluation")
    assert got["id"] == str(latest) and got["rules_version"] == active and got["active"] is True
    assert (got["source"], got["n"], got["positives"], got["auc"]) == ("csv", 250, 40, 0.81)
    assert got["parameters"] == {"file": "outcomes.csv", "negative_after_days": 90}
    assert got["report"] == report(active, 250, 40, 0.81)
    found = await store.latest_evaluation(w.engine, active)
    assert found is not None and found.id == latest

    mine = (await get(w, "/v1/admin/scoring/evaluations", version=active))["evaluations"]
    assert [e["id"] for e in mine] == [str(latest), str(older)]
    every = (await get(w, "/v1/admin/scoring/evaluations"))["evaluations"]
    assert [e["id"] for e in every] == [str(other), str(latest), str(older)]
    assert every[0]["active"] is False and every[0]["auc"] is None
    first = (await get(w, "/v1/admin/scoring/evaluations", limit=1))["evaluations"]
    assert [e["id"] for e in first] == [str(other)]


async def test_unknown_versions_and_bad_parameters_are_problems(world: World):
    w = world
    for version in ("0123456789ab", "not-a-version"):
        response = await w.router.get(
            f"/v1/admin/scoring/versions/{version}", headers=bearer(READER)
        )
        assert response.status_code == 404, response.text
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        assert response.json()["detail"] == f"no scoring version {version}"
    bad = await w.router.get(
        "/v1/admin/scoring/evaluations", params={"version": "nope"}, headers=bearer(READER)
    )
    assert bad.status_code == 422 and bad.headers["content-type"].startswith(PROBLEM_JSON)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/admin/scoring/versions",
        "/v1/admin/scoring/versions/0123456789ab",
        "/v1/admin/scoring/evaluation",
        "/v1/admin/scoring/evaluations",
    ],
)
async def test_a_token_with_the_read_scope_is_needed(world: World, path: str):
    w = world
    anonymous = await w.router.get(path)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith(PROBLEM_JSON)
    importer = await w.router.get(path, headers=bearer(IMPORTER))
    assert importer.status_code == 403 and "'read'" in importer.json()["detail"]
    reader = await w.router.get(path, headers=bearer(READER))
    assert reader.status_code in (200, 404), reader.text
    assert reader.status_code == 200 or reader.json()["code"] == "not_found"


async def test_recording_a_version_again_is_idempotent_and_fills_a_backfilled_row(world: World):
    """Several routers load the same file: one row, its first load kept, its last moved; a
    version first known from stored scores gets its file once a router loads it."""
    w = world
    text = b"# another file\n" + SCORING.read_bytes()
    rules = parse_scoring_rules(text)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    await write(
        w.env,
        "INSERT INTO router.scoring_version (version, recorded_from, first_loaded_at, "
        "last_loaded_at) VALUES (:v, 'scores', :first, :last)",
        v=rules.version, first=start - timedelta(days=30), last=start,
    )  # fmt: skip
    later = start + timedelta(hours=1)
    rows = []
    for at in (start, later, start + timedelta(minutes=5)):
        async with db.sessionmaker(w.engine).begin() as session:
            row = store.version_row(rules, text, "scoring.yaml", at)
            rows.append(await store.record_version(session, row))
    assert rows == [False, False, False]  # the backfilled row was there first
    (got,) = await sql(
        w.env,
        "SELECT recorded_from, content, first_loaded_at, last_loaded_at, criteria_count "
        "FROM router.scoring_version WHERE version = :v",
        v=rules.version,
    )
    assert got.recorded_from == "router" and got.content == text.decode()
    assert got.first_loaded_at == start - timedelta(days=30) and got.last_loaded_at == later
    assert got.criteria_count == len(rules.criteria)
    other = b"# yet another\n" + SCORING.read_bytes()
    async with db.sessionmaker(w.engine).begin() as session:
        row = store.version_row(parse_scoring_rules(other), other, "scoring.yaml", start)
        created = await store.record_version(session, row)
    assert created is True

"""Named tokens and the audit trail against real processes over real HTTP (router, nurture and
ingest on their own database and topics, a tokens file in a temp directory): scopes answered
with 403 naming the missing one, an admin's change in GET /v1/admin/audit under its name, the
dev token still working in dev, a rotation done by editing the file (no restart), an expired
token refused, the router's scoring version recorded once."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from shared.auth import hash_token, new_token
from shared.settings import DEV_ADMIN_TOKEN
from shared.stack.common import free_port
from shared.stack.stack import SERVICES, ServiceProcess
from tests.kafka_helpers import wait_for
from tests.router_env import RouterEnv, sql

SPEC = {s.name: s for s in SERVICES}
SCORING = Path(__file__).resolve().parents[2] / "deploy" / "config" / "scoring.yaml"
ALICE, READER, IMPORTER = new_token(), new_token(), new_token()
OPS_OLD, OPS_NEW, EXPIRED = new_token(), new_token(), new_token()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def entry(name: str, token: str, scopes: list[str], **extra: Any) -> dict[str, Any]:
    return {"name": name, "scopes": scopes, "sha256": hash_token(token), **extra}


def tokens_doc(*, with_old_ops: bool = True) -> str:
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    entries = [
        entry("alice", ALICE, ["admin"]),
        entry("reader", READER, ["read"]),
        entry("importer", IMPORTER, ["import"]),
        entry("ops", OPS_NEW, ["read"]),
        entry("temp", EXPIRED, ["admin"], expires_at=past),
    ]
    if with_old_ops:
        entries.append(entry("ops", OPS_OLD, ["read"]))
    return yaml.safe_dump({"tokens": entries})


@dataclass
class World:
    env: RouterEnv
    tokens: Path
    scoring: Path
    router: httpx.AsyncClient
    nurture: httpx.AsyncClient
    ingest: httpx.AsyncClient


@pytest.fixture(scope="module")
async def world(stack, tmp_root: Path) -> AsyncIterator[World]:
    from tests.router_env import make_router_env

    env = await make_router_env(stack)
    tokens = tmp_root / f"tokens-{uuid.uuid4().hex[:8]}.yaml"
    tokens.write_text(tokens_doc())
    scoring = tmp_root / f"scoring-{uuid.uuid4().hex[:8]}.yaml"
    scoring.write_bytes(SCORING.read_bytes())
    extra = {
        "LEADFLOW_ADMIN_TOKENS_FILE": str(tokens),
        "LEADFLOW_ADMIN_TOKEN": "",
        "LEADFLOW_ROUTER_SCORING_FILE": str(scoring),
        "LEADFLOW_ROUTER_SCORING_RELOAD_SECONDS": "0.2",
    }
    procs = []
    for name in ("router", "nurture", "ingest"):
        proc = ServiceProcess(
            SPEC[name],
            {k: v for k, v in env.env(**extra).items() if v != ""},
            port=free_port(),
            log=tmp_root / f"{name}-credentials.log",
        )
        procs.append(proc)
    for proc in procs:
        await asyncio.to_thread(proc.start)
    for proc in procs:
        await asyncio.to_thread(proc.wait_ready)
    router, nurture, ingest = procs
    async with (
        httpx.AsyncClient(base_url=router.url, timeout=30) as r,
        httpx.AsyncClient(base_url=nurture.url, timeout=30) as n,
        httpx.AsyncClient(base_url=ingest.url, timeout=30) as i,
    ):
        yield World(env, tokens, scoring, r, n, i)
    for proc in procs:
        await asyncio.to_thread(proc.stop)


async def audit(client: httpx.AsyncClient, token: str = READER, **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/admin/audit", params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def a_rep(w: World) -> dict[str, Any]:
    response = await w.router.get("/v1/admin/reps", headers=bearer(READER))
    assert response.status_code == 200, response.text
    return response.json()[0]  # type: ignore[no-any-return]


async def test_a_read_token_reads_and_gets_403_naming_the_scope_on_a_change(world: World):
    w = world
    rep = await a_rep(w)
    response = await w.router.patch(
        f"/v1/admin/reps/{rep['id']}",
        json={"capacity": rep["capacity"] + 1},
        headers=bearer(READER),
    )
    assert response.status_code == 403
    problem = response.json()
    assert problem["code"] == "insufficient_scope" and "'admin'" in problem["detail"]
    assert response.headers["content-type"].startswith("application/problem+json")
    assert 'scope="admin"' in response.headers["www-authenticate"]
    assert (await a_rep(w))["capacity"] == rep["capacity"]
    assert not (await audit(w.router, subject_id=rep["id"], actor="reader"))["events"]
    # an import-only token reads nothing of the router's
    assert (await w.router.get("/v1/admin/teams", headers=bearer(IMPORTER))).status_code == 403
    # nurture's operator actions, too (the scope is checked before the lead is looked for)
    paused = await w.nurture.post(f"/v1/nurture/leads/{uuid.uuid4()}/pause", headers=bearer(READER))
    assert paused.status_code == 403 and "'admin'" in paused.json()["detail"]


async def test_an_admin_change_appears_in_the_audit_trail_under_its_name(world: World):
    w = world
    rep = await a_rep(w)
    request_id = f"req-{uuid.uuid4().hex[:8]}"
    response = await w.router.patch(
        f"/v1/admin/reps/{rep['id']}",
        json={"capacity": rep["capacity"] + 3, "email": f"x{uuid.uuid4().hex[:6]}@example.com"},
        headers={**bearer(ALICE), "X-Request-ID": request_id},
    )
    assert response.status_code == 200, response.text
    (event,) = (await audit(w.router, actor="alice", subject_id=rep["id"]))["events"]
    assert event["action"] == "rep.updated" and event["subject"] == {"type": "rep", "id": rep["id"]}
    assert event["changes"]["capacity"] == {"before": rep["capacity"], "after": rep["capacity"] + 3}
    assert event["changes"]["email"] == {"changed": True}  # a rep's email stays out of the trail
    assert "example.com" not in str(event) and event["request_id"] == request_id
    assert datetime.fromisoformat(event["at"]) > datetime.now(UTC) - timedelta(minutes=5)
    # filters: another actor or action finds nothing; since after the change neither
    assert not (await audit(w.router, actor="dev", subject_id=rep["id"]))["events"]
    assert not (await audit(w.router, action="team.updated", subject_id=rep["id"]))["events"]
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert not (await audit(w.router, since=later, subject_id=rep["id"]))["events"]


async def test_a_refused_change_records_nothing(world: World):
    w = world
    rep = await a_rep(w)
    before = (await audit(w.router, subject_id=rep["id"], limit=500))["events"]
    response = await w.router.patch(
        f"/v1/admin/reps/{rep['id']}", json={"team": "no-such-team"}, headers=bearer(ALICE)
    )
    assert response.status_code == 422
    assert (await audit(w.router, subject_id=rep["id"], limit=500))["events"] == before


async def test_rules_replaced_are_recorded_with_before_and_after(world: World):
    w = world
    rules = (await w.router.get("/v1/admin/rules", headers=bearer(READER))).json()
    assert len(rules) > 1, "the routing fixture has several rules"
    changed = [*rules[1:], rules[0]]
    response = await w.router.put("/v1/admin/rules", json={"rules": changed}, headers=bearer(ALICE))
    assert response.status_code == 200, response.text
    event = (await audit(w.router, action="rules.replaced", actor="alice", limit=1))["events"][0]
    assert event["changes"]["rules"] == {"before": rules, "after": changed}


async def test_the_dev_token_still_works_in_dev_with_every_scope(world: World):
    w = world
    teams = (await w.router.get("/v1/admin/teams", headers=bearer(DEV_ADMIN_TOKEN))).json()
    team = teams[0]
    response = await w.router.put(
        f"/v1/admin/teams/{team['id']}",
        json={**team, "sla_minutes": team["sla_minutes"] + 1},
        headers=bearer(DEV_ADMIN_TOKEN),
    )
    assert response.status_code == 200, response.text
    (event, *_) = (await audit(w.router, actor="dev", subject_id=team["id"]))["events"]
    assert event["action"] == "team.updated"
    assert event["changes"] == {
        "sla_minutes": {"before": team["sla_minutes"], "after": team["sla_minutes"] + 1}
    }


async def test_no_unknown_or_expired_tokens_get_401(world: World):
    w = world
    for headers, detail in (
        ({}, "a valid admin bearer token is required"),
        (bearer("lf_" + "x" * 43), "a valid admin bearer token is required"),
        ({"Authorization": f"Basic {ALICE}"}, "a valid admin bearer token is required"),
        (bearer(EXPIRED), "the bearer token has expired"),
    ):
        for client, path in (
            (w.router, "/v1/admin/audit"),
            (w.nurture, "/v1/nurture/sequences"),
            (w.ingest, "/v1/admin/audit"),
        ):
            response = await client.get(path, headers=headers)
            assert response.status_code == 401, (path, headers)
            assert response.json()["detail"] == detail
            assert response.headers["www-authenticate"] == "Bearer"


async def test_a_rotated_out_token_is_refused_once_the_file_drops_it(world: World):
    w = world
    for token in (OPS_OLD, OPS_NEW):  # both tokens of "ops" work while the rotation runs
        assert (await w.router.get("/v1/admin/teams", headers=bearer(token))).status_code == 200
    w.tokens.write_text(tokens_doc(with_old_ops=False))
    stat = w.tokens.stat()
    os.utime(w.tokens, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    for client, path in (
        (w.router, "/v1/admin/teams"),
        (w.nurture, "/v1/nurture/sequences"),
        (w.ingest, "/v1/admin/audit"),
    ):
        assert (await client.get(path, headers=bearer(OPS_OLD))).status_code == 401, path
        assert (await client.get(path, headers=bearer(OPS_NEW))).status_code == 200, path


async def test_an_import_is_recorded_by_ingest_under_the_importer(world: World):
    w = world
    raw = f"email,first_name,company\n{uuid.uuid4().hex[:8]}@example.com,Ada,Initech\n".encode()
    files = {"file": ("names.csv", raw, "text/csv")}
    refused = await w.ingest.post(
        "/v1/lists/purchased-lists/imports", files=files, headers=bearer(ALICE)
    )
    assert refused.status_code == 403 and "'import'" in refused.json()["detail"]
    response = await w.ingest.post(
        "/v1/lists/purchased-lists/imports", files=files, headers=bearer(IMPORTER)
    )
    assert response.status_code == 202, response.text
    job = response.json()
    # the importer follows its job; a reader may too
    for token in (IMPORTER, READER):
        got = await w.ingest.get(f"/v1/imports/{job['import_id']}", headers=bearer(token))
        assert got.status_code == 200, got.text
    (event,) = (await audit(w.ingest, subject_id=job["import_id"]))["events"]
    assert event["actor"] == "importer" and event["action"] == "import.started"
    assert event["changes"]["kind"] == "list" and event["changes"]["list_id"] == "purchased-lists"
    assert "example.com" not in str(event)
    # the router and nurture keep their own trails: the import is not in theirs
    assert not (await audit(w.router, subject_id=job["import_id"]))["events"]
    assert not (await audit(w.nurture, subject_id=job["import_id"]))["events"]


async def test_the_trail_pages_newest_first_with_a_cursor(world: World):
    w = world
    rep = await a_rep(w)
    for capacity in (rep["capacity"] + 10, rep["capacity"] + 11, rep["capacity"] + 12):
        response = await w.router.patch(
            f"/v1/admin/reps/{rep['id']}", json={"capacity": capacity}, headers=bearer(ALICE)
        )
        assert response.status_code == 200
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"subject_id": rep["id"], "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await audit(w.router, **params)
        seen.extend(e["id"] for e in page["events"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) >= 3
    bad = await w.router.get("/v1/admin/audit", params={"cursor": "nope"}, headers=bearer(READER))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"


async def test_the_router_records_the_scoring_version_in_force_once(world: World):
    w = world
    events = (await audit(w.router, action="scoring.loaded"))["events"]
    assert len(events) == 1
    (event,) = events
    assert event["actor"] == "router" and event["subject"] == {"type": "scoring", "id": "rules"}
    assert event["changes"]["file"].endswith(".yaml") and len(event["changes"]["version"]) == 12
    rows = await sql(
        w.env, "SELECT count(*) FROM router.audit_event WHERE action = 'scoring.loaded'"
    )
    assert rows[0][0] == 1


async def test_a_new_scoring_version_in_force_is_recorded(world: World):
    w = world
    (first,) = (await audit(w.router, action="scoring.loaded"))["events"]
    w.scoring.write_bytes(SCORING.read_bytes() + b"\n# tuned by marketing ops\n")

    async def recorded() -> list[dict[str, Any]] | None:
        found = (await audit(w.router, action="scoring.loaded"))["events"]
        return found if len(found) == 2 else None

    newest, oldest = await wait_for(recorded, timeout=20)
    assert oldest == first
    assert newest["changes"]["previous_version"] == first["changes"]["version"]
    assert newest["changes"]["version"] != first["changes"]["version"]


async def test_outside_dev_only_the_file_counts(stack, tmp_root: Path):
    """A production router: the file's tokens work, the dev token does not; a tokens file
    that is not valid stops the service at start-up, naming the problem."""
    from tests.router_env import make_router_env

    env = await make_router_env(stack)
    tokens = tmp_root / f"tokens-prod-{uuid.uuid4().hex[:8]}.yaml"
    tokens.write_text(tokens_doc())
    settings = {
        "LEADFLOW_ENV": "production",
        "LEADFLOW_ADMIN_TOKENS_FILE": str(tokens),
        "LEADFLOW_ERASURE_HASH_KEY": "a-production-erasure-hash-key-" + uuid.uuid4().hex,
    }
    base = {k: v for k, v in env.env(**settings).items() if k != "LEADFLOW_ADMIN_TOKEN"}
    proc = ServiceProcess(SPEC["router"], base, port=free_port(), log=tmp_root / "router-prod.log")
    await asyncio.to_thread(proc.start)
    try:
        await asyncio.to_thread(proc.wait_ready)
        async with httpx.AsyncClient(base_url=proc.url, timeout=30) as client:
            dev = await client.get("/v1/admin/teams", headers=bearer(DEV_ADMIN_TOKEN))
            assert dev.status_code == 401
            assert (await client.get("/v1/admin/teams", headers=bearer(READER))).status_code == 200
    finally:
        await asyncio.to_thread(proc.stop)

    from services.router.app import create_app
    from services.router.settings import RouterSettings
    from shared.auth import TokensFileError

    broken = tmp_root / f"tokens-broken-{uuid.uuid4().hex[:8]}.yaml"
    broken.write_text("tokens:\n  - name: alice\n    scopes: [root]\n    sha256: " + "0" * 64)
    with pytest.raises(TokensFileError, match="unknown scope 'root'"):
        create_app(RouterSettings(env="production", database_url=env.database_url,
                                  admin_tokens_file=broken,
                                  erasure_hash_key=settings["LEADFLOW_ERASURE_HASH_KEY"]))  # fmt: skip

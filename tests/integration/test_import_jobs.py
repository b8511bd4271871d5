"""Import jobs against real processes: purchased lists and trade shows go in as files, come
out as events on the bulk lane, one batch at a time, through cancels, re-uploads and kill -9.

The jobs here run throttled (``LEADFLOW_INGEST_IMPORT_MAX_ROWS_PER_SECOND``) in small
batches, so a test of a few hundred rows sees them mid-way."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from services.ingest.domain.ids import row_ids
from services.ingest.domain.jobs import ImportKind, JobStatus
from services.ingest.imports.repository import ImportRepository
from services.ingest.models import ImportJob
from shared import db
from tests.conftest import start_ingest
from tests.import_jobs import ADMIN, all_rows, job, wait_finished
from tests.kafka_helpers import TopicReader, value, wait_for
from tests.router_env import RouterEnv, make_router_env
from tests.signing import signed_request, unique_email

BATCH = 25
RATE = 500  # rows per second per job: 20 batches a second
LIMITS = {
    "LEADFLOW_INGEST_IMPORT_BATCH_ROWS": str(BATCH),
    "LEADFLOW_INGEST_IMPORT_MAX_ROWS_PER_SECOND": str(RATE),
    "LEADFLOW_INGEST_IMPORT_LEASE_SECONDS": "2",
    "LEADFLOW_INGEST_IMPORT_POLL_SECONDS": "0.2",
    "LEADFLOW_INGEST_IMPORT_MAX_ROWS": "3000",
    "LEADFLOW_INGEST_IMPORT_MAX_BYTES": "200000",
}
LIST = "purchased-lists"


def ingest_env(env: RouterEnv, **extra: str) -> dict[str, str]:
    return {
        "LEADFLOW_TOPIC_PREFIX": env.prefix,
        "LEADFLOW_DATABASE_URL": env.database_url,
        **LIMITS,
        **extra,
    }


@pytest.fixture(scope="module")
async def jobs_env(stack) -> RouterEnv:
    """A database and topic prefix of this module's own: only its ingest works its jobs."""
    return await make_router_env(stack)


@pytest.fixture(scope="module")
async def jobs_ingest(stack, jobs_env, tmp_path_factory):
    proc = await asyncio.to_thread(
        start_ingest,
        stack,
        tmp_path_factory.mktemp("jobs"),
        name="ingest-jobs",
        **ingest_env(jobs_env),
    )
    yield proc
    await asyncio.to_thread(proc.stop)


@pytest.fixture
async def client(jobs_ingest):
    async with httpx.AsyncClient(base_url=jobs_ingest.url, timeout=60) as c:
        yield c


@pytest.fixture
async def bulk(stack, jobs_env):
    async with TopicReader(stack.bootstrap, jobs_env.topic("leads.bulk.v1")) as reader:
        yield reader


def list_file(rows: int, *, bad_every: int = 0, tag: str | None = None) -> tuple[bytes, set[int]]:
    """A purchased list in a list vendor's headers; every ``bad_every``-th row has a bad email."""
    tag = tag or uuid.uuid4().hex[:10]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["Work Email", "First Name", "Last Name", "Company", "Title", "Country", "Record ID"]
    )
    bad: set[int] = set()
    for n in range(1, rows + 1):
        email = f"{tag}.{n}@example.com"
        if bad_every and n % bad_every == 0:
            email = f"{tag}.{n}@"
            bad.add(n)
        writer.writerow([email, "Grace", f"Row{n}", "Initech", "Buyer", "US", f"R{n}"])
    return out.getvalue().encode(), bad


async def upload_list(
    client: httpx.AsyncClient, raw: bytes, *, list_id: str = LIST, **extra: Any
) -> httpx.Response:
    return await client.post(
        f"/v1/lists/{list_id}/imports",
        files={"file": ("names.csv", raw, "text/csv")},
        headers=ADMIN,
        **extra,
    )


def events_of(records: list[Any], event_ids: set[str]) -> list[dict[str, Any]]:
    return [e for e in (value(r) for r in records) if e["id"] in event_ids]


async def test_a_list_import_reports_progress_then_every_row(client, bulk):
    raw, bad = list_file(300, bad_every=37)
    response = await upload_list(client, raw)
    assert response.status_code == 202, response.text
    first = response.json()
    import_id = first["import_id"]
    assert response.headers["location"] == f"/v1/imports/{import_id}"
    assert first["kind"] == "list" and first["list"] == {"id": LIST}
    assert first["total_rows"] == 300 and first["status"] in ("queued", "running")
    assert first["column_mapping"]["Work Email"] == "email"
    assert first["ignored_columns"] == ["Record ID"]

    seen: list[dict[str, Any]] = []
    while not seen or seen[-1]["status"] != "done":
        seen.append(await job(client, import_id))
        assert seen[-1]["status"] in ("queued", "running", "done"), seen[-1]
        await asyncio.sleep(0.02)
    read = [s["rows_read"] for s in seen]
    assert read == sorted(read)  # progress only moves forward
    assert any(s["status"] == "running" and 0 < s["rows_read"] < 300 for s in seen), read
    assert all(s["rows_read"] == s["accepted"] + s["rejected"] for s in seen)
    done = seen[-1]
    assert (done["accepted"], done["rejected"]) == (300 - len(bad), len(bad))
    assert done["started_at"] and done["finished_at"]

    # the per-row results, page by page: rejections with field errors, acceptances with ids
    rows = await all_rows(client, import_id, limit=40)
    assert [r["row"] for r in rows] == list(range(1, 301))
    for r in rows:
        if r["row"] in bad:
            assert r["status"] == "rejected" and r["errors"][0]["field"] == "email", r
        else:
            ids = row_ids(uuid.UUID(import_id), r["row"])
            assert r["status"] == "accepted" and "errors" not in r
            assert r["submission_id"] == r["lead_id"] == str(ids.submission_id)
            assert r["event_id"] == ids.event_id
    rejected = await all_rows(client, import_id, status="rejected", limit=3)
    assert {r["row"] for r in rejected} == bad

    # on the bulk lane: every accepted row once, as a purchased-list name
    accepted = {r["event_id"] for r in rows if r["status"] == "accepted"}
    records = await bulk.read(until=lambda rs: len(events_of(rs, accepted)) >= len(accepted))
    events = events_of(records, accepted)
    assert len(events) == len({e["id"] for e in events}) == len(accepted)
    data = events[0]["data"]
    assert data["channel"] == "purchased_list" and data["purchased_list"] is True
    assert data["source"] == {"id": LIST, "kind": "list"}


async def test_a_re_upload_returns_the_first_job(client, bulk):
    raw, _ = list_file(200)
    first = await upload_list(client, raw)
    assert first.status_code == 202
    import_id = first.json()["import_id"]
    running = await upload_list(client, raw)  # while the first still runs
    assert running.status_code == 200 and running.headers["idempotent-replayed"] == "true"
    assert running.json()["import_id"] == import_id
    assert running.headers["location"] == f"/v1/imports/{import_id}"
    done = await wait_finished(client, import_id)
    assert done["status"] == "done" and done["accepted"] == 200

    await bulk.mark()
    after = await upload_list(client, raw)
    assert after.status_code == 200 and after.json()["import_id"] == import_id
    assert after.json()["status"] == "done"
    await asyncio.sleep(1)
    assert await bulk.new_count() == 0


async def test_cancel_stops_a_job_and_a_re_upload_finishes_it(client, bulk):
    raw, _ = list_file(2000)
    response = await upload_list(client, raw)
    import_id = response.json()["import_id"]
    await wait_for(lambda: _read_at_least(client, import_id, BATCH), timeout=20)
    cancel = await client.delete(f"/v1/imports/{import_id}", headers=ADMIN)
    assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled"
    await asyncio.sleep(1)  # the batch in flight is recorded, then nothing moves
    stopped = await job(client, import_id)
    assert stopped["status"] == "cancelled" and stopped["finished_at"]
    assert BATCH <= stopped["rows_read"] < 2000
    await asyncio.sleep(0.5)
    assert (await job(client, import_id))["rows_read"] == stopped["rows_read"]
    again = await client.delete(f"/v1/imports/{import_id}", headers=ADMIN)
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
    # the rows already published stay, and are recorded
    rows = await all_rows(client, import_id)
    assert [r["row"] for r in rows] == list(range(1, stopped["rows_read"] + 1))

    # the same file again: the job goes on where it stopped, to the end
    resumed = await upload_list(client, raw)
    assert resumed.status_code == 200 and resumed.json()["import_id"] == import_id
    assert resumed.json()["status"] == "queued"
    done = await wait_finished(client, import_id)
    assert done["status"] == "done" and done["accepted"] == 2000
    finished = await client.delete(f"/v1/imports/{import_id}", headers=ADMIN)
    assert finished.status_code == 409 and finished.json()["code"] == "import_finished"
    assert (await client.delete(f"/v1/imports/{uuid.uuid4()}", headers=ADMIN)).status_code == 404


async def test_a_job_cancelled_after_its_last_batch_ends_done_when_uploaded_again(client, jobs_env):
    raw, _ = list_file(30)
    import_id = (await upload_list(client, raw)).json()["import_id"]
    assert (await wait_finished(client, import_id))["status"] == "done"
    # as if the cancel had come while the last batch was in flight: every row recorded
    engine = db.create_engine(jobs_env.database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                update(ImportJob)
                .where(ImportJob.id == uuid.UUID(import_id))
                .values(status=JobStatus.cancelled)
            )
    finally:
        await engine.dispose()
    again = await upload_list(client, raw)
    assert again.status_code == 200 and again.json()["status"] == "queued"
    done = await wait_finished(client, import_id)
    assert done["status"] == "done" and done["accepted"] == 30


async def _read_at_least(client: httpx.AsyncClient, import_id: str, rows: int) -> bool:
    return (await job(client, import_id))["rows_read"] >= rows


async def test_kill_9_mid_job_then_restart_finishes_it_with_the_same_event_ids(
    stack, env, tmp_path
):
    """Its own database and prefix: the process killed and the one restarted are the only workers."""
    settings = ingest_env(env)
    raw, bad = list_file(1500, bad_every=50)
    async with TopicReader(stack.bootstrap, env.topic("leads.bulk.v1")) as bulk:
        first = await asyncio.to_thread(start_ingest, stack, tmp_path, name="ingest-a", **settings)
        async with httpx.AsyncClient(base_url=first.url, timeout=60) as client:
            response = await upload_list(client, raw)
            assert response.status_code == 202
            import_id = response.json()["import_id"]
            await wait_for(lambda: _read_at_least(client, import_id, 300), timeout=20)
            await asyncio.to_thread(first.kill)  # SIGKILL: no shutdown, its lease must lapse
        second = await asyncio.to_thread(start_ingest, stack, tmp_path, name="ingest-b", **settings)
        try:
            async with httpx.AsyncClient(base_url=second.url, timeout=60) as client:
                at_restart = await job(client, import_id)
                assert at_restart["status"] == "running" and at_restart["rows_read"] < 1500
                done = await wait_finished(client, import_id, timeout=60)
                assert done["status"] == "done", done
                assert (done["accepted"], done["rejected"]) == (1500 - len(bad), len(bad))
                rows = await all_rows(client, import_id)
        finally:
            await asyncio.to_thread(second.stop)
        assert [r["row"] for r in rows] == list(range(1, 1501))
        expected = {
            row_ids(uuid.UUID(import_id), n).event_id for n in range(1, 1501) if n not in bad
        }
        assert {r["event_id"] for r in rows if r["status"] == "accepted"} == expected
        records = await bulk.read(
            until=lambda rs: len({value(r)["id"] for r in rs} & expected) >= len(expected)
        )
    events = events_of(records, expected)
    ids = Counter(e["id"] for e in events)
    assert set(ids) == expected  # every row's event, under the id derived from its row
    # a row re-sent after the kill (at most the batch in flight) is the same event again
    assert len(events) - len(ids) <= BATCH
    for event_id in (i for i, n in ids.items() if n > 1):
        copies = [e for e in events if e["id"] == event_id]
        assert all(c == copies[0] for c in copies)


async def test_only_one_worker_holds_a_job_and_a_dead_workers_job_is_taken_over(jobs_env):
    """Claims over the repository, as several ingest replicas make them."""
    engine = db.create_engine(jobs_env.database_url, pool_size=3)
    sessions = db.sessionmaker(engine)
    prefix = f"claims-{uuid.uuid4().hex[:8]}."
    now = datetime.now(UTC)
    lease = timedelta(seconds=30)
    try:
        async with sessions.begin() as session:
            for n in range(2):
                await ImportRepository(session).create(
                    {
                        "id": uuid.uuid4(), "kind": ImportKind.list, "status": JobStatus.queued,
                        "topic_prefix": prefix, "list_id": LIST, "file_sha256": "0" * 64,
                        "file_bytes": 1, "fields": ["email"], "column_mapping": {},
                        "ignored_columns": [], "total_rows": 1, "accepted_rows": 0,
                        "rejected_rows": 0, "chunk_count": 1, "next_chunk": 0,
                        "created_at": now + timedelta(seconds=n), "updated_at": now,
                    }
                )  # fmt: skip

        async def claim(owner: str, hold: float) -> Any:
            async with sessions.begin() as session:
                claimed = await ImportRepository(session).claim(
                    owner=owner, topic_prefix=prefix, lease=lease, now=now
                )
                await asyncio.sleep(hold)  # both claims in flight at once
                return claimed

        a, b = await asyncio.gather(claim("worker-a", 0.3), claim("worker-b", 0.3))
        assert a is not None and b is not None and a[0].id != b[0].id
        assert await claim("worker-c", 0) is None  # both held
        # worker-a dies: once its lease lapses, another worker takes its job over
        async with sessions.begin() as session:
            await session.execute(
                update(ImportJob)
                .where(ImportJob.id == a[0].id)
                .values(lease_expires_at=now - timedelta(seconds=1))
            )
        taken = await claim("worker-c", 0)
        assert taken is not None and taken[0].id == a[0].id
        assert taken[1] == JobStatus.running and taken[0].lease_owner == "worker-c"
    finally:
        await engine.dispose()


async def test_bulk_sources_take_the_bulk_lane_and_web_leads_the_fast_lane(
    client, bulk, stack, jobs_env
):
    async with TopicReader(stack.bootstrap, jobs_env.topic("leads.received.v1")) as fast:
        web_body, web_headers = signed_request({"email": unique_email("web")})
        web = await client.post("/v1/leads", content=web_body, headers=web_headers)
        list_body, list_headers = signed_request({"email": unique_email("name")}, source=LIST)
        name = await client.post("/v1/leads", content=list_body, headers=list_headers)
        assert web.status_code == name.status_code == 202
        assert name.json()["purchased_list"] is True
        web_id, name_id = web.json()["event_id"], name.json()["event_id"]
        on_fast = await fast.read(
            until=lambda rs: any(value(r)["id"] == web_id for r in rs), timeout=10
        )
        on_bulk = await bulk.read(
            until=lambda rs: any(value(r)["id"] == name_id for r in rs), timeout=10
        )
        assert web_id in {value(r)["id"] for r in on_fast}
        assert name_id in {value(r)["id"] for r in on_bulk}
        assert name_id not in {value(r)["id"] for r in await fast.read(timeout=1)}
        assert web_id not in {value(r)["id"] for r in await bulk.read(timeout=1)}

        # a trade-show import's rows go to the bulk lane too
        response = await client.post(
            f"/v1/trade-shows/lanes-{uuid.uuid4().hex[:8]}/imports",
            data={"name": "Lanes", "end_date": "2026-06-12", "timezone": "Europe/Berlin"},
            files={"file": ("s.csv", f"Email\n{unique_email('show')}\n".encode(), "text/csv")},
            headers=ADMIN,
        )
        assert response.status_code == 202 and response.json()["topic"].endswith("leads.bulk.v1")
        import_id = response.json()["import_id"]
        assert (await wait_finished(client, import_id))["accepted"] == 1
        show_event = row_ids(uuid.UUID(import_id), 1).event_id
        on_bulk = await bulk.read(
            until=lambda rs: any(value(r)["id"] == show_event for r in rs), timeout=10
        )
        assert show_event in {value(r)["id"] for r in on_bulk}
        assert show_event not in {value(r)["id"] for r in await fast.read(timeout=1)}


@pytest.mark.parametrize(
    ("upload", "status", "field", "says"),
    [
        ({"raw": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00"}, 422, "file", "binary"),
        ({"raw": b""}, 422, "file", "empty"),
        ({"raw": "Email\na@x.io\n".encode("utf-16")}, 422, "file", "UTF-16"),
        ({"raw": b"Name,Company\nAda,Acme\n"}, 422, "file", "email or phone"),
        ({"raw": b"Email,Email\na@x.io,b@x.io\n"}, 422, "file", "duplicate"),
        ({"raw": b"Email\na@x.io\n", "list_id": "no-such-list"}, 404, "list", "no-such-list"),
        ({"raw": b"Email\na@x.io\n", "list_id": "website"}, 422, "list", "website"),
        ({"raw": b"Email\na@x.io\n", "mapping": "[1]"}, 422, "mapping", "mapping"),
        ({"raw": b"Email\n" + b"".join(b"r%d@x.io\n" % n for n in range(3001))}, 413, "file", "3000 rows"),
    ],
    ids=["binary", "empty", "utf16", "no-contact-column", "duplicate-headers", "unknown-list", "not-a-list", "bad-mapping", "too-many-rows"],
)  # fmt: skip
async def test_bad_input_gets_a_4xx_naming_the_problem(client, upload, status, field, says):
    data = {"mapping": upload["mapping"]} if "mapping" in upload else None
    response = await upload_list(
        client, upload["raw"], list_id=upload.get("list_id", LIST), data=data
    )
    assert response.status_code == status, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["errors"][0]["field"] == field, problem
    assert says in problem["detail"], problem


async def test_too_large_a_file_gets_413_and_every_import_needs_the_admin_token(
    client, jobs_ingest
):
    # declared over this ingest's 200,000-byte limit: refused before a byte of it is read
    host, port = jobs_ingest.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST /v1/lists/{LIST}/imports HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {ADMIN['authorization']}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 200001\r\n\r\n".encode()
    )
    await writer.drain()
    answer = b""
    async with asyncio.timeout(10):  # headers and body may come in separate reads
        while b"payload_too_large" not in answer and (chunk := await reader.read(4096)):
            answer += chunk
    writer.close()
    assert answer.startswith(b"HTTP/1.1 413") and b"payload_too_large" in answer, answer
    small = {"file": ("names.csv", b"Email\na@x.io\n", "text/csv")}
    assert (await client.post(f"/v1/lists/{LIST}/imports", files=small)).status_code == 401
    assert (await client.get(f"/v1/imports/{uuid.uuid4()}")).status_code == 401
    assert (await client.delete(f"/v1/imports/{uuid.uuid4()}")).status_code == 401
    assert (await client.get(f"/v1/imports/{uuid.uuid4()}", headers=ADMIN)).status_code == 404


async def test_import_list_command_follows_the_job_to_the_end(jobs_ingest, tmp_path: Path):
    raw, bad = list_file(250, bad_every=60)
    path = tmp_path / "names.csv"
    path.write_bytes(raw)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.cli", "import-list", str(path), "--list", LIST,
        "--url", jobs_ingest.url, "--show-rejected", "2",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    out = (await asyncio.wait_for(proc.communicate(), 60))[0].decode()
    assert proc.returncode == 0, out
    assert "import" in out and "done" in out
    assert f"{250 - len(bad)} accepted, {len(bad)} rejected of 250 rows" in out
    assert f"row {min(bad)}: email:" in out
    assert f"... {len(bad) - 2} more" in out

"""A 10,000-row badge-scan file as an import job: every good row on the bulk lane once,
every bad row reported."""

from __future__ import annotations

import asyncio
import collections
import csv
import io
import os
import sys
import uuid

import httpx
import pytest

from tests.import_jobs import ADMIN, all_rows, wait_finished
from tests.kafka_helpers import TopicReader, value


def badge_file(rows: int, tag: str) -> tuple[bytes, dict[int, str]]:
    """A scanner export; returns the file and the expected reason field of each bad row."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "Badge ID",
            "First Name",
            "Last Name",
            "Email Address",
            "Company Name",
            "Job Title",
            "Phone Number",
            "Country",
            "Notes",
        ]
    )
    bad: dict[int, str] = {}
    for n in range(1, rows + 1):
        email = f"{tag}.{n}@example.com"
        phone = ""
        if n % 97 == 0:
            email, bad[n] = "not-an-email", "email"
        elif n % 101 == 0:
            email, bad[n] = "", "email"  # neither email nor phone
        elif n % 89 == 0:
            email, phone, bad[n] = "", "12345", "phone"
        writer.writerow(
            [f"B{n}", "Ada", f"Row{n}", email, "Acme, Inc.", "CTO", phone, "DE", "met at booth"]
        )
    return out.getvalue().encode(), bad


@pytest.fixture
async def client(ingest):
    async with httpx.AsyncClient(base_url=ingest.url, timeout=300) as c:
        yield c


async def test_ten_thousand_rows_with_bad_rows(client, stack):
    tag = f"show{uuid.uuid4().hex[:8]}"
    raw, bad = badge_file(10_000, tag)
    form = {"name": "SaaStr Europa", "end_date": "2026-06-12", "timezone": "Europe/Berlin"}
    async with TopicReader(stack.bootstrap, "leads.bulk.v1") as topic:
        response = await client.post(
            f"/v1/trade-shows/{tag}/imports",
            data=form,
            files={"file": ("scans.csv", raw, "text/csv")},
            headers=ADMIN,
        )
        assert response.status_code == 202, response.text[:500]
        queued = response.json()
        import_id = queued["import_id"]
        assert response.headers["location"] == f"/v1/imports/{import_id}"
        assert queued["status"] in ("queued", "running") and queued["total_rows"] == 10_000
        assert queued["ignored_columns"] == ["Badge ID"]
        assert queued["topic"] == "leads.bulk.v1"

        result = await wait_finished(client, import_id)
        assert result["status"] == "done", result
        assert result["total_rows"] == result["rows_read"] == 10_000
        assert result["rejected"] == len(bad)
        assert result["accepted"] == 10_000 - len(bad)
        rows = await all_rows(client, import_id)
        assert [r["row"] for r in rows] == list(range(1, 10_001))
        rejected = {r["row"]: r for r in rows if r["status"] == "rejected"}
        assert set(rejected) == set(bad)
        for n, field in bad.items():
            assert field in [e["field"] for e in rejected[n]["errors"]], rejected[n]

        records = await topic.read(
            until=lambda rs: (
                sum(
                    1
                    for r in rs
                    if value(r)["data"].get("trade_show", {}).get("import_id") == import_id
                )
                >= result["accepted"]
            ),
            timeout=60,
        )
        mine = [
            value(r)
            for r in records
            if (value(r)["data"].get("trade_show") or {}).get("import_id") == import_id
        ]
        rows_on_topic = collections.Counter(e["data"]["trade_show"]["row_number"] for e in mine)
        good = set(range(1, 10_001)) - set(bad)
        assert set(rows_on_topic) == good
        assert max(rows_on_topic.values()) == 1
        # each accepted row's result names the submission and the event that carries it
        by_row = {e["data"]["trade_show"]["row_number"]: e for e in mine}
        for r in rows:
            if r["status"] == "accepted":
                event = by_row[r["row"]]
                assert r["event_id"] == event["id"]
                assert r["submission_id"] == r["lead_id"] == event["data"]["lead_id"]
        sample = mine[0]["data"]
        assert sample["channel"] == "trade_show"
        assert (
            sample["trade_show"]["timezone"] == "Europe/Berlin"
            and sample["trade_show"]["end_date"] == "2026-06-12"
        )
        assert sample["lead"]["company"] == "Acme, Inc." and sample["lead"]["country"] == "DE"

        # the same file again: the first import, nothing new published
        await topic.mark()
        again = await client.post(
            f"/v1/trade-shows/{tag}/imports",
            data=form,
            files={"file": ("scans.csv", raw, "text/csv")},
            headers=ADMIN,
        )
        assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
        assert again.json()["import_id"] == import_id and again.json()["status"] == "done"
        await asyncio.sleep(0.5)
        assert await topic.new_count() == 0

    stored = await client.get(
        f"/v1/imports/{import_id}", params={"status": "rejected"}, headers=ADMIN
    )
    assert stored.status_code == 200
    assert {r["row"] for r in stored.json()["rows"]} == set(bad)


async def test_import_needs_admin_token_and_a_usable_file(client):
    form = {"name": "Show", "end_date": "2026-06-12", "timezone": "Europe/Berlin"}
    files = {"file": ("s.csv", b"Email\nada@example.com\n", "text/csv")}
    assert (
        await client.post("/v1/trade-shows/s1/imports", data=form, files=files)
    ).status_code == 401
    no_contact = {"file": ("s.csv", b"Name,Company\nAda,Acme\n", "text/csv")}
    response = await client.post(
        "/v1/trade-shows/s1/imports", data=form, files=no_contact, headers=ADMIN
    )
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "file"
    bad_tz = {**form, "timezone": "Europe/Atlantis"}
    response = await client.post(
        "/v1/trade-shows/s1/imports", data=bad_tz, files=files, headers=ADMIN
    )
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "timezone"
    mapped = {**form, "mapping": '{"Mail":"email"}'}
    files = {"file": ("s.csv", f"Mail\n{uuid.uuid4().hex}@example.com\n".encode(), "text/csv")}
    response = await client.post(
        "/v1/trade-shows/s2/imports", data=mapped, files=files, headers=ADMIN
    )
    assert response.status_code == 202
    assert (await wait_finished(client, response.json()["import_id"]))["accepted"] == 1
    assert (await client.get(f"/v1/imports/{uuid.uuid4()}", headers=ADMIN)).status_code == 404


async def test_import_command_line_shows_results(ingest, tmp_path):
    tag = f"cli{uuid.uuid4().hex[:8]}"
    raw, bad = badge_file(300, tag)
    path = tmp_path / "scans.csv"
    path.write_bytes(raw)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.cli", "import-trade-show", str(path), "--show", tag, "--name", "CLI Show",
        "--end-date", "2026-06-12", "--timezone", "Europe/Berlin", "--url", ingest.url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    out = (await asyncio.wait_for(proc.communicate(), 120))[0].decode()
    assert proc.returncode == 0, out
    assert "import done" in out
    assert f"{300 - len(bad)} accepted, {len(bad)} rejected of 300 rows" in out
    assert f"row {min(bad)}:" in out  # rejected rows listed with their reasons

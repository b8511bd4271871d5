"""`make run` is `leadflow run`: the whole system up from nothing, then Ctrl-C stops it all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

from shared.settings import DEV_ADMIN_TOKEN
from shared.stack.common import free_port, port_open
from tests.signing import signed_request, unique_email


def test_leadflow_run_starts_everything_and_ctrl_c_stops_it(tmp_path):
    ports = {
        name: free_port()
        for name in ("PG", "KAFKA", "KAFKA_CONTROLLER", "INGEST", "ROUTER", "NURTURE", "DELIVERY")
    }
    env = {
        **os.environ,
        "LEADFLOW_STATE_DIR": str(tmp_path / "state"),
        "LEADFLOW_PG_PORT": str(ports["PG"]),
        "LEADFLOW_KAFKA_PORT": str(ports["KAFKA"]),
        "LEADFLOW_KAFKA_CONTROLLER_PORT": str(ports["KAFKA_CONTROLLER"]),
        "LEADFLOW_INGEST_PORT": str(ports["INGEST"]),
        "LEADFLOW_ROUTER_PORT": str(ports["ROUTER"]),
        "LEADFLOW_NURTURE_PORT": str(ports["NURTURE"]),
        "LEADFLOW_DELIVERY_PORT": str(ports["DELIVERY"]),  # 8003 unless told
        "COLUMNS": "200",
    }
    out = open(tmp_path / "run.out", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "run"],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{ports['INGEST']}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "run.out").read_text()
            if "leadflow is running" in (tmp_path / "run.out").read_text():
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
            time.sleep(0.5)
        else:
            raise AssertionError(
                "leadflow run did not become ready:\n" + (tmp_path / "run.out").read_text()
            )
        body, headers = signed_request({"email": unique_email("run")})
        response = httpx.post(f"{url}/v1/leads", content=body, headers=headers, timeout=30)
        assert response.status_code == 202
        # through the router to nurture: the web lead is enrolled in its welcome sequence
        nurture = (
            f"http://127.0.0.1:{ports['NURTURE']}/v1/nurture/leads/{response.json()['lead_id']}"
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            got = httpx.get(
                nurture, headers={"authorization": f"Bearer {DEV_ADMIN_TOKEN}"}, timeout=5
            )
            if got.status_code == 200:
                break
            time.sleep(0.5)
        assert got.status_code == 200, got.text
        # (an email alone scores below MQL: kept from sales, it also gets the cold drip)
        sequences = sorted(e["sequence_id"] for e in got.json()["enrollments"])
        assert sequences == ["nurture-cold", "web-welcome"]
        # delivery (outbound webhooks) is up like the others: alive, ready, measured
        delivery = f"http://127.0.0.1:{ports['DELIVERY']}"
        assert httpx.get(f"{delivery}/healthz", timeout=5).status_code == 200
        assert httpx.get(f"{delivery}/readyz", timeout=5).status_code == 200
        scraped = httpx.get(f"{delivery}/metrics", timeout=5)
        assert scraped.status_code == 200
        assert "leadflow_build_info{" in scraped.text and "leadflow_webhook_" in scraped.text
        printed = (tmp_path / "run.out").read_text()
        assert (
            url in printed
            and f"127.0.0.1:{ports['KAFKA']}" in printed
            and str(ports["PG"]) in printed
        )
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        code = proc.wait(90)
    assert code == 0, (tmp_path / "run.out").read_text()
    for name in ("PG", "KAFKA", "INGEST", "ROUTER", "NURTURE", "DELIVERY"):
        assert not port_open("127.0.0.1", ports[name]), f"{name} still listening after Ctrl-C"
    assert "stopped" in (tmp_path / "run.out").read_text()

"""promtool and a throw-away Prometheus server, both from Debian's `prometheus` package.

`make test` installs the package (`make prometheus`); a missing binary is a failure, not a skip,
so the operations checks cannot silently stop running."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from shared.stack.common import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[1]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
README = REPO / "README.md"


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `make prometheus` (Debian's prometheus package)")
    return path


def promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary("promtool"), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def check_expressions(exprs: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Validate PromQL with `promtool check rules`: each expression becomes a recording rule."""
    rules = {
        "groups": [
            {
                "name": "expressions",
                "rules": [
                    {"record": f"check:expr_{i}", "expr": expr}
                    for i, expr in enumerate(exprs.values())
                ],
            }
        ]
    }
    path = tmp_path / "expressions.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    return promtool("check", "rules", path)


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown document."""
    anchors = set()
    for line in markdown.splitlines():
        match = re.match(r"#{1,6}\s+(.*)", line)
        if match:
            title = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower())
            anchors.add(title.replace(" ", "-"))
    return anchors


class PrometheusServer:
    """A real Prometheus on a free port with its own TSDB folder."""

    def __init__(self, root: Path, scrape_configs: list[dict[str, Any]]) -> None:
        self.root = root
        self.port = free_port()
        self.config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": scrape_configs,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "prometheus.yml"
        config.write_text(yaml.safe_dump(self.config, sort_keys=False))
        check = promtool("check", "config", config)
        assert check.returncode == 0, check.stdout + check.stderr
        self.log = self.root / "prometheus.log"
        self.proc = subprocess.Popen(
            [
                binary("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={self.root / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
                "--log.level=warn",
            ],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_for_port(
            "127.0.0.1",
            self.port,
            60,
            what="prometheus",
            alive=lambda: self.proc is not None and self.proc.poll() is None,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError("prometheus not ready within 60s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query; returns the result vector (raises on a PromQL error)."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        assert body.get("status") == "success", f"{expr}: {body}"
        assert body["data"]["resultType"] == "vector", body
        return body["data"]["result"]  # type: ignore[no-any-return]

    def targets(self) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/targets", timeout=10)
        return response.json()["data"]["activeTargets"]  # type: ignore[no-any-return]

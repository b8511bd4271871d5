"""`leadflow --version` and the leadflow_build_info metric name the same build."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from typer.testing import CliRunner

from shared import build
from shared.cli import app

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_version_prints_the_package_version_and_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(build.COMMIT_ENV, "0123456789abcdef")
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    expected = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    assert re.fullmatch(
        rf"leadflow {re.escape(expected)} \(commit 0123456789abcdef, Python 3\.\d+\.\d+\)\n",
        result.output,
    ), result.output


def test_every_service_reports_its_build() -> None:
    import services.delivery.metrics
    import services.ingest.metrics
    import services.nurture.metrics
    import services.router.metrics  # noqa: F401  (each registers its HTTP metrics)

    for service in ("ingest", "router", "nurture", "delivery"):
        labels = {"service": service, "version": build.version(), "commit": build.commit()}
        samples = [
            s
            for metric in REGISTRY.collect()
            if metric.name == "leadflow_build_info"
            for s in metric.samples
            if all(s.labels.get(k) == v for k, v in labels.items())
        ]
        assert [s.value for s in samples] == [1.0], (service, samples)

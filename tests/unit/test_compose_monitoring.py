"""docker-compose.yml runs Prometheus and Grafana on the files in deploy/ that the tests check."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]


def _services() -> dict[str, dict[str, Any]]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]  # type: ignore[no-any-return]


def _bind_mounts(service: dict[str, Any]) -> dict[str, Path]:
    """container path -> host path, for the ./ bind mounts of a compose service."""
    mounts = {}
    for volume in service.get("volumes", []):
        host, container, *_ = volume.split(":")
        if host.startswith("./"):
            mounts[container] = REPO / host
    return mounts


def test_prometheus_mounts_the_shipped_config_and_rules() -> None:
    prometheus = _services()["prometheus"]
    mounts = _bind_mounts(prometheus)
    for host in mounts.values():
        assert host.exists(), f"docker-compose.yml mounts {host}, which does not exist"
    config_arg = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    config_path = PurePosixPath(config_arg.split("=", 1)[1])
    assert mounts[str(config_path)] == REPO / "deploy/prometheus/prometheus.yml"
    config = yaml.safe_load(mounts[str(config_path)].read_text())
    for rule_file in config["rule_files"]:
        mounted = mounts.get(str(config_path.parent / rule_file))
        assert mounted == REPO / "deploy/prometheus" / rule_file, rule_file


def test_prometheus_scrapes_the_compose_services_on_their_ports() -> None:
    services = _services()
    config = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    targets = {
        job["job_name"]: target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    expected = {
        "leadflow-ingest": "ingest:8000",
        "leadflow-router": "router:8001",
        "leadflow-nurture": "nurture:8002",
        "leadflow-delivery": "delivery:8003",
    }
    for job, target in expected.items():
        assert targets[job] == target
        host, port = target.split(":")
        assert host in services, f"{job} scrapes {host}, which is not a compose service"
        healthcheck = " ".join(map(str, services[host]["healthcheck"]["test"]))
        assert f":{port}/readyz" in healthcheck


def test_grafana_provisions_the_dashboard_from_deploy_grafana() -> None:
    services = _services()
    mounts = _bind_mounts(services["grafana"])
    assert mounts["/etc/grafana/provisioning"] == REPO / "deploy/grafana/provisioning"
    provider = yaml.safe_load(
        (REPO / "deploy/grafana/provisioning/dashboards/leadflow.yml").read_text()
    )["providers"][0]
    dashboards = mounts[provider["options"]["path"]]
    assert (dashboards / "leadflow.json").is_file()
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/leadflow.json"
    datasource = yaml.safe_load(
        (REPO / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090" and "prometheus" in services

from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings

CONFIG_DIR = Path(__file__).resolve().parents[2] / "deploy" / "config"


class RouterSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="LEADFLOW_", extra="ignore", frozen=True)

    router_host: str = "127.0.0.1"
    router_port: int = 8001
    router_consumer_group: str = "leadflow-router"
    # teams, reps and routing rules: seeded into the database, then managed by the admin API
    router_routing_file: Path = CONFIG_DIR / "routing.yaml"
    # scoring rules: read from the file, reloaded when it changes
    router_scoring_file: Path = CONFIG_DIR / "scoring.yaml"
    router_scoring_reload_seconds: float = 5.0
    router_sla_tick_seconds: float = 0.5
    router_queue_drain_seconds: float = 10.0
    # how often leadflow_dlq_messages (dead letters awaiting replay) is refreshed
    router_dlq_watch_seconds: float = 30.0
    router_max_escalations: int = 2
    router_match_name_threshold: float = 88.0
    router_match_company_threshold: float = 90.0

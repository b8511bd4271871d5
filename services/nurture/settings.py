from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings

CONFIG_DIR = Path(__file__).resolve().parents[2] / "deploy" / "config"


class NurtureSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="LEADFLOW_", extra="ignore", frozen=True)

    nurture_host: str = "127.0.0.1"
    nurture_port: int = 8002
    nurture_consumer_group: str = "leadflow-nurture"
    # sequences, windows, caps and lifecycle clocks (read at start-up)
    nurture_sequences_file: Path = CONFIG_DIR / "nurture.yaml"
    # per country or region, whether email and SMS need opt-in or opt-out (read at start-up)
    nurture_consent_policy_file: Path = CONFIG_DIR / "consent.yaml"
    # leads nurture had before consent was kept (consent "unknown"): in opt-in regions deny
    # sends them no marketing until they opt in; allow treats them as consented
    nurture_unknown_consent: Literal["deny", "allow"] = "deny"
    nurture_tick_seconds: float = 1.0  # how often due steps are looked for
    nurture_batch_size: int = 200  # due steps claimed per transaction
    nurture_sweep_seconds: float = 60.0  # remarket / re-engagement / sunset sweep
    nurture_dlq_watch_seconds: float = 30.0  # how often leadflow_dlq_messages is refreshed

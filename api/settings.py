"""Service settings, read from OMNI_* environment variables (never at import time)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DB = Path("var") / "omni.db"


class Settings(BaseSettings):
    """Runtime configuration of the service; every field maps to OMNI_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="OMNI_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_DB.resolve()}",
        description="SQLAlchemy URL: a SQLite file by default, postgresql+psycopg://... "
        "in production.",
    )
    max_body_bytes: int = Field(default=5_000_000, gt=0)
    max_batch_events: int = Field(default=10_000, gt=0)
    max_availability_skus: int = Field(default=200, gt=0)
    default_radius_miles: float = Field(default=25.0, gt=0)
    log_level: str = "INFO"
    auth_required: bool = Field(
        default=True, description="Require an API key (Authorization: Bearer ...) on /v1.")
    pickup_expiry_days: float = Field(
        default=5, gt=0, description="Days a ready pickup waits before its stock is released.")
    sweep_interval_seconds: float = Field(
        default=300, ge=0, description="How often the service expires pickups (0: never).")


def get_settings() -> Settings:
    """Build settings from the environment (call from the app factory or CLI only)."""
    return Settings()

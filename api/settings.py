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
    hot_paths: bool = Field(
        default=True, description="Answer plain availability reads and allocations in a "
        "thin ASGI layer (api/hot_paths.py) instead of FastAPI's routing; same answers.")
    wal_checkpoint_seconds: float = Field(
        default=0.5, ge=0, description="SQLite: checkpoint the WAL from a background thread "
        "this often instead of inside a committing request (0: SQLite's own, in the commit).")
    group_commit: bool = Field(
        default=True, description="Write waiting allocations together on one writer thread "
        "per process (one transaction per batch); off: one transaction per order.")
    auth_required: bool = Field(
        default=True, description="Require an API key (Authorization: Bearer ...) on /v1.")
    pickup_expiry_days: float = Field(
        default=5, gt=0, description="Days a ready pickup waits before its stock is released.")
    sweep_interval_seconds: float = Field(
        default=300, ge=0, description="How often the service expires pickups (0: never).")
    reoptimize_interval_seconds: float = Field(
        default=0, ge=0, description="How often the service re-plans the allocated-but-unpicked "
        "backlog (0: never; `omni reoptimize` runs it by hand).")
    reoptimize_threshold: float = Field(
        default=0.5, ge=0, description="Dollars an order's move must save to be made.")
    reoptimize_time_limit: float = Field(
        default=10.0, gt=0, description="Seconds one re-optimisation may spend planning.")
    forecast_prices: bool = Field(
        default=False, description="Keep stock prices from stored forecasts and recent orders "
        "on a background thread, so POST /v1/allocations accepts policy forecast_aware.")
    price_refresh_orders: int = Field(
        default=200, ge=1, description="Allocations between price refreshes.")
    price_refresh_seconds: float = Field(
        default=60.0, gt=0, description="Seconds between price refreshes (whichever first).")


def get_settings() -> Settings:
    """Build settings from the environment (call from the app factory or CLI only)."""
    return Settings()

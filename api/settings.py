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
    relay: bool = Field(
        default=True, description="Run the change-feed relay in the service: sequence the "
        "outbox and deliver webhooks (and the broker, with nats_url). Safe in every worker "
        "and beside `omni relay` processes: each consumer is delivered by one at a time.")
    relay_poll_seconds: float = Field(
        default=0.05, gt=0, le=10, description="How often the relay and SSE streams look "
        "for new changes when idle.")
    relay_lease_seconds: float = Field(
        default=15.0, gt=0, le=600, description="How long a relay holds a consumer without "
        "renewing: after a crash, another relay takes over within this time.")
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="Seconds a webhook receiver has to answer.")
    webhook_backoff_seconds: list[float] = Field(
        default=[5, 300, 1800, 7200, 18000, 36000, 36000], min_length=1,
        description="Waits before each retry of a refused webhook (JSON list); after the "
        "last the event is dead-lettered. Default: about 28 hours.")
    webhook_parallel: int = Field(
        default=16, ge=1, le=256, description="Positions and orders whose events are sent to "
        "one webhook at once (each one's events in order); 1: one request at a time, the "
        "whole stream in sequence order.")
    events_keep_days: float = Field(
        default=7, gt=0, description="Days delivered events stay readable (SSE resume, "
        "GET /v1/events).")
    nats_url: str | None = Field(
        default=None, description="Publish every event to NATS JetStream at this URL "
        "(subjects omni.events.<type>).")
    nats_feed: bool = Field(
        default=False, description="With nats_url: also apply the POS/receipt feed published "
        "to JetStream subjects omni.feed.> (what `omni feed-consume` does).")


def relay_params(settings: Settings):  # type: ignore[no-untyped-def]
    """The relay's parameters from the settings."""
    from fulfilment.events.relay import RelayParams

    return RelayParams(poll_seconds=settings.relay_poll_seconds,
                       timeout_seconds=settings.webhook_timeout_seconds,
                       lease_seconds=max(settings.relay_lease_seconds,
                                         2 * settings.webhook_timeout_seconds),
                       backoff=tuple(settings.webhook_backoff_seconds),
                       keep_seconds=settings.events_keep_days * 86400,
                       parallel=settings.webhook_parallel)


def get_settings() -> Settings:
    """Build settings from the environment (call from the app factory or CLI only)."""
    return Settings()

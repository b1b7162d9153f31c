"""Response models of GET /v1/forecasts."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class ForecastRow(BaseModel):
    """Expected demand of one SKU at one node on one day, with quantiles."""

    node: str
    sku: str
    day: dt.date
    model: str
    mean: float
    p05: float
    p50: float
    p90: float
    p95: float


class ForecastRunOut(BaseModel):
    """The run the rows come from."""

    id: int
    created_at: dt.datetime
    model: str
    horizon: int
    series: int
    seconds: float
    history_end: dt.date


class ForecastsOut(BaseModel):
    """Daily forecasts of the latest run."""

    run: ForecastRunOut | None = Field(description="None until `omni forecast-network` ran.")
    items: list[ForecastRow]
    limit: int
    offset: int

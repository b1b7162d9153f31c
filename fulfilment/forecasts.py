"""Network forecasts: every (node, SKU) with sales history, forecast and stored."""

from __future__ import annotations

import time
from dataclasses import dataclass

from data.db import Database
from data.forecast_store import load_history, store_forecasts

STORED_LEVELS = (0.05, 0.5, 0.9, 0.95)


@dataclass(frozen=True)
class NetworkForecastReport:
    """What a network forecast run did."""

    run_id: int
    series: int
    horizon: int
    model: str
    seconds_load: float
    seconds_warmup: float
    seconds_forecast: float
    seconds_store: float


def forecast_network(db: Database, horizon: int = 28, model: str = "auto") -> NetworkForecastReport:
    """Forecast every (node, SKU) series of the sales history and replace the stored run."""
    from forecasting.core import forecast_arrays, warmup

    t0 = time.perf_counter()
    with db.read_session() as s:
        hist = load_history(s)
    t1 = time.perf_counter()
    warmup()  # compile (or load cached) kernels before timing the real work
    t2 = time.perf_counter()
    res = forecast_arrays(hist.y, hist.indptr, horizon, model, quantiles=STORED_LEVELS)
    t3 = time.perf_counter()
    run_id = store_forecasts(db, hist, res.mean, res.quantiles, res.models, model, t3 - t2)
    t4 = time.perf_counter()
    return NetworkForecastReport(run_id, len(hist), horizon, model, t1 - t0, t2 - t1, t3 - t2,
                                 t4 - t3)

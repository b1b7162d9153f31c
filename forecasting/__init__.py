"""Demand forecasting: numba kernels on a flat layout, model selection, quantiles.

Arrays in, arrays out (`forecast_arrays`); pandas only at the edge (`forecast`).
"""

from forecasting import _numba_cache

_numba_cache.install()  # before any kernel is defined: see the module

# ruff: noqa: E402 - the kernels below must be defined after the cache stamp is installed

from forecasting.classify import classify
from forecasting.core import FitResult, ForecastArrays, fit_arrays, forecast_arrays, warmup
from forecasting.frame import forecast
from forecasting.inventory import lead_time_demand, order_up_to_level, safety_stock
from forecasting.metrics import mase_rmsse
from forecasting.models import (
    ADIDA,
    IMAPA,
    MAPA,
    SBA,
    SES,
    TSB,
    AutoModel,
    Croston,
    Holt,
    HoltWinters,
    MovingAverage,
    Naive,
    SeasonalNaive,
)

__all__ = ["ADIDA", "IMAPA", "MAPA", "SBA", "SES", "TSB", "AutoModel", "Croston", "FitResult",
           "ForecastArrays", "Holt", "HoltWinters", "MovingAverage", "Naive", "SeasonalNaive",
           "classify", "fit_arrays", "forecast", "forecast_arrays", "lead_time_demand",
           "mase_rmsse", "order_up_to_level", "safety_stock", "warmup"]

"""Lead-time demand, safety stock and order-up-to levels from the demand forecast."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecasting.core import FitResult, check_layout, fit_arrays, lead_time_from_fit


@dataclass(frozen=True)
class LeadTimeDemand:
    """Distribution summary of demand summed over the lead time, per series."""

    mean: np.ndarray
    variance: np.ndarray
    quantiles: np.ndarray  # (n_series, n_levels)
    levels: np.ndarray


def _check_service_level(service_level: float) -> float:
    if not 0.0 < service_level < 1.0:
        raise ValueError(f"expected service_level in (0, 1), got {service_level}")
    return float(service_level)


def lead_time_demand(fit: FitResult, lead_time: int,
                     levels: tuple[float, ...] = (0.5, 0.9, 0.95, 0.99)) -> LeadTimeDemand:
    """Mean, variance and quantiles of demand over the next `lead_time` periods."""
    mean, var, q = lead_time_from_fit(fit, lead_time, levels)
    return LeadTimeDemand(mean, var, q, np.asarray(levels, dtype=np.float64))


def order_up_to_level(y: np.ndarray, indptr: np.ndarray, lead_time: int,
                      service_level: float = 0.95, review_period: int = 1,
                      model: str = "auto", season_length: int = 7) -> np.ndarray:
    """Order-up-to level S per series: the service-level quantile of demand over L + R."""
    sl = _check_service_level(service_level)
    if review_period < 1:
        raise ValueError(f"expected review_period >= 1, got {review_period}")
    y, indptr = check_layout(y, indptr)
    span = int(lead_time) + int(review_period)
    fit = fit_arrays(y, indptr, model, h=span, season_length=season_length)
    return lead_time_demand(fit, span, (sl,)).quantiles[:, 0]


def safety_stock(y: np.ndarray, indptr: np.ndarray, lead_time: int,
                 service_level: float = 0.95, review_period: int = 1, model: str = "auto",
                 season_length: int = 7) -> np.ndarray:
    """Safety stock per series: order-up-to level minus mean demand over L + R (>= 0)."""
    sl = _check_service_level(service_level)
    y, indptr = check_layout(y, indptr)
    span = int(lead_time) + int(review_period)
    fit = fit_arrays(y, indptr, model, h=span, season_length=season_length)
    ltd = lead_time_demand(fit, span, (sl,))
    return np.maximum(ltd.quantiles[:, 0] - ltd.mean, 0.0)

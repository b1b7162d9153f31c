"""Quantile kernels against scipy, lead-time helpers, and interval calibration."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from forecasting import forecast_arrays, order_up_to_level, safety_stock
from forecasting._distributions import count_quantile, norm_ppf
from forecasting.core import lead_time_from_fit
from forecasting.metrics import interval_coverage
from tests.forecasting.conftest import M5_HOLDOUT


@pytest.mark.parametrize("p", [0.001, 0.05, 0.3, 0.5, 0.9, 0.975, 0.9999])
def test_norm_ppf_matches_scipy(p: float) -> None:
    assert norm_ppf(p) == pytest.approx(stats.norm.ppf(p), abs=1e-8)


@settings(max_examples=60, deadline=None)
@given(mu=st.floats(0.01, 300.0), ratio=st.floats(1.0, 8.0), p=st.floats(0.01, 0.99))
def test_count_quantile_matches_scipy(mu: float, ratio: float, p: float) -> None:
    var = mu * ratio
    if ratio <= 1.0 + 1e-6:
        ref = stats.poisson.ppf(p, mu)
    else:
        r = mu * mu / (var - mu)
        ref = stats.nbinom.ppf(p, r, r / (r + mu))
    ours = count_quantile(mu, var, p)
    # Off by one only when p sits on a CDF step (float rounding of the running sum).
    assert abs(ours - ref) <= 1.0
    if abs(ours - ref) == 1.0:
        cdf = stats.nbinom.cdf if ratio > 1.0 + 1e-6 else None
        assert cdf is None or abs(cdf(min(ours, ref), r, r / (r + mu)) - p) < 1e-9


def test_quantiles_are_ordered_and_bracket_the_mean(m5_sales: np.ndarray) -> None:
    tr = m5_sales[:, :-M5_HOLDOUT]
    res = forecast_arrays(tr.reshape(-1), np.arange(0, tr.size + 1, tr.shape[1]), 14, "auto",
                          quantiles=(0.05, 0.25, 0.5, 0.75, 0.95))
    assert np.all(np.diff(res.quantiles, axis=2) >= 0.0)
    # A count's q0.95 can sit below a tiny mean (P(0) > 0.95), so only the lower side holds.
    assert np.all(res.quantiles[:, :, 0] <= res.mean)
    # Every item that sold in the last four weeks gets a unit of upside; one stopped selling
    # 43 days before the origin, and TSB-type models let its demand probability decay.
    recent = tr[:, -28:].sum(axis=1) > 0
    assert np.all(res.quantiles[recent, :, -1].max(axis=1) >= 1.0)
    assert np.all(res.quantiles == np.floor(res.quantiles))  # unit sales -> whole units


def test_non_count_series_use_residual_quantiles() -> None:
    rng = np.random.default_rng(2)
    x = 50.0 + rng.normal(0.0, 2.0, 600)
    res = forecast_arrays(x, np.array([0, x.size]), 5, "ses", quantiles=(0.05, 0.95))
    width = res.quantiles[0, :, 1] - res.quantiles[0, :, 0]
    assert np.allclose(width, 2 * 1.645 * 2.0, rtol=0.15)


def _negative_binomial_panel(seed: int, n_series: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mu = rng.uniform(2.0, 20.0, n_series)[:, None]
    size = rng.uniform(1.0, 5.0, n_series)[:, None]
    return rng.negative_binomial(size, size / (size + mu), (n_series, n)).astype(np.float64)


def test_90_percent_interval_is_calibrated_on_negative_binomial_series() -> None:
    panel = _negative_binomial_panel(3, 300, 400 + 28)
    tr, te = panel[:, :400], panel[:, 400:]
    res = forecast_arrays(tr.reshape(-1), np.arange(0, tr.size + 1, 400), 28, "auto",
                          quantiles=(0.05, 0.95))
    cover = interval_coverage(te, res.quantiles[:, :, 0], res.quantiles[:, :, 1])
    assert 0.85 <= cover <= 0.95, cover


def test_lead_time_interval_is_calibrated_on_m5(m5_sales: np.ndarray) -> None:
    # Weekly lead-time demand (7-day sums) at 16 monthly origins before the held-out month.
    hits = []
    for k in range(2, 18):
        n = m5_sales.shape[1] - k * M5_HOLDOUT
        tr = m5_sales[:, :n]
        res = forecast_arrays(tr.reshape(-1), np.arange(0, tr.size + 1, n), 7, "auto",
                              quantiles=(0.5,))
        _, _, q = lead_time_from_fit(res.fit, 7, (0.05, 0.95))
        actual = m5_sales[:, n:n + 7].sum(axis=1)
        hits.append((actual >= q[:, 0]) & (actual <= q[:, 1]))
    cover = float(np.mean(hits))
    assert 0.85 <= cover <= 0.95, cover


def test_lead_time_demand_sums_the_mean_forecast() -> None:
    x = np.tile([0.0, 2.0, 1.0, 0.0, 3.0, 1.0, 0.0], 30)
    res = forecast_arrays(x, np.array([0, x.size]), 10, "ses")
    mean, var, q = lead_time_from_fit(res.fit, 10, (0.5, 0.95))
    assert mean[0] == pytest.approx(res.mean[0].sum())
    assert var[0] > 0.0 and q[0, 0] <= q[0, 1]


def test_safety_stock_and_order_up_to_grow_with_service_level_and_lead_time() -> None:
    rng = np.random.default_rng(4)
    x = rng.negative_binomial(2, 2 / (2 + 3.0), 500).astype(np.float64)
    indptr = np.array([0, x.size])
    ss = [safety_stock(x, indptr, 7, sl, model="ses")[0] for sl in (0.8, 0.95, 0.99)]
    assert ss[0] <= ss[1] <= ss[2] and ss[2] > 0.0
    s_short = order_up_to_level(x, indptr, 3, 0.95, model="ses")[0]
    s_long = order_up_to_level(x, indptr, 14, 0.95, model="ses")[0]
    assert s_short < s_long
    with pytest.raises(ValueError, match="expected service_level in"):
        safety_stock(x, indptr, 7, 1.5)

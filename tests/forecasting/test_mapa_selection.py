"""MAPA-style TSB, the evidence-aware `auto` selection and count prediction intervals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from forecasting import MAPA, TSB, fit_arrays, forecast_arrays
from forecasting._distributions import count_cdf
from forecasting._quantiles import count_interval
from forecasting.core import DEFAULT_MIN_WINDOWS, prediction_interval_from_fit
from forecasting.metrics import interval_coverage, scaled_pinball
from tests.forecasting.conftest import flat


def _buckets(x: np.ndarray, k: int) -> np.ndarray:
    n = x.size // k
    return x[x.size - n * k:].reshape(n, k).sum(axis=1)


def _mapa_reference(x: np.ndarray) -> float:
    """Mean over k = 1, 2, 3 of TSB on k-period sums (end-aligned), per period."""
    levels = [TSB().forecast(x, 1)[0, 0]]
    for k in (2, 3):
        sums = _buckets(x, k)
        if sums.size < 3:
            break
        levels.append(TSB().forecast(sums, 1)[0, 0] / k)
    return float(np.mean(levels))


def test_mapa_of_a_constant_is_the_constant() -> None:
    assert MAPA().forecast(np.full(40, 3.0), 6) == pytest.approx(np.full((1, 6), 3.0))


def test_mapa_of_no_demand_is_zero() -> None:
    assert np.all(MAPA().forecast(np.zeros(30), 4) == 0.0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=80), st.floats(0.05, 0.9))
def test_mapa_is_the_mean_of_tsb_over_aggregation_levels(values: list[int], p: float) -> None:
    rng = np.random.default_rng(len(values))
    x = np.asarray(values, dtype=np.float64) * (rng.random(len(values)) < p)
    assert MAPA().forecast(x, 3)[0] == pytest.approx(np.full(3, _mapa_reference(x)), abs=1e-12)


def test_mapa_batch_equals_one_series_at_a_time(intermittent_series: list[np.ndarray]) -> None:
    y, indptr = flat(intermittent_series)
    batch = MAPA().forecast(y, 5, indptr)
    single = np.vstack([MAPA().forecast(s, 5) for s in intermittent_series])
    np.testing.assert_allclose(batch, single, rtol=0, atol=1e-12)


def test_mapa_point_path_equals_fitted_path(intermittent_series: list[np.ndarray]) -> None:
    y, indptr = flat(intermittent_series)
    with_fit = fit_arrays(y, indptr, "mapa", with_fitted=True)
    point = fit_arrays(y, indptr, "mapa", with_fitted=False)
    np.testing.assert_allclose(with_fit.state, point.state, rtol=0, atol=1e-12)


def test_mapa_fitted_values_average_the_levels_one_step_forecasts() -> None:
    x = np.tile([0.0, 2.0, 0.0, 0.0, 1.0, 0.0], 8)
    fit = fit_arrays(x, np.array([0, x.size]), "mapa")
    ones = fit_arrays(x, np.array([0, x.size]), "tsb").fitted
    assert np.isnan(fit.fitted[0]) and np.all(np.isfinite(fit.fitted[6:]))
    # Averaging with coarser levels smooths the one-step path of plain TSB.
    assert np.nanstd(fit.fitted) < np.nanstd(ones)


def test_auto_keeps_the_class_default_without_enough_cv_windows() -> None:
    rng = np.random.default_rng(3)
    # 39 months with h = 12 afford one CV window (< DEFAULT_MIN_WINDOWS): the class prior.
    sparse = rng.binomial(1, 0.2, 39) * rng.integers(1, 5, 39).astype(float)
    smooth = 20.0 + rng.normal(0.0, 1.0, 39)
    y, indptr = flat([sparse, smooth])
    fit = fit_arrays(y, indptr, "auto", h=12, season_length=12)
    assert DEFAULT_MIN_WINDOWS > 1
    assert fit.models == ["mapa", "mapa"]
    # On a demand-every-period series the default is temporal-aggregate smoothing of the level.
    mean = forecast_arrays(y, indptr, 12, "auto", season_length=12).mean
    assert abs(mean[1].mean() - smooth[-12:].mean()) < 2.0
    # With enough windows a smooth series ranks its own candidates by CV instead.
    long_smooth = 20.0 + rng.normal(0.0, 1.0, 120)
    ranked = fit_arrays(long_smooth, np.array([0, 120]), "auto", h=12, season_length=12)
    assert "mapa" not in ranked.models[0].split("+")


def test_auto_keeps_mapa_unless_another_model_wins_clearly() -> None:
    rng = np.random.default_rng(8)
    sparse = rng.binomial(1, 0.15, 500) * rng.integers(1, 4, 500).astype(float)
    assert fit_arrays(sparse, np.array([0, 500]), "auto", h=14).models == ["mapa"]
    # An explicit pool ranks by CV alone (no default bonus).
    pool = fit_arrays(sparse, np.array([0, 500]), ["naive", "ses"], h=14).models[0]
    assert set(pool.split("+")) <= {"naive", "ses"}


@settings(max_examples=60, deadline=None)
@given(mu=st.floats(0.01, 60.0), ratio=st.floats(1.0, 6.0), k=st.integers(0, 80))
def test_count_cdf_matches_scipy(mu: float, ratio: float, k: int) -> None:
    var = mu * ratio
    if ratio <= 1.0 + 1e-6:
        ref = stats.poisson.cdf(k, mu)
    else:
        r = mu * mu / (var - mu)
        ref = stats.nbinom.cdf(k, r, r / (r + mu))
    assert count_cdf(mu, var, float(k)) == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize(("mu", "ratio"), [(0.05, 1.0), (0.3, 2.5), (1.0, 1.0), (2.5, 4.0),
                                          (8.0, 1.5), (40.0, 3.0)])
def test_count_interval_probability_is_nearest_the_level(mu: float, ratio: float) -> None:
    var = mu * ratio
    lo, hi = count_interval(mu, var, 0.9)
    below = count_cdf(mu, var, lo - 1.0)
    got = count_cdf(mu, var, hi) - below
    # No other upper bound (with the same lower bound) gets nearer 90%.
    for other in range(int(lo), int(hi) + 20):
        assert abs(got - 0.9) <= abs(count_cdf(mu, var, other) - below - 0.9) + 1e-12
    assert lo <= hi


def _monthly_intermittent(seed: int, n: int, months: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.1, 0.7, (n, 1))
    size = 1 + rng.poisson(rng.uniform(0.5, 5.0, (n, 1)), (n, months))
    return (rng.random((n, months)) < p) * size.astype(np.float64)


def test_monthly_intermittent_interval_is_calibrated() -> None:
    panel = _monthly_intermittent(4, 600, 48 + 12)
    tr, te = panel[:, :48], panel[:, 48:]
    y, indptr = flat(list(tr))
    res = forecast_arrays(y, indptr, 12, "auto", quantiles=(0.05, 0.95), season_length=12)
    lo, hi = prediction_interval_from_fit(res.fit, res.mean, 0.9)
    assert 0.87 <= interval_coverage(te, lo, hi) <= 0.93
    # The central quantiles of slow movers cover more: each rounds up to a whole unit.
    assert interval_coverage(te, res.quantiles[:, :, 0], res.quantiles[:, :, 1]) >= 0.9
    assert np.all(lo <= res.quantiles[:, :, 1]) and np.all(hi <= res.quantiles[:, :, 1])


def test_scaled_pinball_known_answer() -> None:
    train = np.array([0.0, 2.0, 0.0, 2.0])  # naive MAE from the first sale: 2
    actual = np.array([[1.0, 3.0]])
    q = np.array([[[0.0, 1.0], [1.0, 1.0]]])  # levels 0.1 and 0.9
    # step 1: 0.1*1 + 0 = 0.1; step 2: 0.1*2 + 0.9*2 = 2.0 -> mean over 4 = 0.525, / 2
    got = scaled_pinball(train, np.array([0, 4]), actual, q, (0.1, 0.9))
    assert got == pytest.approx([0.2625])

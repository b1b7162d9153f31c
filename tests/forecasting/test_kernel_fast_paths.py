"""The kernels' fast paths give the answers of their plain versions.

- Croston, SBA and TSB without fitted values (point forecasts only) run over the demand
  days alone; SES without fitted values takes its level from the alpha search. Their
  forecasts must equal those of the path that writes every fitted value (to rounding
  where the arithmetic differs: TSB's decay powers, SES's Taylor step).
- TSB's alpha search evaluates two points per fused pass and size alphas over the demand
  days; it must land where the plain golden sections over the day-by-day SSE land.
- SES's Halley search must find an SSE no worse than a fine golden-section search.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting import forecast_arrays
from forecasting._intermittent import _optimise_tsb, fit_tsb
from forecasting._smoothing import optimal_ses, ses_level, ses_sse
from tests.forecasting.conftest import flat

GOLDEN = 0.6180339887498949


def _tsb_sse_plain(x: np.ndarray, alpha_d: float, alpha_p: float) -> float:
    """TSB one-step SSE, day by day (the definition the optimiser minimises)."""
    prob = 1.0 if x[0] != 0.0 else 0.0
    z = x[0]
    seen = x[0] != 0.0
    sse = 0.0
    for i in range(1, x.size):
        if seen:
            sse += (x[i] - prob * z) ** 2
        occurred = x[i] != 0.0
        prob = alpha_p * float(occurred) + (1.0 - alpha_p) * prob
        if occurred:
            z = alpha_d * x[i] + (1.0 - alpha_d) * z if seen else x[i]
            seen = True
    return sse


def _tsb_alphas_plain(x: np.ndarray) -> tuple[float, float]:
    """Two sweeps of golden sections on [0.01, 0.5], one alpha at a time, width 1e-3."""
    ad = ap = 0.1
    for _ in range(2):
        for which in range(2):
            a, b = 0.01, 0.5
            while b - a > 1e-3:
                c = b - GOLDEN * (b - a)
                d = a + GOLDEN * (b - a)
                if which == 0:
                    fc, fd = _tsb_sse_plain(x, c, ap), _tsb_sse_plain(x, d, ap)
                else:
                    fc, fd = _tsb_sse_plain(x, ad, c), _tsb_sse_plain(x, ad, d)
                if fc < fd:
                    b = d
                else:
                    a = c
            if which == 0:
                ad = 0.5 * (a + b)
            else:
                ap = 0.5 * (a + b)
    return ad, ap


def _tsb_forecast(x: np.ndarray, alpha_d: float, alpha_p: float) -> float:
    state = np.zeros(8)
    fit_tsb(x, alpha_d, alpha_p, state, np.empty(x.size))
    return state[0]


def _intermittent(rng: np.random.Generator, n: int) -> np.ndarray:
    p = rng.uniform(0.02, 0.9)
    x = (rng.random(n) < p) * (1.0 + rng.negative_binomial(2, 0.4, n))
    if rng.random() < 0.3:
        x[: rng.integers(0, n)] = 0.0  # a late first demand
    if rng.random() < 0.1:
        x = x * rng.uniform(0.3, 3.0)  # not counts
    return x.astype(np.float64)


def _tsb_optimised_point(x: np.ndarray) -> float:
    """Optimised TSB point forecast (no fitted values: the fast path)."""
    state = np.zeros(8)
    fit_tsb(x, np.nan, np.nan, state, np.empty(0))
    return state[0]


def _tsb_alphas_fast(x: np.ndarray) -> tuple[float, float]:
    return _optimise_tsb(x, 0.1, 0.1, True, True)


def test_tsb_search_lands_where_the_plain_golden_search_lands() -> None:
    rng = np.random.default_rng(11)
    series = [_intermittent(rng, int(rng.integers(3, 250))) for _ in range(150)]
    series += [np.zeros(30), np.r_[np.zeros(20), 3.0], np.r_[4.0, np.zeros(25)]]
    same = 0
    for x in series:
        ad, ap = _tsb_alphas_plain(x)
        ours = _tsb_optimised_point(x)
        ref = _tsb_forecast(x, ad, ap)
        # Both searches compare the same SSEs up to rounding (the fast one sums them in
        # another order), so they take the same branches except at exact near-ties.
        if abs(ours - ref) <= 1e-12 * max(1.0, abs(ref)):
            same += 1
        else:
            sse_ours = _tsb_sse_plain(x, *_tsb_alphas_fast(x))
            assert sse_ours <= _tsb_sse_plain(x, ad, ap) * (1 + 1e-9) + 1e-12
    assert same >= len(series) - 2


@pytest.mark.parametrize("model", ["croston", "sba", "tsb", "ses"])
def test_point_only_path_equals_the_fitted_path(model: str) -> None:
    rng = np.random.default_rng(5)
    series = [_intermittent(rng, int(rng.integers(1, 200))) for _ in range(80)]
    series += [np.zeros(12), np.array([0.0, 0.0, 5.0]), np.array([2.0]), np.array([0.0, 1.0])]
    y, indptr = flat(series)
    params = [None, {"tsb": (0.3, 0.05)}] if model == "tsb" else [None]
    for p in params:
        point = forecast_arrays(y, indptr, 3, model, quantiles=(), params=p).mean
        fitted = forecast_arrays(y, indptr, 3, model, quantiles=(0.5,), params=p).mean
        if model == "ses":
            # The point-only SES takes its level from the alpha search (a Taylor step on
            # the last pass) instead of re-running the recursion: equal to rounding.
            np.testing.assert_allclose(point, fitted, rtol=1e-9, atol=1e-9)
        elif model == "tsb":
            # The point-only TSB carries the probability from demand to demand with powers
            # of the decay instead of day by day: equal to rounding.
            np.testing.assert_allclose(point, fitted, rtol=1e-13, atol=1e-15)
        else:
            assert np.array_equal(point, fitted)


counts = st.lists(st.integers(0, 9), min_size=2, max_size=80).map(
    lambda v: np.asarray(v, dtype=np.float64))


@settings(max_examples=60, deadline=None)
@given(x=counts, alpha_d=st.floats(0.01, 0.99), alpha_p=st.floats(0.01, 0.99))
def test_tsb_point_path_matches_the_daily_recursion(x: np.ndarray, alpha_d: float,
                                                   alpha_p: float) -> None:
    state = np.zeros(8)
    fit_tsb(x, alpha_d, alpha_p, state, np.empty(0))
    assert state[0] == pytest.approx(_tsb_forecast(x, alpha_d, alpha_p), rel=1e-13,
                                     abs=1e-15)


def _golden_ses(x: np.ndarray, lo: float, hi: float, tol: float = 1e-10) -> float:
    """Alpha of a fine golden-section search of the SES SSE (a unimodal reference)."""
    a, b = lo, hi
    while b - a > tol:
        c = b - GOLDEN * (b - a)
        d = a + GOLDEN * (b - a)
        if ses_sse(x, c) < ses_sse(x, d):
            b = d
        else:
            a = c
    return 0.5 * (a + b)


def test_ses_search_is_no_worse_than_a_fine_golden_section() -> None:
    rng = np.random.default_rng(17)
    series = [_intermittent(rng, int(rng.integers(3, 300))) for _ in range(120)]
    series += [np.cumsum(rng.normal(0.0, 1.0, int(rng.integers(3, 200)))) for _ in range(40)]
    series += [rng.normal(10.0, 2.0, int(rng.integers(3, 200))) for _ in range(40)]
    for x in series:
        alpha, level = optimal_ses(x, 0.01, 0.99)
        ref = _golden_ses(x, 0.01, 0.99)
        sse, sse_ref = ses_sse(x, alpha), ses_sse(x, ref)
        assert sse <= sse_ref + 1e-9 * max(1.0, sse_ref)
        # The level comes from a Taylor step on the last pass: it matches the recursion.
        assert abs(level - ses_level(x, alpha)) <= 1e-9 * max(1.0, abs(level))


def test_ses_search_survives_a_zero_newton_step() -> None:
    # A CV window of the benchmark panel whose gradient vanishes to rounding (Newton's
    # step is exactly 0): the search must stop there, not divide by the zero step.
    x = np.zeros(141)
    days = [0, 1, 2, 6, 14, 17, 18, 20, 21, 23, 24, 27, 29, 31, 33, 38, 39, 47, 49, 53, 54,
            55, 56, 58, 61, 62, 66, 67, 68, 69, 70, 72, 73, 75, 78, 81, 86, 90, 91, 92, 98,
            100, 101, 104, 105, 107, 108, 109, 110, 114, 116, 117, 118, 120, 124, 127, 130,
            135, 138, 139]
    sizes = [4, 2, 1, 5, 3, 1, 1, 3, 1, 2, 3, 2, 3, 4, 2, 1, 1, 2, 2, 5, 2, 1, 3, 1, 4, 4, 4,
             2, 1, 3, 4, 2, 2, 1, 2, 2, 2, 1, 2, 1, 2, 1, 2, 1, 4, 5, 4, 6, 1, 1, 1, 2, 1, 3,
             3, 3, 3, 3, 1, 1]
    x[days] = sizes
    alpha, level = optimal_ses(x, 0.01, 0.99)
    ref = _golden_ses(x, 0.01, 0.99)
    assert ses_sse(x, alpha) <= ses_sse(x, ref) + 1e-9
    assert abs(level - ses_level(x, alpha)) <= 1e-9


def test_ses_search_on_the_cv_windows_of_many_series() -> None:
    # auto's cross-validation fits SES on every window prefix: thousands of searches.
    rng = np.random.default_rng(23)
    for _ in range(300):
        x = _intermittent(rng, 365)
        for w in range(8, 0, -1):
            prefix = np.ascontiguousarray(x[: 365 - 28 * w])
            alpha, level = optimal_ses(prefix, 0.01, 0.99)
            assert 0.01 <= alpha <= 0.99 and np.isfinite(level)
            ref = _golden_ses(prefix, 0.01, 0.99, tol=1e-7)
            assert ses_sse(prefix, alpha) <= ses_sse(prefix, ref) * (1 + 1e-9) + 1e-9

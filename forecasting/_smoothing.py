"""Per-series numba kernels: naive, seasonal naive, moving average, SES, Holt, Holt-Winters.

Every `_fit_*` function works on one series `x` (a view into the flat array) and writes
  - `state`: [level, trend, nonneg, season_0 .. season_{m-1}] where season_j is the seasonal
    term of the step j+1 ahead (already rotated), so any model predicts with one formula;
  - `fitted`: one-step-ahead in-sample predictions (NaN where the model has no forecast yet).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Columns of the state row shared by all models.
LEVEL, TREND, NONNEG, HEAD = 0, 1, 2, 3
GOLDEN = 0.6180339887498949
GOLDEN_TOL = 1e-4


@njit(cache=True)
def _reset(state: np.ndarray, fitted: np.ndarray) -> None:
    state[:] = 0.0
    fitted[:] = np.nan


@njit(cache=True)
def fit_naive(x: np.ndarray, m: int, state: np.ndarray, fitted: np.ndarray) -> None:
    """Last value carried forward."""
    _reset(state, fitted)
    n = x.size
    for i in range(1, n):
        fitted[i] = x[i - 1]
    state[LEVEL] = x[n - 1]


@njit(cache=True)
def fit_snaive(x: np.ndarray, m: int, state: np.ndarray, fitted: np.ndarray) -> None:
    """Value of the same weekday (season position) one season ago."""
    _reset(state, fitted)
    n = x.size
    if n < m:
        fit_naive(x, m, state, fitted)
        return
    for i in range(m, n):
        fitted[i] = x[i - m]
    # Step j+1 ahead repeats x[n - m + j]: exactly statsforecast's SeasonalNaive.
    for j in range(m):
        state[HEAD + j] = x[n - m + j]


@njit(cache=True)
def fit_ma(x: np.ndarray, m: int, window: int, state: np.ndarray, fitted: np.ndarray) -> None:
    """Mean of the last `window` values (all values if the series is shorter)."""
    _reset(state, fitted)
    n = x.size
    w = min(window, n)
    acc = 0.0
    # Rolling sum: fitted[i] is the mean of the (up to) w values before i.
    for i in range(n):
        if i > 0:
            fitted[i] = acc / min(i, w)
        acc += x[i]
        if i >= w:
            acc -= x[i - w]
    state[LEVEL] = acc / w


@njit(cache=True)
def ses_level(x: np.ndarray, alpha: float) -> float:
    """SES level after all of x, initialised at x[0] as statsforecast does."""
    level = x[0]
    for i in range(1, x.size):
        level = alpha * x[i] + (1.0 - alpha) * level
    return level


@njit(cache=True)
def ses_sse(x: np.ndarray, alpha: float) -> float:
    """Sum of squared one-step errors of SES (level initialised at x[0])."""
    level = x[0]
    sse = 0.0
    for i in range(1, x.size):
        e = x[i] - level
        sse += e * e
        level = alpha * x[i] + (1.0 - alpha) * level
    return sse


@njit(cache=True)
def golden_ses(x: np.ndarray, lo: float, hi: float) -> float:
    """Alpha minimising the SES one-step SSE on [lo, hi] by golden-section search."""
    a, b = lo, hi
    c = b - GOLDEN * (b - a)
    d = a + GOLDEN * (b - a)
    fc, fd = ses_sse(x, c), ses_sse(x, d)
    while b - a > GOLDEN_TOL:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - GOLDEN * (b - a)
            fc = ses_sse(x, c)
        else:
            a, c, fc = c, d, fd
            d = a + GOLDEN * (b - a)
            fd = ses_sse(x, d)
    return 0.5 * (a + b)


@njit(cache=True)
def fit_ses(x: np.ndarray, alpha: float, state: np.ndarray, fitted: np.ndarray) -> float:
    """SES with fixed alpha, or alpha optimised on [0.01, 0.99] when alpha is NaN."""
    _reset(state, fitted)
    if np.isnan(alpha):
        alpha = golden_ses(x, 0.01, 0.99) if x.size > 2 else 0.5
    level = x[0]
    for i in range(1, x.size):
        fitted[i] = level
        level = alpha * x[i] + (1.0 - alpha) * level
    state[LEVEL] = level
    return alpha


@njit(cache=True)
def _hw_run(x: np.ndarray, m: int, p: np.ndarray, state: np.ndarray,
            fitted: np.ndarray, write: bool) -> float:
    """Additive Holt(-Winters) recursion; m == 1 means no season. Returns the one-step SSE."""
    alpha, beta, gamma = p[0], p[1], p[2]
    n = x.size
    seasonal = m > 1
    season = np.zeros(max(m, 1))
    if seasonal:
        # Classical start: level and trend from the first two seasons' means; the first
        # season's deviations from that trend line (centred mid-season) give the season.
        l0 = x[:m].mean()
        b = (x[m:2 * m].mean() - l0) / m
        mid = 0.5 * (m - 1)
        for j in range(m):
            season[j] = x[j] - (l0 + (j - mid) * b)
        level = l0 + mid * b  # level at the end of the first season
        start = m
    else:
        level = x[0]
        b = x[1] - x[0] if n > 1 else 0.0
        start = 1
    sse = 0.0
    for i in range(start, n):
        s_old = season[i % m] if seasonal else 0.0
        yhat = level + b + s_old
        e = x[i] - yhat
        sse += e * e
        if write:
            fitted[i] = yhat
        new_level = alpha * (x[i] - s_old) + (1.0 - alpha) * (level + b)
        b = beta * (new_level - level) + (1.0 - beta) * b
        if seasonal:
            season[i % m] = gamma * (x[i] - level - b) + (1.0 - gamma) * s_old
        level = new_level
    if write:
        state[LEVEL] = level
        state[TREND] = b
        if seasonal:
            for j in range(m):
                state[HEAD + j] = season[(n + j) % m]
    return sse


@njit(cache=True)
def _coordinate_golden(x: np.ndarray, m: int, p: np.ndarray, lo: np.ndarray,
                       hi: np.ndarray, k: int, dummy_s: np.ndarray,
                       dummy_f: np.ndarray) -> None:
    """Minimise the Holt(-Winters) SSE over p[0..k-1] one coordinate at a time (2 sweeps)."""
    for _ in range(2):
        for j in range(k):
            a, b = lo[j], hi[j]
            c = b - GOLDEN * (b - a)
            d = a + GOLDEN * (b - a)
            p[j] = c
            fc = _hw_run(x, m, p, dummy_s, dummy_f, False)
            p[j] = d
            fd = _hw_run(x, m, p, dummy_s, dummy_f, False)
            while b - a > 1e-3:
                if fc < fd:
                    b, d, fd = d, c, fc
                    c = b - GOLDEN * (b - a)
                    p[j] = c
                    fc = _hw_run(x, m, p, dummy_s, dummy_f, False)
                else:
                    a, c, fc = c, d, fd
                    d = a + GOLDEN * (b - a)
                    p[j] = d
                    fd = _hw_run(x, m, p, dummy_s, dummy_f, False)
            p[j] = 0.5 * (a + b)


@njit(cache=True)
def fit_holt_winters(x: np.ndarray, m: int, params: np.ndarray, state: np.ndarray,
                     fitted: np.ndarray) -> None:
    """Additive Holt-Winters (m > 1) or Holt (m == 1); NaN params are optimised by SSE."""
    _reset(state, fitted)
    n = x.size
    if n < 3 or (m > 1 and n < 2 * m + 1):
        # Too short to initialise the season (or the trend): SES is the honest fallback.
        fit_ses(x, np.nan, state, fitted)
        return
    # Defaults keep the trend and season slow: daily demand is noisy and trends rarely last.
    p = np.array([0.1, 0.01, 0.05])
    lo = np.array([0.01, 0.0001, 0.0001])
    hi = np.array([0.99, 0.2, 0.5])
    k = 3 if m > 1 else 2
    free = False
    for j in range(k):
        if np.isnan(params[j]):
            free = True
        else:
            p[j] = params[j]
            lo[j] = params[j]
            hi[j] = params[j]
    if free:
        _coordinate_golden(x, m, p, lo, hi, k, state, fitted)
    _hw_run(x, m, p, state, fitted, True)

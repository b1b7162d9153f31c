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
NEWTON_TOL = 1e-6  # last Newton step; the alpha error after it is ~ its square
# Starting grid for the SES alpha search (one pass evaluates all eight SSEs): dense at the
# small alphas intermittent demand mostly wants.
SES_GRID = (0.01, 0.03, 0.06, 0.1, 0.17, 0.3, 0.55, 0.99)
# Let LLVM fuse multiply-adds in the optimiser's passes: the level recursion is a chain of
# dependent multiply-adds, so fusing halves its latency (rounding moves by ~1e-16).
_FMA = {"contract"}


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


@njit(cache=True, fastmath=_FMA)
def _ses_grid(x: np.ndarray, lo: float, hi: float
              ) -> tuple[tuple[float, float, float, float, float, float, float, float],
                         tuple[float, float, float, float, float, float, float, float]]:
    """(alphas, one-step SSEs) on SES_GRID clipped to [lo, hi]: eight chains in one pass."""
    a0, a1 = min(max(SES_GRID[0], lo), hi), min(max(SES_GRID[1], lo), hi)
    a2, a3 = min(max(SES_GRID[2], lo), hi), min(max(SES_GRID[3], lo), hi)
    a4, a5 = min(max(SES_GRID[4], lo), hi), min(max(SES_GRID[5], lo), hi)
    a6, a7 = min(max(SES_GRID[6], lo), hi), min(max(SES_GRID[7], lo), hi)
    l0 = l1 = l2 = l3 = l4 = l5 = l6 = l7 = x[0]
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    for i in range(1, x.size):
        v = x[i]
        e0, e1, e2, e3 = v - l0, v - l1, v - l2, v - l3
        e4, e5, e6, e7 = v - l4, v - l5, v - l6, v - l7
        s0 += e0 * e0
        s1 += e1 * e1
        s2 += e2 * e2
        s3 += e3 * e3
        s4 += e4 * e4
        s5 += e5 * e5
        s6 += e6 * e6
        s7 += e7 * e7
        # level + a * error == a * v + (1 - a) * level, one fused multiply-add per chain
        l0 += a0 * e0
        l1 += a1 * e1
        l2 += a2 * e2
        l3 += a3 * e3
        l4 += a4 * e4
        l5 += a5 * e5
        l6 += a6 * e6
        l7 += a7 * e7
    return (a0, a1, a2, a3, a4, a5, a6, a7), (s0, s1, s2, s3, s4, s5, s6, s7)


@njit(cache=True, fastmath=_FMA)
def _ses_newton_pass(x: np.ndarray, alpha: float
                     ) -> tuple[float, float, float, float, float]:
    """(dSSE/da, d2SSE/da2, final level, dlevel/da, d2level/da2) of SES in one pass.

    The level recursion is differentiated alongside it (D = dL/da, D2 = d2L/da2), so a
    Newton step costs one pass, like a single SSE evaluation of a golden-section search.
    """
    c = 1.0 - alpha
    level = x[0]
    d1 = 0.0
    d2 = 0.0
    g = 0.0
    hess = 0.0
    for i in range(1, x.size):
        e = x[i] - level
        g += e * d1
        hess += d1 * d1 - e * d2
        d2 = -2.0 * d1 + c * d2
        d1 = e + c * d1
        level = alpha * x[i] + c * level
    return -2.0 * g, 2.0 * hess, level, d1, d2


@njit(cache=True)
def optimal_ses(x: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """(alpha, final level) minimising the SES one-step SSE on [lo, hi].

    Same objective as statsforecast's golden-section search (tolerance 1e-12), found with
    an eight-point grid pass and safeguarded Newton steps: ~5 passes instead of ~57.
    """
    alphas, sse = _ses_grid(x, lo, hi)
    k = 0
    for j in range(1, len(SES_GRID)):
        if sse[j] < sse[k]:
            k = j
    alpha = alphas[k]
    last = len(SES_GRID) - 1
    # Bracket between the grid neighbours (the SSE is unimodal in practice).
    a = lo if k == 0 else alphas[k - 1]
    b = hi if k == last else alphas[k + 1]
    level = x[x.size - 1]
    for _ in range(60):
        g, hess, level, dlevel, d2level = _ses_newton_pass(x, alpha)
        if g == 0.0:
            break
        if g > 0.0:
            b = alpha
        else:
            a = alpha
        # Where the SSE is concave, head downhill (to the bound if it ends the bracket).
        downhill = -np.inf if g > 0.0 else np.inf
        new = alpha - g / hess if hess > 0.0 else downhill
        if not (a < new < b):
            if new <= a and a == lo and alpha != lo:
                new = lo  # the minimum may sit on the bound: try it before bisecting
            elif new >= b and b == hi and alpha != hi:
                new = hi
            else:
                new = 0.5 * (a + b)
        step = new - alpha
        if abs(step) < NEWTON_TOL or b - a < NEWTON_TOL:
            # Newton converges quadratically: a step this small leaves alpha ~step^2 off
            # the optimum, so take it and move the level along its Taylor series instead
            # of paying one more pass.
            return new, level + step * (dlevel + 0.5 * step * d2level)
        alpha = new
    return alpha, level


@njit(cache=True)
def fit_ses(x: np.ndarray, alpha: float, state: np.ndarray, fitted: np.ndarray) -> float:
    """SES with fixed alpha, or alpha optimised on [0.01, 0.99] when alpha is NaN.

    `fitted` of size 0 skips the in-sample values (point forecasts only).
    """
    _reset(state, fitted)
    write = fitted.size == x.size
    if np.isnan(alpha):
        if x.size <= 2:
            alpha = 0.5
        else:
            alpha, level = optimal_ses(x, 0.01, 0.99)
            if not write:
                state[LEVEL] = level
                return alpha
    level = x[0]
    if write:
        for i in range(1, x.size):
            fitted[i] = level
            level = alpha * x[i] + (1.0 - alpha) * level
    else:
        for i in range(1, x.size):
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

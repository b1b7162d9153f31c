"""Per-series numba kernels: naive, seasonal naive, moving average, SES, Holt, Holt-Winters.

Every `_fit_*` function works on one series `x` (a view into the flat array) and writes
  - `state`: [level, trend, nonneg, season_0 .. season_{m-1}] where season_j is the seasonal
    term of the step j+1 ahead (already rotated), so any model predicts with one formula;
  - `fitted`: one-step-ahead in-sample predictions (NaN where the model has no forecast yet).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from forecasting._simd import LANES, ses_derivative_pass, ses_grid_pass

# Columns of the state row shared by all models.
LEVEL, TREND, NONNEG, HEAD = 0, 1, 2, 3
GOLDEN = 0.6180339887498949
GOLDEN_TOL = 1e-4
# SES alpha search: stop on a Newton step below NEWTON_TOL (alpha error ~ its square) or a
# Halley step below HALLEY_TOL (~ its cube), or once the bracket is narrower than NEWTON_TOL.
NEWTON_TOL = 1e-6
HALLEY_TOL = 1e-5
# Starting grid for the SES alpha search (two SIMD passes evaluate all eight SSEs): dense
# at the small alphas intermittent demand mostly wants.
SES_GRID = (0.01, 0.03, 0.06, 0.1, 0.17, 0.3, 0.55, 0.99)


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
def _ses_step(alpha: float, a: float, b: float, lo: float, hi: float, g: float, hess: float,
              third: float) -> tuple[float, float, float, bool]:
    """One safeguarded step of the alpha search: (new alpha, bracket a, b, converged).

    Halley's step (cubic convergence) where it agrees with Newton's within a factor 2,
    else Newton's, else (concave SSE, or a step leaving the bracket) the bound or the
    bracket's midpoint. Converged when the step is below the method's tolerance.
    """
    if g > 0.0:
        b = alpha
    else:
        a = alpha
    if hess > 0.0:
        newton = alpha - g / hess
        new = newton
        tol = NEWTON_TOL  # Newton: the alpha error after a step is ~ its square
        den = 2.0 * hess * hess - g * third
        if den > 0.0 and newton != alpha:  # (a zero Newton step has converged anyway)
            halley = alpha - 2.0 * g * hess / den
            ratio = (halley - alpha) / (newton - alpha)
            if 0.5 <= ratio <= 2.0:
                new = halley
                tol = HALLEY_TOL  # Halley: ~ its cube
        if abs(newton - alpha) < tol and a <= new <= b:
            return new, a, b, True
    else:
        # Where the SSE is concave, head downhill (to the bound if it ends the bracket).
        new = -np.inf if g > 0.0 else np.inf
    if not (a < new < b):
        if new <= a and a == lo and alpha != lo:
            new = lo  # the minimum may sit on the bound: try it before bisecting
        elif new >= b and b == hi and alpha != hi:
            new = hi
        else:
            new = 0.5 * (a + b)
    return new, a, b, b - a < NEWTON_TOL


LANES_WORK = 84  # scratch floats `optimal_ses_lanes` needs


@njit(cache=True)
def optimal_ses_lanes(xt: np.ndarray, n: int, lanes: int, lo: float, hi: float,
                      alpha_out: np.ndarray, level_out: np.ndarray, work: np.ndarray) -> None:
    """Alpha and final level minimising the SES one-step SSE on [lo, hi], four series at once.

    `xt` holds up to four series of length n interleaved (`xt[4 * i + lane]`; unused lanes
    hold copies of a used one); `work` is scratch (LANES_WORK floats). Same objective as
    statsforecast's golden-section search (tolerance 1e-12), found with an eight-alpha grid
    (two passes) and safeguarded Halley steps (one pass each, ~3 per series) instead of
    ~57 passes. The lanes share every pass but not their arithmetic: each lane's answer is
    the one it would get alone.
    """
    grid_lo = work[0:16]
    grid_hi = work[16:32]
    alphas = work[32:40]
    alpha = work[40:44]
    a = work[44:48]
    b = work[48:52]
    d = work[52:80]
    done = work[80:84]  # 1.0 once a lane has converged
    for j in range(8):
        alphas[j] = min(max(SES_GRID[j], lo), hi)
    ses_grid_pass(xt, n, (alphas[0], alphas[1], alphas[2], alphas[3]), grid_lo)
    ses_grid_pass(xt, n, (alphas[4], alphas[5], alphas[6], alphas[7]), grid_hi)
    for lane in range(LANES):
        k = 0
        best = grid_lo[lane]
        for j in range(1, 8):
            sse = grid_lo[4 * j + lane] if j < 4 else grid_hi[4 * (j - 4) + lane]
            if sse < best:
                k, best = j, sse
        alpha[lane] = alphas[k]
        # Bracket between the grid neighbours (the SSE is unimodal in practice).
        a[lane] = lo if k == 0 else alphas[k - 1]
        b[lane] = hi if k == 7 else alphas[k + 1]
        done[lane] = 1.0 if lane >= lanes else 0.0  # padding lanes ride along
    for _ in range(60):
        ses_derivative_pass(xt, n, (alpha[0], alpha[1], alpha[2], alpha[3]), d)
        remaining = 0
        for lane in range(lanes):
            if done[lane] > 0.0:
                continue
            g = d[lane]
            level = d[3 * LANES + lane]
            if g == 0.0:
                alpha_out[lane], level_out[lane], done[lane] = alpha[lane], level, 1.0
                continue
            new, a[lane], b[lane], converged = _ses_step(
                alpha[lane], a[lane], b[lane], lo, hi, g, d[LANES + lane],
                d[2 * LANES + lane])
            # Taylor series of the level in alpha: the step costs no extra pass.
            step = new - alpha[lane]
            dl1, dl2, dl3 = d[4 * LANES + lane], d[5 * LANES + lane], d[6 * LANES + lane]
            alpha_out[lane] = new
            level_out[lane] = level + step * (dl1 + step * (0.5 * dl2 + step * dl3 / 6.0))
            alpha[lane] = new
            if converged:
                done[lane] = 1.0
            else:
                remaining += 1
        if remaining == 0:
            return


@njit(cache=True)
def interleave(y: np.ndarray, starts: tuple[int, int, int, int], n: int,
               xt: np.ndarray) -> None:
    """xt[4 * i + lane] = y[starts[lane] + i]: four series of length n, one store per day."""
    s0, s1, s2, s3 = starts
    for i in range(n):
        xt[LANES * i] = y[s0 + i]
        xt[LANES * i + 1] = y[s1 + i]
        xt[LANES * i + 2] = y[s2 + i]
        xt[LANES * i + 3] = y[s3 + i]


@njit(cache=True)
def optimal_ses(x: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """(alpha, final level) minimising the SES one-step SSE on [lo, hi] for one series.

    The series fills every lane of `optimal_ses_lanes`, so it gets the same answer as in
    any batch.
    """
    xt = np.empty(LANES * x.size)
    interleave(x, (0, 0, 0, 0), x.size, xt)
    out = np.empty(2 * LANES + LANES_WORK)
    optimal_ses_lanes(xt, x.size, 1, lo, hi, out[:LANES], out[LANES:2 * LANES],
                      out[2 * LANES:])
    return out[0], out[LANES]


@njit(cache=True)
def fit_ses(x: np.ndarray, alpha: float, state: np.ndarray, fitted: np.ndarray) -> float:
    """SES with fixed alpha, or alpha optimised on [0.01, 0.99] when alpha is NaN.

    `fitted` of size 0 skips the in-sample values (point forecasts only).
    """
    _reset(state, fitted)
    level = np.nan
    if np.isnan(alpha):
        if x.size <= 2:
            alpha = 0.5
        else:
            alpha, level = optimal_ses(x, 0.01, 0.99)
    ses_finish(x, alpha, level, state, fitted)
    return alpha


@njit(cache=True)
def ses_finish(x: np.ndarray, alpha: float, level: float, state: np.ndarray,
               fitted: np.ndarray) -> None:
    """Write SES's state (and fitted values) for a chosen alpha.

    `level`: the final level if the alpha search already has it (NaN otherwise); without
    fitted values it is taken as is, else the recursion runs again to write them.
    """
    write = fitted.size == x.size
    if not write and not np.isnan(level):
        state[LEVEL] = level
        return
    level = x[0]
    if write:
        for i in range(1, x.size):
            fitted[i] = level
            level = alpha * x[i] + (1.0 - alpha) * level
    else:
        for i in range(1, x.size):
            level = alpha * x[i] + (1.0 - alpha) * level
    state[LEVEL] = level


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

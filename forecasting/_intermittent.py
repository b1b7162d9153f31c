"""Per-series numba kernels for intermittent demand: Croston, SBA, TSB, ADIDA, IMAPA.

Same contract as `_smoothing`: write a state row and one-step in-sample fitted values.
Definitions follow statsforecast 2.1.1 (`_croston_classic`, `_tsb`, `_adida`, `_imapa`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from forecasting._smoothing import LEVEL, _reset, golden_ses, ses_level

SBA_FACTOR = 0.95  # statsforecast uses 0.95 = 1 - alpha/2 with alpha = 0.1


@njit(cache=True, fastmath={"contract"})  # fused multiply-adds: shorter dependency chains
def fit_croston(x: np.ndarray, alpha: float, debias: float, state: np.ndarray,
                fitted: np.ndarray) -> None:
    """Croston: SES (alpha) on demand sizes and on inter-demand intervals; SBA when debias<1.

    `fitted` of size 0 skips the in-sample values (point forecasts only).
    """
    _reset(state, fitted)
    write = fitted.size == x.size
    n = x.size
    first = 0
    while first < n and x[first] == 0.0:
        first += 1
    if first == n:
        # No demand at all: statsforecast falls back to the naive forecast (zero).
        state[LEVEL] = x[n - 1]
        return
    z = x[first]
    p = float(first + 1)  # first interval counts from the series start
    last = first
    c = 1.0 - alpha
    if write:
        ratio = debias * z / p
        for i in range(first + 1, n):
            fitted[i] = ratio
            if x[i] != 0.0:
                z = alpha * x[i] + c * z
                p = alpha * (i - last) + c * p
                last = i
                ratio = debias * z / p  # divide once per demand, not once per day
    else:
        # Branch-free update: demand days are random, so a branch would mispredict often.
        for i in range(first + 1, n):
            v = x[i]
            hit = v != 0.0
            z_new = alpha * v + c * z
            p_new = alpha * (i - last) + c * p
            z = z_new if hit else z
            p = p_new if hit else p
            last = i if hit else last
    state[LEVEL] = debias * (z / p if p != 0.0 else z)


@njit(cache=True, fastmath={"contract"})
def _tsb_run(x: np.ndarray, alpha_d: float, alpha_p: float, fitted: np.ndarray,
             write: bool) -> tuple[float, float]:
    """TSB recursion; returns (forecast, one-step SSE where a forecast exists)."""
    n = x.size
    prob = 1.0 if x[0] != 0.0 else 0.0
    z = x[0]
    seen = x[0] != 0.0
    sse = 0.0
    for i in range(1, n):
        if seen:
            yhat = prob * z
            e = x[i] - yhat
            sse += e * e
            if write:
                fitted[i] = yhat
        occurred = x[i] != 0.0
        prob = alpha_p * (1.0 if occurred else 0.0) + (1.0 - alpha_p) * prob
        if occurred:
            z = alpha_d * x[i] + (1.0 - alpha_d) * z if seen else x[i]
            seen = True
    return (prob * z if seen else 0.0), sse


@njit(cache=True)
def fit_tsb(x: np.ndarray, alpha_d: float, alpha_p: float, state: np.ndarray,
            fitted: np.ndarray) -> None:
    """TSB: SES on demand probability and on sizes; NaN alphas are optimised by one-step SSE."""
    _reset(state, fitted)
    lo, hi = 0.01, 0.5
    ad = 0.1 if np.isnan(alpha_d) else alpha_d
    ap = 0.1 if np.isnan(alpha_p) else alpha_p
    free_d, free_p = np.isnan(alpha_d), np.isnan(alpha_p)
    if (free_d or free_p) and x.size > 2:
        # Two golden-section sweeps, one coordinate at a time.
        for _ in range(2):
            for which in range(2):
                if (which == 0 and not free_d) or (which == 1 and not free_p):
                    continue
                a, b = lo, hi
                while b - a > 1e-3:
                    c = b - 0.6180339887498949 * (b - a)
                    d = a + 0.6180339887498949 * (b - a)
                    if which == 0:
                        fc = _tsb_run(x, c, ap, fitted, False)[1]
                        fd = _tsb_run(x, d, ap, fitted, False)[1]
                    else:
                        fc = _tsb_run(x, ad, c, fitted, False)[1]
                        fd = _tsb_run(x, ad, d, fitted, False)[1]
                    if fc < fd:
                        b = d
                    else:
                        a = c
                if which == 0:
                    ad = 0.5 * (a + b)
                else:
                    ap = 0.5 * (a + b)
    state[LEVEL] = _tsb_run(x, ad, ap, fitted, fitted.size == x.size)[0]


@njit(cache=True)
def _mean_interval(x: np.ndarray) -> float:
    """Mean gap between demands, counting the first from the series start (0 if no demand)."""
    count = 0
    last = -1
    for i in range(x.size):
        if x[i] != 0.0:
            count += 1
            last = i
    return (last + 1) / count if count > 0 else 0.0


@njit(cache=True)
def _round_half_even(v: float) -> int:
    # Python's round(): statsforecast picks the aggregation level with it.
    return int(np.round(v))


@njit(cache=True)
def _aggregate_forecast(x: np.ndarray, k: int, fitted: np.ndarray, weight: float) -> float:
    """SES (alpha optimised on [0.1, 0.3]) on k-day bucket sums; returns the daily forecast.

    Adds `weight` x the bucket-level one-step forecast (per day) into `fitted` for the days
    of each bucket, so IMAPA can average the fitted values of its levels.
    """
    n = x.size
    n_chunks = n // k
    if n_chunks == 0:
        return x.mean()
    skip = n % k  # statsforecast drops the oldest remainder
    sums = np.empty(n_chunks)
    for c in range(n_chunks):
        s = 0.0
        for j in range(k):
            s += x[skip + c * k + j]
        sums[c] = s
    alpha = golden_ses(sums, 0.1, 0.3) if n_chunks > 2 else 0.2
    level = sums[0]
    for c in range(1, n_chunks):
        for j in range(k):
            idx = skip + c * k + j
            if np.isnan(fitted[idx]):
                fitted[idx] = 0.0
            fitted[idx] += weight * level / k
        level = alpha * sums[c] + (1.0 - alpha) * level
    return level / k


@njit(cache=True)
def fit_adida(x: np.ndarray, imapa: bool, state: np.ndarray, fitted: np.ndarray) -> None:
    """ADIDA (one aggregation level = mean interval) or IMAPA (mean over levels 1..that)."""
    _reset(state, fitted)
    mi = _mean_interval(x)
    if mi == 0.0:
        state[LEVEL] = 0.0
        return
    top = max(_round_half_even(mi), 1)
    if not imapa:
        state[LEVEL] = _aggregate_forecast(x, top, fitted, 1.0)
        return
    acc = 0.0
    for k in range(1, top + 1):
        acc += _aggregate_forecast(x, k, fitted, 1.0 / top)
    state[LEVEL] = acc / top


@njit(cache=True)
def croston_reference_level(x: np.ndarray, alpha: float) -> float:
    """Croston point forecast built literally as statsforecast does (used by tests)."""
    nz = np.flatnonzero(x != 0.0)
    if nz.size == 0:
        return x[-1]
    sizes = x[nz]
    intervals = np.empty(nz.size)
    prev = -1
    for j in range(nz.size):
        intervals[j] = nz[j] - prev
        prev = nz[j]
    return ses_level(sizes, alpha) / ses_level(intervals, alpha)

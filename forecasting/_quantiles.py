"""Batch kernels for demand quantiles per horizon step and for lead-time demand.

Two predictive distributions, chosen per series:
  - count series (non-negative integers, i.e. unit sales): negative binomial / Poisson with
    the point forecast as mean and a dispersion index (variance / mean) measured on the
    in-sample one-step residuals of the chosen model;
  - other series: point forecast + empirical quantiles of those residuals.
Lead-time demand (sum over L steps) uses the same recipe on overlapping L-step sums of the
residuals, so autocorrelated errors widen the distribution as they should.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from forecasting._distributions import count_cdf, count_quantile, sorted_quantile


@njit(cache=True)
def is_count_series(x: np.ndarray) -> bool:
    """True for non-negative integer values (unit sales)."""
    for v in x:  # noqa: SIM110 - numba cannot compile all() over a generator
        if v < 0.0 or v != np.floor(v):
            return False
    return True


@njit(cache=True)
def _residual_sums(x: np.ndarray, fitted: np.ndarray, window: int, span: int,
                   out: np.ndarray) -> tuple[int, float, float]:
    """Overlapping `span`-step sums of the last `window` residuals (written sorted into out).

    Returns (count, mean of the squared sums, mean of the matching fitted sums).
    """
    n = x.size
    start = max(0, n - window)
    # Skip the head where the model has no forecast yet.
    while start < n and np.isnan(fitted[start]):
        start += 1
    cnt = 0
    sq = 0.0
    fsum = 0.0
    for i in range(start, n - span + 1):
        r = 0.0
        f = 0.0
        ok = True
        for k in range(span):
            if np.isnan(fitted[i + k]):
                ok = False
                break
            r += x[i + k] - fitted[i + k]
            f += fitted[i + k]
        if not ok:
            continue
        out[cnt] = r
        cnt += 1
        sq += r * r
        fsum += f
    if cnt == 0:
        return 0, 0.0, 0.0
    out[:cnt].sort()
    return cnt, sq / cnt, fsum / cnt


@njit(cache=True)
def _dispersion(mse: float, mean_fit: float) -> float:
    """Variance-to-mean ratio, at least 1 (Poisson) when the fit gives no usable estimate."""
    if mean_fit <= 1e-12:
        return 1.0
    return max(mse / mean_fit, 1.0)


@njit(cache=True, parallel=True)
def quantile_batch(y: np.ndarray, indptr: np.ndarray, fitted: np.ndarray, mean: np.ndarray,
                   levels: np.ndarray, window: int) -> np.ndarray:
    """Quantiles (n_series, h, n_q) of demand at each horizon step."""
    n_series, h = mean.shape
    nq = levels.size
    out = np.empty((n_series, h, nq))
    for s in prange(n_series):
        a, b = indptr[s], indptr[s + 1]
        x = y[a:b]
        f = fitted[a:b]
        buf = np.empty(b - a)
        cnt, mse, mean_fit = _residual_sums(x, f, window, 1, buf)
        count = is_count_series(x)
        phi = _dispersion(mse, mean_fit)
        nonneg = count or x.min() >= 0.0
        for k in range(h):
            mu = mean[s, k]
            for j in range(nq):
                if count:
                    v = count_quantile(mu, phi * mu, levels[j])
                else:
                    v = mu + sorted_quantile(buf, cnt, levels[j])
                    if nonneg and v < 0.0:
                        v = 0.0
                out[s, k, j] = v
    return out


@njit(cache=True, parallel=True)
def lead_time_batch(y: np.ndarray, indptr: np.ndarray, fitted: np.ndarray,
                    mean: np.ndarray, lead_time: int, levels: np.ndarray,
                    window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lead-time demand over the first `lead_time` steps: (mean, variance, quantiles)."""
    n_series = mean.shape[0]
    nq = levels.size
    ltd_mean = np.empty(n_series)
    ltd_var = np.empty(n_series)
    out = np.empty((n_series, nq))
    for s in prange(n_series):
        a, b = indptr[s], indptr[s + 1]
        x = y[a:b]
        f = fitted[a:b]
        buf = np.empty(b - a)
        span = min(lead_time, b - a)
        cnt, msq, mean_fit = _residual_sums(x, f, window, span, buf)
        mu = 0.0
        for k in range(lead_time):
            mu += mean[s, k]
        count = is_count_series(x)
        nonneg = count or x.min() >= 0.0
        phi = 1.0
        ltd_mean[s] = mu
        if count:
            phi = _dispersion(msq, mean_fit)
            ltd_var[s] = phi * mu
        else:
            ltd_var[s] = msq
        for j in range(nq):
            if count:
                out[s, j] = count_quantile(mu, phi * mu, levels[j])
            else:
                v = mu + sorted_quantile(buf, cnt, levels[j])
                out[s, j] = max(0.0, v) if nonneg else v
    return ltd_mean, ltd_var, out


@njit(cache=True)
def count_interval(mu: float, var: float, level: float) -> tuple[float, float]:
    """Interval [lo, hi] of a count whose probability is nearest `level`.

    lo is the (1 - level) / 2 quantile; hi is whichever of the two integers around the
    remaining probability mass brings P(lo <= K <= hi) nearer the level. The central
    [q(0.05), q(0.95)] of a low count covers far more than 90%: each quantile rounds up to
    a whole unit, and the lower one is pinned at zero whenever P(0) > 5%.
    """
    if mu <= 0.0:
        return 0.0, 0.0
    lo = count_quantile(mu, var, 0.5 * (1.0 - level))
    below = count_cdf(mu, var, lo - 1.0)
    hi = count_quantile(mu, var, min(below + level, 1.0 - 1e-12))
    if hi > lo:
        up = count_cdf(mu, var, hi) - below
        down = count_cdf(mu, var, hi - 1.0) - below
        if level - down < up - level:
            hi -= 1.0
    return lo, hi


@njit(cache=True, parallel=True)
def interval_batch(y: np.ndarray, indptr: np.ndarray, fitted: np.ndarray, mean: np.ndarray,
                   level: float, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Prediction intervals (lower, upper), each (n_series, h), of probability `level`.

    Count series: `count_interval` on the same negative binomial / Poisson as the
    quantiles. Other series: the central residual quantiles (as `quantile_batch`).
    """
    n_series, h = mean.shape
    lower = np.empty((n_series, h))
    upper = np.empty((n_series, h))
    a_lo = 0.5 * (1.0 - level)
    for s in prange(n_series):
        a, b = indptr[s], indptr[s + 1]
        x = y[a:b]
        buf = np.empty(b - a)
        cnt, mse, mean_fit = _residual_sums(x, fitted[a:b], window, 1, buf)
        count = is_count_series(x)
        phi = _dispersion(mse, mean_fit)
        nonneg = count or x.min() >= 0.0
        for k in range(h):
            mu = mean[s, k]
            if count:
                lo, hi = count_interval(mu, phi * mu, level)
            else:
                lo = mu + sorted_quantile(buf, cnt, a_lo)
                hi = mu + sorted_quantile(buf, cnt, 1.0 - a_lo)
                if nonneg:
                    lo = max(lo, 0.0)
                    hi = max(hi, 0.0)
            lower[s, k] = lo
            upper[s, k] = hi
    return lower, upper

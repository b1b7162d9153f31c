"""Batch kernels for demand quantiles per horizon step and for lead-time demand.

Two predictive distributions, chosen per series:
  - count series (non-negative integers, i.e. unit sales): counts around an uncertain
    level, K | L ~ negative binomial / Poisson (mean L, variance phi L), L = max(0, mu + sd_k
    Z) with mu the point forecast. phi (variance / mean) comes from the in-sample one-step
    residuals of the chosen model; sd_k from how much its k-step errors exceed them;
  - other series: point forecast + empirical quantiles of its k-step residuals.
k-step errors come from the one-step fitted values without refits wherever the forecast
is flat (every model but seasonal naive, Holt and Holt-Winters; those keep the one-step
spread at every step). Lead-time demand (sum over L steps) uses overlapping L-step sums of
the one-step residuals, so autocorrelated errors widen the distribution as they should.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from forecasting._distributions import (
    count_quantile,
    mixture_interval,
    mixture_quantiles,
    sorted_quantile,
)


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


# Pseudo-count of the dispersion prior: a series with few one-step residuals (demand began
# a few periods ago; MAPA has no fit until every level saw demand) leans on the index of
# dispersion of its own history instead of the Poisson, the narrowest count distribution.
PRIOR_RESIDUALS = 5


@njit(cache=True)
def _count_dispersion(x: np.ndarray, window: int, cnt1: int, mse1: float,
                      mean_fit: float) -> float:
    """Dispersion phi of the count noise: residual estimate shrunk toward the data's own."""
    x = x[max(0, x.size - window):]
    mean = x.mean()
    data = max(x.var() / mean, 1.0) if mean > 1e-12 else 1.0
    w = cnt1 / (cnt1 + PRIOR_RESIDUALS)
    return w * _dispersion(mse1, mean_fit) + (1.0 - w) * data


@njit(cache=True)
def _horizon_mse(x: np.ndarray, fitted: np.ndarray, window: int, flat: bool,
                 mse: np.ndarray) -> tuple[int, float]:
    """Mean squared k-step in-sample errors into mse[k - 1] (k = 1..mse.size).

    The one-step fitted value f[t] is the forecast made at t - 1; a flat forecast (the
    same value for every step) makes it that origin's forecast of x[t + k - 1] as well, so
    x[t + k - 1] - f[t] is a genuine k-step error and no refit is needed. Models with a
    trend or season (flat=False) keep the one-step error at every step. Steps with no
    pair left (short series) repeat the last one. Returns (one-step count, mean fitted).
    """
    n = x.size
    start = max(0, n - window)
    while start < n and np.isnan(fitted[start]):
        start += 1  # the head where the model has no forecast yet
    cnt1 = 0
    fsum = 0.0
    for k in range(mse.size):
        if k > 0 and not flat:
            mse[k] = mse[0]
            continue
        sq = 0.0
        cnt = 0
        for t in range(start, n - k):
            f = fitted[t]
            if np.isnan(f):
                continue
            e = x[t + k] - f
            sq += e * e
            cnt += 1
            if k == 0:
                fsum += f
        if k == 0:
            cnt1 = cnt
        mse[k] = sq / cnt if cnt > 0 else (mse[k - 1] if k > 0 else 0.0)
    return cnt1, (fsum / cnt1 if cnt1 > 0 else 0.0)


@njit(cache=True)
def _level_sd(mse: np.ndarray, sd: np.ndarray) -> None:
    """sd[k] of the forecast's level at step k + 1: the k-step error beyond the one-step.

    The one-step error is count noise around a known level (phi); what the k-step error
    adds is the level drifting away from the forecast (shifts, launches, stock-outs),
    which a wider negative binomial would misplace: its mass piles up at zero and in one
    long tail, where a level shift moves the whole distribution. Non-decreasing in k.
    """
    top = 0.0
    for k in range(mse.size):
        top = max(top, mse[k] - mse[0])
        sd[k] = np.sqrt(top)


@njit(cache=True)
def _step_errors(x: np.ndarray, fitted: np.ndarray, window: int, k: int, flat: bool,
                 cnt: int, buf: np.ndarray) -> int:
    """Sorted (k+1)-step in-sample errors x[t + k] - f[t] into buf; returns their count.

    Called for k = 0, 1, ... in turn with the previous count: models with a trend or
    season keep the one-step errors, and once too few pairs are left (short series) the
    last step's errors stay.
    """
    if k > 0 and not flat:
        return cnt
    n = x.size
    pairs = 0
    for t in range(max(0, n - window), n - k):
        pairs += not np.isnan(fitted[t])
    if k > 0 and pairs < 2:
        return cnt
    cnt = 0
    for t in range(max(0, n - window), n - k):
        if not np.isnan(fitted[t]):
            buf[cnt] = x[t + k] - fitted[t]
            cnt += 1
    buf[:cnt].sort()
    return cnt


@njit(cache=True)
def _count_spread(x: np.ndarray, f: np.ndarray, window: int, flat: bool,
                  h: int) -> tuple[bool, float, np.ndarray]:
    """A count series' dispersion and level sd per step: (True, phi, sd); else (False, ...)."""
    sd = np.empty(h)
    if not is_count_series(x):
        return False, 0.0, sd
    mse = np.empty(h)
    cnt1, mean_fit = _horizon_mse(x, f, window, flat, mse)
    phi = _count_dispersion(x, window, cnt1, mse[0], mean_fit)
    _level_sd(mse, sd)
    return True, phi, sd


@njit(cache=True, parallel=True)
def quantile_batch(y: np.ndarray, indptr: np.ndarray, fitted: np.ndarray, mean: np.ndarray,
                   flat: np.ndarray, levels: np.ndarray, window: int) -> np.ndarray:
    """Quantiles (n_series, h, n_q) of demand at each horizon step."""
    n_series, h = mean.shape
    nq = levels.size
    out = np.empty((n_series, h, nq))
    order = np.argsort(levels)
    for s in prange(n_series):
        a, b = indptr[s], indptr[s + 1]
        x = y[a:b]
        f = fitted[a:b]
        count, phi, sd = _count_spread(x, f, window, flat[s], h)
        if count:
            for k in range(h):
                mixture_quantiles(mean[s, k], phi, sd[k], levels, order, out[s, k])
            continue
        nonneg = x.min() >= 0.0
        buf = np.empty(b - a)
        cnt = 0
        for k in range(h):
            cnt = _step_errors(x, f, window, k, flat[s], cnt, buf)
            for j in range(nq):
                v = mean[s, k] + sorted_quantile(buf, cnt, levels[j])
                out[s, k, j] = max(v, 0.0) if nonneg else v
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
    return mixture_interval(mu, max(var / mu, 1.0), 0.0, level)


@njit(cache=True, parallel=True)
def interval_batch(y: np.ndarray, indptr: np.ndarray, fitted: np.ndarray, mean: np.ndarray,
                   flat: np.ndarray, level: float, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Prediction intervals (lower, upper), each (n_series, h), of probability `level`.

    Count series: `mixture_interval` on the same distribution as the quantiles. Other
    series: the central k-step residual quantiles (as `quantile_batch`).
    """
    n_series, h = mean.shape
    lower = np.empty((n_series, h))
    upper = np.empty((n_series, h))
    a_lo = 0.5 * (1.0 - level)
    for s in prange(n_series):
        a, b = indptr[s], indptr[s + 1]
        x = y[a:b]
        f = fitted[a:b]
        count, phi, sd = _count_spread(x, f, window, flat[s], h)
        if count:
            for k in range(h):
                lower[s, k], upper[s, k] = mixture_interval(mean[s, k], phi, sd[k], level)
            continue
        nonneg = x.min() >= 0.0
        buf = np.empty(b - a)
        cnt = 0
        for k in range(h):
            cnt = _step_errors(x, f, window, k, flat[s], cnt, buf)
            lo = mean[s, k] + sorted_quantile(buf, cnt, a_lo)
            hi = mean[s, k] + sorted_quantile(buf, cnt, 1.0 - a_lo)
            lower[s, k] = max(lo, 0.0) if nonneg else lo
            upper[s, k] = max(hi, 0.0) if nonneg else hi
    return lower, upper

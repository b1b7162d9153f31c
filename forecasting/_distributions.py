"""Scalar numba helpers: normal, Poisson and negative-binomial quantiles, empirical quantiles."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Above this mean the count distributions are summed in too many terms: use the normal.
_NORMAL_ABOVE = 2000.0


@njit(cache=True)
def norm_ppf(p: float) -> float:
    """Standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9)."""
    if p <= 0.0:
        return -np.inf
    if p >= 1.0:
        return np.inf
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
         1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
         6.680131188771972e01, -1.328068155288572e01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
         -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
         3.754408661907416e00)
    lo = 0.02425
    if p < lo:
        q = math.sqrt(-2.0 * math.log(p))
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / \
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0)
    if p > 1.0 - lo:
        q = math.sqrt(-2.0 * math.log(1.0 - p))
        return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / \
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0)
    q = p - 0.5
    r = q * q
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / \
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0)


@njit(cache=True)
def count_quantile(mu: float, var: float, p: float) -> float:
    """Smallest k with P(K <= k) >= p for a count with mean mu and variance var.

    Negative binomial when var > mu (over-dispersed, the usual case for retail demand),
    Poisson otherwise; normal approximation for very large means.
    """
    if mu <= 0.0 or p <= 0.0:
        return 0.0
    if mu > _NORMAL_ABOVE:
        return max(0.0, math.ceil(mu + norm_ppf(p) * math.sqrt(max(var, mu)) - 0.5))
    if var > mu * (1.0 + 1e-9):
        r = mu * mu / (var - mu)
        q = mu / (r + mu)  # success probability of the "mu" parametrisation
        log_pk = r * math.log1p(-q)
        pk = math.exp(log_pk)
        k = 0
        cdf = pk
        while cdf < p and k < 1_000_000:
            pk *= (k + r) / (k + 1.0) * q
            k += 1
            cdf += pk
            if pk == 0.0 and cdf < p and k > mu:
                break  # numerical floor reached in the far tail
        return float(k)
    pk = math.exp(-mu)
    k = 0
    cdf = pk
    while cdf < p and k < 1_000_000:
        k += 1
        pk *= mu / k
        cdf += pk
        if pk == 0.0 and k > mu:
            break
    return float(k)


@njit(cache=True)
def count_cdf(mu: float, var: float, k: float) -> float:
    """P(K <= k) for the count distribution of `count_quantile` (same mean/variance rule)."""
    if k < 0.0:
        return 0.0
    if mu <= 0.0:
        return 1.0
    if mu > _NORMAL_ABOVE:
        z = (k + 0.5 - mu) / math.sqrt(max(var, mu))
        return 0.5 * math.erfc(-z / math.sqrt(2.0))
    top = int(k)
    if var > mu * (1.0 + 1e-9):
        r = mu * mu / (var - mu)
        q = mu / (r + mu)
        pk = math.exp(r * math.log1p(-q))
        cdf = pk
        for i in range(top):
            pk *= (i + r) / (i + 1.0) * q
            cdf += pk
        return min(cdf, 1.0)
    pk = math.exp(-mu)
    cdf = pk
    for i in range(1, top + 1):
        pk *= mu / i
        cdf += pk
    return min(cdf, 1.0)


@njit(cache=True)
def sorted_quantile(sorted_x: np.ndarray, n: int, p: float) -> float:
    """Linear-interpolated quantile of the first n values of an ascending array."""
    if n == 0:
        return 0.0
    pos = p * (n - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    w = pos - lo
    return sorted_x[lo] * (1.0 - w) + sorted_x[hi] * w

"""Per-series numba kernels for intermittent demand: Croston, SBA, TSB, ADIDA, IMAPA.

Same contract as `_smoothing`: write a state row and one-step in-sample fitted values.
Definitions follow statsforecast 2.1.1 (`_croston_classic`, `_tsb`, `_adida`, `_imapa`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from forecasting._simd import fma
from forecasting._smoothing import LEVEL, _reset, golden_ses, ses_level

SBA_FACTOR = 0.95  # statsforecast uses 0.95 = 1 - alpha/2 with alpha = 0.1


@njit(cache=True)
def demand_positions(x: np.ndarray, pos: np.ndarray) -> int:
    """Write the indices of the non-zero values of x to pos[:k]; return k.

    Branch-free: every index is stored and the cursor moves only past demand days, so the
    random demand pattern costs no mispredicted branches (pos needs x.size slots).
    """
    k = 0
    for i in range(x.size):
        pos[k] = i
        k += x[i] != 0.0
    return k


@njit(cache=True)
def occurrences(x: np.ndarray, occ: np.ndarray) -> None:
    """occ[i] = 1.0 on demand days, else 0.0 (a vectorised pass).

    Recursions read the 0/1 indicator from memory: computed inline, LLVM lowers it to a
    branch on x86, which mispredicts on random demand days.
    """
    for i in range(x.size):
        occ[i] = 1.0 if x[i] != 0.0 else 0.0


@njit(cache=True)
def fit_croston(x: np.ndarray, alpha: float, debias: float, state: np.ndarray,
                fitted: np.ndarray) -> None:
    """Croston: SES (alpha) on demand sizes and on inter-demand intervals; SBA when debias<1.

    `fitted` of size 0 skips the in-sample values (point forecasts only). The updates are
    explicit fused multiply-adds (shorter dependency chains, and the same rounding on both
    paths).
    """
    _reset(state, fitted)
    n = x.size
    c = 1.0 - alpha
    if fitted.size != n:
        # Point forecast only: the recursions run over the demand days alone.
        pos = np.empty(n, dtype=np.int64)
        k = demand_positions(x, pos)
        if k == 0:
            state[LEVEL] = x[n - 1]  # no demand: statsforecast's naive fallback (zero)
            return
        last = pos[0]
        z = x[last]
        p = float(last + 1)  # first interval counts from the series start
        for t in range(1, k):
            i = pos[t]
            z = fma(c, z, alpha * x[i])
            p = fma(c, p, alpha * (i - last))
            last = i
        state[LEVEL] = debias * (z / p if p != 0.0 else z)
        return
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
    ratio = debias * z / p
    for i in range(first + 1, n):
        fitted[i] = ratio
        if x[i] != 0.0:
            z = fma(c, z, alpha * x[i])
            p = fma(c, p, alpha * (i - last))
            last = i
            ratio = debias * z / p  # divide once per demand, not once per day
    state[LEVEL] = debias * (z / p if p != 0.0 else z)


@njit(cache=True, fastmath={"contract"})
def _tsb_run(x: np.ndarray, alpha_d: float, alpha_p: float, fitted: np.ndarray) -> float:
    """TSB recursion writing the one-step fitted values; returns the forecast."""
    n = x.size
    occ = np.empty(n)
    occurrences(x, occ)
    prob = occ[0]
    z = x[0]
    seen = x[0] != 0.0
    for i in range(1, n):
        if seen:
            fitted[i] = prob * z
        prob = fma(1.0 - alpha_p, prob, alpha_p * occ[i])
        if x[i] != 0.0:
            z = fma(1.0 - alpha_d, z, alpha_d * x[i]) if seen else x[i]
            seen = True
    return prob * z if seen else 0.0


@njit(cache=True)
def _tsb_point(x: np.ndarray, alpha_d: float, alpha_p: float, pos: np.ndarray,
               decay: np.ndarray) -> float:
    """TSB forecast without fitted values, in a pass that only finds the demand days.

    Between demands the probability only decays (p <- (1 - alpha_p) p), so it is carried
    from demand to demand with the power of the gap (`decay[g] = (1 - alpha_p)^g`, built
    as far as the longest gap needs) and gains alpha_p on each demand day; the size is
    smoothed on the demand days alone. Equal to the day-by-day recursion of `_tsb_run` up
    to rounding (~1e-15 relative).
    """
    n = x.size
    k = demand_positions(x, pos)
    if k == 0:
        return 0.0
    c = 1.0 - alpha_p
    cd = 1.0 - alpha_d
    decay[0] = 1.0
    built = 0
    last = pos[0]
    prob = 1.0 if last == 0 else alpha_p  # from 0 before the first demand (1 on day 0)
    z = x[last]
    for t in range(1, k):
        i = pos[t]
        gap = i - last
        while built < gap:
            built += 1
            decay[built] = decay[built - 1] * c
        prob = fma(prob, decay[gap], alpha_p)
        z = fma(cd, z, alpha_d * x[i])
        last = i
    for _ in range(built, n - 1 - last):
        built += 1
        decay[built] = decay[built - 1] * c
    return prob * decay[n - 1 - last] * z


@njit(cache=True, fastmath={"contract"})
def _tsb_sse_p(x: np.ndarray, occ: np.ndarray, first: int, zf: np.ndarray, ap_c: float,
               ap_d: float) -> tuple[float, float]:
    """One-step SSEs of TSB at two probability alphas (sizes fixed): one fused pass.

    `zf[i]` is the size level after day i (from `first`, the first demand day, on); the
    errors are summed in day order exactly as `_tsb_run` would, so the values match it.
    """
    n = x.size
    pc = pd = occ[0]
    for i in range(1, first + 1):
        o = occ[i]
        pc = fma(1.0 - ap_c, pc, ap_c * o)
        pd = fma(1.0 - ap_d, pd, ap_d * o)
    sc = 0.0
    sd = 0.0
    for i in range(first + 1, n):
        z = zf[i - 1]
        yc = pc * z
        ec = x[i] - yc
        sc += ec * ec
        yd = pd * z
        ed = x[i] - yd
        sd += ed * ed
        o = occ[i]
        pc = fma(1.0 - ap_c, pc, ap_c * o)
        pd = fma(1.0 - ap_d, pd, ap_d * o)
    return sc, sd


@njit(cache=True, fastmath={"contract"})
def _tsb_size_terms(x: np.ndarray, occ: np.ndarray, pos: np.ndarray, k: int,
                    pf: np.ndarray, quad: np.ndarray, cross: np.ndarray) -> float:
    """Split TSB's SSE at fixed probabilities into per-demand terms of the size levels.

    The size level z_t holds from demand t to the next one, so with p_j the probability
    after day j the SSE is  C - 2 * sum_t cross[t] * z_t + sum_t quad[t] * z_t^2  with
    quad[t] = sum of p_j^2 over the days j of segment t (each predicts day j + 1),
    cross[t] = x(next demand) * p(day before it) and C = sum of squared later demands
    (returned). Any size alpha then costs a pass over the k demands, not over every day.
    """
    n = x.size
    first = pos[0]
    acc = 0.0
    t = 0
    for j in range(first, n - 1):
        p = pf[j]
        acc += p * p
        quad[t] = acc  # overwritten until the segment ends
        nxt = occ[j + 1]
        acc *= 1.0 - nxt  # branch-free reset on the next demand day
        t += x[j + 1] != 0.0
    if pos[k - 1] == n - 1:
        quad[k - 1] = 0.0  # the last demand is the last day: it predicts nothing
    total = 0.0
    for t in range(k - 1):
        v = x[pos[t + 1]]
        cross[t] = v * pf[pos[t + 1] - 1]
        total += v * v
    cross[k - 1] = 0.0
    return total


@njit(cache=True, fastmath={"contract"})
def _tsb_sse_d(x: np.ndarray, pos: np.ndarray, k: int, quad: np.ndarray,
               cross: np.ndarray, total: float, ad_c: float, ad_d: float
               ) -> tuple[float, float]:
    """One-step SSEs of TSB at two size alphas (probabilities fixed), over the demands only."""
    zc = zd = x[pos[0]]
    sc = 0.0
    sd = 0.0
    for t in range(k):
        sc += zc * (quad[t] * zc - 2.0 * cross[t])
        sd += zd * (quad[t] * zd - 2.0 * cross[t])
        if t + 1 < k:
            v = x[pos[t + 1]]
            zc = fma(1.0 - ad_c, zc, ad_c * v)
            zd = fma(1.0 - ad_d, zd, ad_d * v)
    return total + sc, total + sd


@njit(cache=True, fastmath={"contract"})
def _tsb_levels(x: np.ndarray, first: int, alpha_d: float, zf: np.ndarray) -> None:
    """zf[i] = TSB size level after day i, for i >= first (the first demand day)."""
    z = x[first]
    zf[first] = z
    for i in range(first + 1, x.size):
        if x[i] != 0.0:
            z = fma(1.0 - alpha_d, z, alpha_d * x[i])
        zf[i] = z


@njit(cache=True, fastmath={"contract"})
def _tsb_probs(occ: np.ndarray, alpha_p: float, pf: np.ndarray) -> None:
    """pf[i] = TSB demand probability after day i."""
    prob = occ[0]
    pf[0] = prob
    for i in range(1, occ.size):
        prob = fma(1.0 - alpha_p, prob, alpha_p * occ[i])
        pf[i] = prob


@njit(cache=True)
def _optimise_tsb(x: np.ndarray, ad: float, ap: float, free_d: bool, free_p: bool
                  ) -> tuple[float, float]:
    """Minimise TSB's one-step SSE over [0.01, 0.5]: golden sections, one alpha at a time.

    The search of the plain version (two sweeps; each section recomputes its two interior
    points and stops below 1e-3 width), at a fraction of the cost: both points of a step
    are evaluated in one fused branch-free pass, and a size-alpha step only walks the
    demand days (the daily probabilities enter through terms computed once per sweep).
    """
    n = x.size
    lo, hi = 0.01, 0.5
    pos = np.empty(n, dtype=np.int64)
    k = demand_positions(x, pos)
    # No demand: the SSE is zero everywhere, so every comparison ties and each section
    # walks to its upper end, as the plain golden search does.
    first = n - 1 if k == 0 else pos[0]
    work = np.empty(n)
    occ = np.empty(n)
    occurrences(x, occ)
    quad = np.empty(max(k, 1))
    cross = np.empty(max(k, 1))
    total = 0.0
    for _ in range(2):
        for which in range(2):
            if (which == 0 and not free_d) or (which == 1 and not free_p):
                continue
            if k > 0:
                if which == 0:
                    _tsb_probs(occ, ap, work)
                    total = _tsb_size_terms(x, occ, pos, k, work, quad, cross)
                else:
                    _tsb_levels(x, first, ad, work)
            a, b = lo, hi
            while b - a > 1e-3:
                c = b - 0.6180339887498949 * (b - a)
                d = a + 0.6180339887498949 * (b - a)
                if k == 0:
                    fc = fd = 0.0
                elif which == 0:
                    fc, fd = _tsb_sse_d(x, pos, k, quad, cross, total, c, d)
                else:
                    fc, fd = _tsb_sse_p(x, occ, first, work, c, d)
                if fc < fd:
                    b = d
                else:
                    a = c
            if which == 0:
                ad = 0.5 * (a + b)
            else:
                ap = 0.5 * (a + b)
    return ad, ap


@njit(cache=True)
def fit_tsb(x: np.ndarray, alpha_d: float, alpha_p: float, state: np.ndarray,
            fitted: np.ndarray) -> None:
    """TSB: SES on demand probability and on sizes; NaN alphas are optimised by one-step SSE.

    `fitted` of size 0 skips the in-sample values (point forecasts only).
    """
    _reset(state, fitted)
    ad = 0.1 if np.isnan(alpha_d) else alpha_d
    ap = 0.1 if np.isnan(alpha_p) else alpha_p
    free_d, free_p = np.isnan(alpha_d), np.isnan(alpha_p)
    if (free_d or free_p) and x.size > 2:
        ad, ap = _optimise_tsb(x, ad, ap, free_d, free_p)
    if fitted.size == x.size:
        state[LEVEL] = _tsb_run(x, ad, ap, fitted)
    else:
        state[LEVEL] = _tsb_point(x, ad, ap, np.empty(x.size, dtype=np.int64),
                                  np.empty(x.size))


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

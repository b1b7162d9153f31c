"""Per-series numba kernels for intermittent demand: Croston, SBA, TSB, ADIDA, IMAPA, MAPA-TSB.

Same contract as `_smoothing`: write a state row and one-step in-sample fitted values.
Definitions follow statsforecast 2.1.1 (`_croston_classic`, `_tsb`, `_adida`, `_imapa`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from forecasting._simd import fma
from forecasting._smoothing import LEVEL, _reset, golden_ses, ses_level

SBA_FACTOR = 0.95  # statsforecast uses 0.95 = 1 - alpha/2 with alpha = 0.1
# Aggregation levels of the MAPA-style TSB: 1, 2 and 3 periods (months, bi-months,
# quarters). Chosen on simulated monthly series and M5 before the carparts held-out year;
# adding levels 4 and 6 did not help.
MAPA_LEVELS = 3


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


# TSB's one-step SSE by demand segments. Between demands the size level z_t is constant and
# the probability only decays: over the L_t days j from demand t on (pos[t] .. pos[t] +
# L_t - 1, each predicting day j + 1), p_j = P_t c^(j - pos[t]) with P_t the probability on
# the demand day and c = 1 - alpha_p. The errors of those days are -p_j z_t, except the
# last one, which predicts the next demand v_{t+1}. So segment t contributes
#     P_t^2 z_t^2 S2(L_t) - 2 v_{t+1} z_t P_t c^(L_t - 1)   (+ v_{t+1}^2, a constant)
# with S2(L) = sum_{m < L} c^(2m), and P_{t+1} = P_t c^(L_t) + alpha_p. Any alpha then costs
# a pass over the k demands and a table of powers as long as the longest gap, not a pass
# over every day (the sums match the day-by-day SSE up to rounding).


@njit(cache=True)
def _decay_tables(c: float, longest: int, pw: np.ndarray, s2: np.ndarray) -> None:
    """pw[L] = c^L and s2[L] = sum_{m < L} c^(2m) for L = 0..longest."""
    pw[0] = 1.0
    s2[0] = 0.0
    for g in range(1, longest + 1):
        s2[g] = fma(pw[g - 1], pw[g - 1], s2[g - 1])
        pw[g] = pw[g - 1] * c


@njit(cache=True)
def _tsb_segments(x: np.ndarray, pos: np.ndarray, k: int, span: np.ndarray,
                  nxt: np.ndarray) -> tuple[float, int]:
    """Segment lengths span[t] = L_t and next demands nxt[t] = v_{t+1} (0 after the last).

    Returns (sum of squared later demands, longest segment).
    """
    total = 0.0
    longest = 0
    for t in range(k):
        end = pos[t + 1] if t + 1 < k else x.size - 1  # the last day predicts nothing
        span[t] = end - pos[t]
        longest = max(longest, span[t])
        v = x[pos[t + 1]] if t + 1 < k else 0.0
        nxt[t] = v
        total = fma(v, v, total)
    return total, longest


@njit(cache=True)
def _tsb_probability_terms(pos: np.ndarray, k: int, span: np.ndarray, nxt: np.ndarray,
                           alpha_p: float, pw: np.ndarray, s2: np.ndarray,
                           quad: np.ndarray, cross: np.ndarray) -> None:
    """Per segment at fixed alpha_p: SSE = total + sum_t z_t (quad[t] z_t - 2 cross[t])."""
    prob = 1.0 if pos[0] == 0 else alpha_p  # from 0 before the first demand (1 on day 0)
    for t in range(k):
        span_t = span[t]
        quad[t] = prob * prob * s2[span_t]
        cross[t] = nxt[t] * prob * pw[span_t - 1] if span_t > 0 else 0.0
        prob = fma(prob, pw[span_t], alpha_p)


@njit(cache=True)
def _tsb_sizes(x: np.ndarray, pos: np.ndarray, k: int, alpha_d: float, z: np.ndarray) -> None:
    """z[t] = TSB size level after demand t."""
    level = x[pos[0]]
    z[0] = level
    for t in range(1, k):
        level = fma(1.0 - alpha_d, level, alpha_d * x[pos[t]])
        z[t] = level


@njit(cache=True, fastmath={"contract"})
def _tsb_sse_d(x: np.ndarray, pos: np.ndarray, k: int, quad: np.ndarray,
               cross: np.ndarray, total: float, ad_c: float, ad_d: float
               ) -> tuple[float, float]:
    """One-step SSEs of TSB at two size alphas (probabilities fixed), over the demands."""
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


@njit(cache=True)
def _tsb_size_terms(k: int, nxt: np.ndarray, z: np.ndarray, sq: np.ndarray,
                    lin: np.ndarray) -> None:
    """Per segment at fixed sizes: SSE = total + sum_t P_t (sq[t] P_t S2 - lin[t] c^(L-1))."""
    for t in range(k):
        sq[t] = z[t] * z[t]
        lin[t] = 2.0 * nxt[t] * z[t]


@njit(cache=True)
def _tsb_sse_p(pos: np.ndarray, k: int, span: np.ndarray, sq: np.ndarray, lin: np.ndarray,
               total: float, ap_c: float, ap_d: float, longest: int, pw_c: np.ndarray,
               s2_c: np.ndarray, pw_d: np.ndarray, s2_d: np.ndarray) -> tuple[float, float]:
    """One-step SSEs of TSB at two probability alphas (sizes fixed), over the demands."""
    _decay_tables(1.0 - ap_c, longest, pw_c, s2_c)
    _decay_tables(1.0 - ap_d, longest, pw_d, s2_d)
    if pos[0] == 0:
        pc = pd = 1.0  # the probability on the first demand day (from 0 before it)
    else:
        pc, pd = ap_c, ap_d
    sc = 0.0
    sd = 0.0
    for t in range(k):
        span_t = span[t]
        back = max(span_t - 1, 0)  # the next demand is predicted from the day before it
        sc = fma(pc, fma(sq[t] * pc, s2_c[span_t], -lin[t] * pw_c[back]), sc)
        sd = fma(pd, fma(sq[t] * pd, s2_d[span_t], -lin[t] * pw_d[back]), sd)
        pc = fma(pc, pw_c[span_t], ap_c)
        pd = fma(pd, pw_d[span_t], ap_d)
    return total + sc, total + sd


@njit(cache=True)
def _optimise_tsb(x: np.ndarray, ad: float, ap: float, free_d: bool, free_p: bool
                  ) -> tuple[float, float]:
    """Minimise TSB's one-step SSE over [0.01, 0.5]: golden sections, one alpha at a time.

    The search of the plain version (two sweeps; each section recomputes its two interior
    points and stops below 1e-3 width) at a fraction of the cost: both points of a step
    are evaluated in one fused pass, and every pass walks the demands only (see above);
    only finding the demand days reads every day.
    """
    n = x.size
    lo, hi = 0.01, 0.5
    pos = np.empty(n, dtype=np.int64)
    k = demand_positions(x, pos)
    size = max(k, 1)
    span = np.zeros(size, dtype=np.int64)
    nxt = np.zeros(size)
    quad = np.empty(size)
    cross = np.empty(size)
    z = np.empty(size)
    sq = np.empty(size)
    lin = np.empty(size)
    total, longest = _tsb_segments(x, pos, k, span, nxt) if k > 0 else (0.0, 0)
    pw_c = np.empty(longest + 1)
    s2_c = np.empty(longest + 1)
    pw_d = np.empty(longest + 1)
    s2_d = np.empty(longest + 1)
    for _ in range(2):
        for which in range(2):
            if (which == 0 and not free_d) or (which == 1 and not free_p):
                continue
            if k > 0:
                if which == 0:
                    _decay_tables(1.0 - ap, longest, pw_c, s2_c)
                    _tsb_probability_terms(pos, k, span, nxt, ap, pw_c, s2_c, quad, cross)
                else:
                    _tsb_sizes(x, pos, k, ad, z)
                    _tsb_size_terms(k, nxt, z, sq, lin)
            a, b = lo, hi
            while b - a > 1e-3:
                c = b - 0.6180339887498949 * (b - a)
                d = a + 0.6180339887498949 * (b - a)
                if k == 0:
                    # No demand: the SSE is zero everywhere, so every comparison ties and
                    # each section walks to its upper end, as the plain search does.
                    fc = fd = 0.0
                elif which == 0:
                    fc, fd = _tsb_sse_d(x, pos, k, quad, cross, total, c, d)
                else:
                    fc, fd = _tsb_sse_p(pos, k, span, sq, lin, total, c, d, longest,
                                        pw_c, s2_c, pw_d, s2_d)
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
def bucket_sums(x: np.ndarray, k: int, sums: np.ndarray) -> int:
    """Sums of k-period buckets aligned to the series end into sums[:n // k]; returns their count.

    The oldest n % k periods are dropped (as ADIDA does), so the last bucket always ends
    with the last observation.
    """
    n_buckets = x.size // k
    skip = x.size - n_buckets * k
    for c in range(n_buckets):
        s = 0.0
        for j in range(k):
            s += x[skip + c * k + j]
        sums[c] = s
    return n_buckets


@njit(cache=True)
def fit_mapa_tsb(x: np.ndarray, state: np.ndarray, fitted: np.ndarray) -> None:
    """TSB averaged over temporal aggregation levels 1..MAPA_LEVELS (MAPA-style).

    Level k runs TSB (alphas optimised by one-step SSE) on k-period bucket sums and spreads
    its forecast evenly over the k periods; the forecast is the mean over the levels, so
    the per-period level smooths over the noise of single zero-heavy periods while the
    probability still decays through long gaps (obsolescence). Levels with fewer than
    three buckets are skipped. In-sample values average the levels' one-step bucket
    forecasts (per period) where every level has one; NaN elsewhere. `fitted` of size 0
    skips them (point forecast only).
    """
    _reset(state, fitted)
    n = x.size
    write = fitted.size == n
    sums = np.empty(n)
    sub_state = np.empty(state.size)
    sub_fit = np.empty(n) if write else np.empty(0)
    used = 0
    level = 0.0
    for k in range(1, MAPA_LEVELS + 1):
        n_buckets = bucket_sums(x, k, sums)
        if n_buckets < 3 and k > 1:
            break
        fit_tsb(sums[:n_buckets], np.nan, np.nan, sub_state, sub_fit[:n_buckets])
        level += sub_state[LEVEL] / k
        used += 1
        if write:
            skip = n - n_buckets * k
            for i in range(skip):
                fitted[i] = np.nan  # no level-k forecast for the dropped head
            for c in range(n_buckets):
                v = sub_fit[c] / k
                for j in range(k):
                    i = skip + c * k + j
                    if k == 1:
                        fitted[i] = v
                    else:
                        fitted[i] += v  # NaN stays NaN: not every level has a forecast
    state[LEVEL] = level / used
    if write and used > 1:
        for i in range(n):
            fitted[i] /= used


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

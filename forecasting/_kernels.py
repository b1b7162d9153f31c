"""Batch kernels over the flat layout (`y` float64 + `indptr` int64), parallel over series.

Tier 1 of the package: arrays in, arrays out, numba only. One dispatcher (`fit_one`)
routes a model id to its per-series kernel so every batch kernel compiles once.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from forecasting._intermittent import SBA_FACTOR, fit_adida, fit_croston, fit_mapa_tsb, fit_tsb
from forecasting._simd import LANES
from forecasting._smoothing import (
    HEAD,
    LANES_WORK,
    LEVEL,
    NONNEG,
    TREND,
    _reset,
    fit_holt_winters,
    fit_ma,
    fit_naive,
    fit_ses,
    fit_snaive,
    interleave,
    optimal_ses_lanes,
    ses_finish,
)

MODEL_NAMES = ("naive", "snaive", "ma", "ses", "holt", "holt_winters", "croston", "sba",
               "tsb", "adida", "imapa", "mapa")
MODEL_IDS = {name: i for i, name in enumerate(MODEL_NAMES)}
N_MODELS = len(MODEL_NAMES)
N_PARAMS = 3  # width of the per-model fixed-parameter row (NaN = optimise / default)


@njit(cache=True)
def fit_one(model: int, x: np.ndarray, m: int, params: np.ndarray, state: np.ndarray,
            fitted: np.ndarray) -> None:
    """Fit one model to one series: writes its state row and one-step fitted values.

    `fitted` of size 0 asks for point forecasts only: SES, Croston, SBA, TSB and MAPA-TSB
    then skip the in-sample values; the other models write into scratch.
    """
    if fitted.size != x.size and not (model == 3 or 6 <= model <= 8 or model == 11):
        fitted = np.empty(x.size)
    if model == 0:
        fit_naive(x, m, state, fitted)
    elif model == 1:
        fit_snaive(x, m, state, fitted)
    elif model == 2:
        window = 28 if np.isnan(params[0]) else int(params[0])
        fit_ma(x, m, window, state, fitted)
    elif model == 3:
        fit_ses(x, params[0], state, fitted)
    elif model == 4:
        fit_holt_winters(x, 1, params, state, fitted)
    elif model == 5:
        fit_holt_winters(x, m, params, state, fitted)
    elif model == 6 or model == 7:
        alpha = 0.1 if np.isnan(params[0]) else params[0]
        fit_croston(x, alpha, SBA_FACTOR if model == 7 else 1.0, state, fitted)
    elif model == 8:
        fit_tsb(x, params[0], params[1], state, fitted)
    elif model == 9:
        fit_adida(x, False, state, fitted)
    elif model == 10:
        fit_adida(x, True, state, fitted)
    else:
        fit_mapa_tsb(x, state, fitted)
    state[NONNEG] = nonneg_flag(x)


@njit(cache=True)
def nonneg_flag(x: np.ndarray) -> float:
    """1.0 if no value is negative (forecasts of demand are then clipped at 0), else 0.0."""
    negative = 0
    for v in x:  # a counting reduction vectorises (an early exit would not)
        negative += v < 0.0
    return 1.0 if negative == 0 else 0.0


@njit(cache=True)
def predict_one(state: np.ndarray, m: int, out: np.ndarray) -> None:
    """Point forecasts from a state row: level + k*trend + season; clipped at 0 for demand."""
    seasonal = m > 1
    for k in range(out.size):
        v = state[LEVEL] + (k + 1) * state[TREND]
        if seasonal:
            v += state[HEAD + k % m]
        if state[NONNEG] > 0.0 and v < 0.0:
            v = 0.0
        out[k] = v


@njit(cache=True, parallel=True)
def fit_batch(y: np.ndarray, indptr: np.ndarray, weights: np.ndarray, m: int,
              params: np.ndarray, state: np.ndarray, fitted: np.ndarray) -> None:
    """Fit every series to the weighted combination of models in `weights[s]`.

    One-hot rows fit a single model. A combination averages the state rows (the forecast
    is linear in them) and the fitted values, so it predicts like any single model.
    """
    for s in prange(indptr.size - 1):
        a, b = indptr[s], indptr[s + 1]
        x = y[a:b]
        fit_s = fitted[a:b] if fitted.size == y.size else fitted[:0]
        n_used = 0
        for j in range(weights.shape[1]):
            if weights[s, j] > 0.0:
                n_used += 1
        if n_used == 1:
            for j in range(weights.shape[1]):
                if weights[s, j] > 0.0:
                    fit_one(j, x, m, params[j], state[s], fit_s)
            continue
        tmp_state = np.empty(state.shape[1])
        tmp_fit = np.empty(b - a)
        state[s, :] = 0.0
        fit_s[:] = 0.0
        for j in range(weights.shape[1]):
            w = weights[s, j]
            if w > 0.0:
                fit_one(j, x, m, params[j], tmp_state, tmp_fit)
                for k in range(state.shape[1]):
                    state[s, k] += w * tmp_state[k]
                for i in range(fit_s.size):
                    fit_s[i] += w * tmp_fit[i]
        state[s, NONNEG] = tmp_state[NONNEG]


@njit(cache=True, parallel=True)
def fit_ses_batch(y: np.ndarray, indptr: np.ndarray, state: np.ndarray,
                  fitted: np.ndarray) -> None:
    """`fit_batch` for SES with optimised alpha on every series, four series per SIMD pass.

    Series of equal length go four at a time through `optimal_ses_lanes` (grouped by
    length, so ragged panels group too); each series gets exactly the alpha and level
    `fit_one` gives it alone.
    """
    n_series = indptr.size - 1
    lengths = indptr[1:] - indptr[:-1]
    order = np.argsort(lengths, kind="mergesort")
    bounds = np.empty(n_series + 1, dtype=np.int64)
    n_groups = 0
    i = 0
    while i < n_series:
        bounds[n_groups] = i
        n_groups += 1
        j = i + 1
        while j < n_series and j - i < LANES and lengths[order[j]] == lengths[order[i]]:
            j += 1
        i = j
    bounds[n_groups] = n_series
    write = fitted.size == y.size
    # Chunks of groups share their scratch (one allocation each, not one per group).
    per_chunk = 64
    for chunk in prange((n_groups + per_chunk - 1) // per_chunk):
        g_lo = chunk * per_chunk
        g_hi = min(g_lo + per_chunk, n_groups)
        # Groups run by length: the chunk's last is its longest.
        xt = np.empty(LANES * lengths[order[bounds[g_hi] - 1]])
        work = np.empty(2 * LANES + LANES_WORK)
        alpha, level, scratch = work[:LANES], work[LANES:2 * LANES], work[2 * LANES:]
        for gi in range(g_lo, g_hi):
            lo, hi = bounds[gi], bounds[gi + 1]
            n = lengths[order[lo]]
            if n > 2:
                last = hi - 1  # spare lanes repeat the last series
                s0, s1 = order[lo], order[min(lo + 1, last)]
                s2, s3 = order[min(lo + 2, last)], order[min(lo + 3, last)]
                interleave(y, (indptr[s0], indptr[s1], indptr[s2], indptr[s3]), n, xt)
                optimal_ses_lanes(xt, n, hi - lo, 0.01, 0.99, alpha, level, scratch)
            else:
                alpha[:] = 0.5  # too short to optimise (as fit_ses)
                level[:] = np.nan
            for t in range(lo, hi):
                s = order[t]
                a, b = indptr[s], indptr[s + 1]
                x = y[a:b]
                fit_s = fitted[a:b] if write else fitted[:0]
                _reset(state[s], fit_s)
                ses_finish(x, alpha[t - lo], level[t - lo], state[s], fit_s)
                state[s, NONNEG] = nonneg_flag(x)


@njit(cache=True, parallel=True)
def predict_batch(state: np.ndarray, m: int, h: int) -> np.ndarray:
    """Point forecasts (n_series, h) from fitted states."""
    out = np.empty((state.shape[0], h))
    for s in prange(state.shape[0]):
        predict_one(state[s], m, out[s])
    return out


@njit(cache=True)
def _window_error(x: np.ndarray, model: int, m: int, params: np.ndarray, h: int,
                  n_windows: int, min_train: int, squared: bool, state: np.ndarray,
                  fitted: np.ndarray, pred: np.ndarray) -> float:
    """Rolling-origin error of one model: sum over windows of h-step errors (squared or abs)."""
    n = x.size
    err = 0.0
    used = 0
    # Models with a point-only path skip the in-sample values (only the forecast is scored).
    point_only = model == 3 or 6 <= model <= 8 or model == 11
    for w in range(n_windows, 0, -1):
        origin = n - w * h
        if origin < min_train:
            continue
        fit_one(model, x[:origin], m, params, state, fitted[:0] if point_only else fitted[:origin])
        predict_one(state, m, pred)
        for k in range(h):
            e = x[origin + k] - pred[k]
            err += e * e if squared else abs(e)
        used += 1
    return err / used if used > 0 else np.inf


@njit(cache=True)
def cv_windows(n: int, h: int, n_windows: int, min_train: int) -> int:
    """Number of rolling-origin windows of h steps a series of length n affords."""
    used = 0
    for w in range(1, n_windows + 1):
        if n - w * h >= min_train:
            used += 1
    return used


@njit(cache=True, parallel=True)
def select_batch(y: np.ndarray, indptr: np.ndarray, candidates: np.ndarray,
                 classes: np.ndarray, prior: np.ndarray, prior_tol: np.ndarray, m: int,
                 params: np.ndarray, h: int, n_windows: int, min_windows: int, squared: bool,
                 tol: float) -> np.ndarray:
    """Combination weights (n_series, n_models) from rolling-origin cross-validation.

    `candidates[c, j]` says whether model j competes for series of demand class c, and
    `prior[c]` is the class's default model. A series with fewer than `min_windows` CV
    windows keeps the prior: one or two h-step windows of zero-heavy demand rank models
    by noise. Otherwise the prior is kept while its CV error is within `prior_tol[c]` x
    the best (shrinkage toward the default: another model must win clearly), and else
    every candidate within `tol` x the best gets an equal weight (tol = 1 keeps only the
    best). Squared errors rank like RMSSE, absolute errors like MASE (the scale is per
    series, so it cancels); tolerances are on that metric's scale.
    """
    n_series = indptr.size - 1
    n_models = candidates.shape[1]
    weights = np.zeros((n_series, n_models))
    width = state_width(m)
    min_train = max(2 * m + 2, 8)
    for s in prange(n_series):
        a, b = indptr[s], indptr[s + 1]
        x = y[a:b]
        c = classes[s]
        p = prior[c]
        if cv_windows(b - a, h, n_windows, min_train) < max(min_windows, 1):
            weights[s, p] = 1.0  # too little history to rank models: the class default
            continue
        state = np.empty(width)
        fitted = np.empty(b - a)
        pred = np.empty(h)
        errors = np.full(n_models, np.inf)
        best_e = np.inf
        for j in range(n_models):
            if not candidates[c, j]:
                continue
            e = _window_error(x, j, m, params[j], h, n_windows, min_train, squared,
                              state, fitted, pred)
            errors[j] = e
            best_e = min(best_e, e)
        if not np.isfinite(best_e):
            weights[s, p] = 1.0
            continue
        # Squared errors compare as RMSSE^2: square the tolerances so they mean the same.
        keep = best_e * (prior_tol[c] * prior_tol[c] if squared else prior_tol[c])
        if candidates[c, p] and errors[p] <= keep:
            weights[s, p] = 1.0
            continue
        limit = best_e * (tol * tol if squared else tol)
        n_used = 0
        for j in range(n_models):
            if errors[j] <= limit:
                n_used += 1
        for j in range(n_models):
            if errors[j] <= limit:
                weights[s, j] = 1.0 / n_used
    return weights


@njit(cache=True)
def state_width(m: int) -> int:
    """Columns of the state row for season length m."""
    return HEAD + max(m, 1)

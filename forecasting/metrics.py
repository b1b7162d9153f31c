"""Scaled forecast errors: MASE and RMSSE per series (M5 conventions)."""

from __future__ import annotations

import numpy as np


def _scales(y_train: np.ndarray, indptr: np.ndarray, seasonality: int) -> tuple[np.ndarray,
                                                                                np.ndarray]:
    """In-sample naive MAE and MSE per series, from the first non-zero value as M5 does."""
    n = indptr.size - 1
    mae = np.empty(n)
    mse = np.empty(n)
    for s in range(n):
        x = y_train[indptr[s]:indptr[s + 1]]
        nz = np.flatnonzero(x != 0)
        x = x[nz[0]:] if nz.size else x
        d = x[seasonality:] - x[:-seasonality] if x.size > seasonality else np.zeros(1)
        mae[s] = np.mean(np.abs(d))
        mse[s] = np.mean(d * d)
    return mae, mse


def mase_rmsse(y_train: np.ndarray, indptr: np.ndarray, actual: np.ndarray, pred: np.ndarray,
               seasonality: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Per-series MASE and RMSSE of `pred` vs `actual` (both (n_series, h))."""
    mae, mse = _scales(np.asarray(y_train, dtype=np.float64), np.asarray(indptr), seasonality)
    err = np.asarray(actual, dtype=np.float64) - np.asarray(pred, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mase = np.mean(np.abs(err), axis=1) / mae
        rmsse = np.sqrt(np.mean(err * err, axis=1) / mse)
    return mase, rmsse


def interval_coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of actuals inside [lower, upper] (inclusive: quantiles of counts are integers)."""
    actual = np.asarray(actual)
    return float(np.mean((actual >= lower) & (actual <= upper)))


def scaled_pinball(y_train: np.ndarray, indptr: np.ndarray, actual: np.ndarray,
                   quantiles: np.ndarray, levels: tuple[float, ...] | np.ndarray,
                   seasonality: int = 1) -> np.ndarray:
    """Per-series pinball loss averaged over steps and levels, scaled like MASE (M5 SPL)."""
    mae, _ = _scales(np.asarray(y_train, dtype=np.float64), np.asarray(indptr), seasonality)
    act = np.asarray(actual, dtype=np.float64)[:, :, None]
    q = np.asarray(quantiles, dtype=np.float64)
    tau = np.asarray(levels, dtype=np.float64)[None, None, :]
    diff = act - q
    loss = np.maximum(tau * diff, (tau - 1.0) * diff)
    with np.errstate(divide="ignore", invalid="ignore"):
        return loss.mean(axis=(1, 2)) / mae

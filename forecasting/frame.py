"""The pandas edge: `forecast(df, h, freq, ...)` on long format (`unique_id, ds, y`)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from forecasting.core import (
    DEFAULT_COMBINE_TOL,
    DEFAULT_QUANTILES,
    DEFAULT_WINDOWS,
    check_horizon,
    check_levels,
    forecast_arrays,
    model_id,
)

REQUIRED_COLUMNS = ("unique_id", "ds", "y")
# Series per chunk when a progress bar is shown: small enough to move, big enough for prange.
_CHUNK = 2000
_SEASON_BY_FREQ = {"D": 7, "B": 5, "h": 24, "H": 24, "W": 52, "M": 12, "ME": 12, "MS": 12,
                   "Q": 4, "QE": 4, "QS": 4}


def season_length_for(freq: str | int) -> int:
    """Season length implied by a frequency: weekly for days, yearly for weeks/months."""
    if isinstance(freq, int):
        return 1
    base = pd.tseries.frequencies.to_offset(freq).name.split("-")[0]
    return _SEASON_BY_FREQ.get(base, 1)


def quantile_column(level: float) -> str:
    """Output column name of a quantile level, e.g. 0.9 -> 'q0.9'."""
    return f"q{level:g}"


def _ds_key(ds: pd.Series) -> np.ndarray:
    """Orderable int64/float view of ds without copying datetimes (nanoseconds or numbers)."""
    if pd.api.types.is_datetime64_any_dtype(ds):
        return np.asarray(ds.array.asi8)  # tz-aware too: UTC instants order the same way
    if pd.api.types.is_numeric_dtype(ds):
        return ds.to_numpy()
    return pd.to_numeric(ds, errors="raise").to_numpy()


def _grouped_runs(ids: np.ndarray, ds_key: np.ndarray) -> np.ndarray | None:
    """Run starts if rows come grouped by series and in date order, else None.

    One vectorised pass over adjacent ids (no hashing of every row, unlike factorize):
    the common case of already-grouped input costs about a third of `pd.factorize`.
    """
    change = np.asarray(ids[1:] != ids[:-1], dtype=np.bool_)
    step_ok = np.diff(ds_key) > 0
    if not np.all(step_ok | change):
        return None  # dates out of order (or duplicated) inside a run: the general path
    starts = np.flatnonzero(np.r_[True, change])
    heads = ids[starts]
    if pd.unique(heads).size != heads.size:
        return None  # a series appears in two runs: not grouped
    return starts


def _flat_grouped(y: np.ndarray, ds: pd.Series, ds_key: np.ndarray, ids: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.Series] | None:
    """`to_flat` for rows already grouped by series and in date order, else None.

    Only the series order may need fixing: that permutes whole runs (one gather of y).
    """
    starts = _grouped_runs(ids, ds_key)
    if starts is None:
        return None
    ends = np.r_[starts[1:], y.size]
    heads = ids[starts]
    try:
        order = np.argsort(heads, kind="stable")
    except TypeError:  # ids of mixed types: let factorize define the order
        return None
    if np.any(order != np.arange(order.size)):
        lengths = (ends - starts)[order]
        new_starts = np.r_[0, np.cumsum(lengths)[:-1]]
        rows = np.repeat(starts[order] - new_starts, lengths) + np.arange(y.size)
        y, starts, ends, heads = y[rows], new_starts, ends[order], heads[order]
    indptr = np.r_[starts, y.size].astype(np.int64)
    last_ds = ds.iloc[ends - 1].reset_index(drop=True)
    return y, indptr, np.asarray(heads, dtype=object), last_ds


def to_flat(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.Series]:
    """Long frame -> (y, indptr, ids, last ds per series), ordered by unique_id then ds."""
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"expected columns {list(REQUIRED_COLUMNS)}, missing {missing}")
    if df.empty:
        raise ValueError("expected at least one row, got an empty frame")
    y = pd.to_numeric(df["y"], errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(y).all():
        bad = int(np.count_nonzero(~np.isfinite(y)))
        raise ValueError(f"expected numeric, finite y, got {bad} missing or non-numeric values")
    ds = df["ds"]
    ds_key = _ds_key(ds)
    fast = _flat_grouped(y, ds, ds_key, df["unique_id"].to_numpy())
    if fast is not None:
        return fast
    # Integer codes instead of string compares: sorting only the unique ids is cheap.
    codes, uniques = pd.factorize(df["unique_id"], sort=True)
    order = np.lexsort((ds_key, codes))
    codes, ds_key, y = codes[order], ds_key[order], y[order]
    ds = ds.iloc[order]
    step = np.diff(ds_key)
    same = codes[1:] == codes[:-1]
    if np.any(same & (step == 0)):
        dup = uniques[codes[1:][same & (step == 0)][0]]
        raise ValueError(f"expected one row per (unique_id, ds), series {dup!r} has duplicates")
    starts = np.flatnonzero(np.r_[True, ~same])
    indptr = np.r_[starts, codes.size].astype(np.int64)
    last_ds = ds.iloc[indptr[1:] - 1].reset_index(drop=True)
    return y, indptr, np.asarray(uniques, dtype=object), last_ds


def _future_ds(last_ds: pd.Series, h: int, freq: str | int) -> np.ndarray:
    """(n_series * h) future timestamps: last ds + 1..h steps of freq."""
    steps = np.arange(1, h + 1)
    if pd.api.types.is_numeric_dtype(last_ds):
        step = int(freq) if isinstance(freq, int) else 1
        return (last_ds.to_numpy()[:, None] + step * steps[None, :]).reshape(-1)
    offset = pd.tseries.frequencies.to_offset(freq)
    last = pd.DatetimeIndex(last_ds.to_numpy() if pd.api.types.is_datetime64_any_dtype(last_ds)
                            else pd.to_datetime(last_ds))
    if isinstance(offset, pd.offsets.Tick) and last.tz is None:
        # Fixed-length steps (days, hours, ...): plain datetime64 arithmetic, no per-step loop.
        delta = np.timedelta64(offset.nanos, "ns")  # numpy promotes coarser units to ns
        return (last.to_numpy()[:, None] + steps[None, :] * delta).reshape(-1)
    cols = [last + k * offset for k in steps]
    return np.stack([c.to_numpy() for c in cols], axis=1).reshape(-1)


def forecast(df: pd.DataFrame, h: int, freq: str | int = "D",
             models: str | Sequence[str] = "auto",
             quantiles: Sequence[float] = DEFAULT_QUANTILES, *,
             season_length: int | None = None, progress: bool = False,
             params: Mapping[str, Sequence[float]] | None = None,
             n_windows: int = DEFAULT_WINDOWS, metric: str = "rmsse",
             combine_tol: float = DEFAULT_COMBINE_TOL) -> pd.DataFrame:
    """Forecast long-format demand: columns unique_id, ds, model, mean, q<level>..."""
    h = check_horizon(h)
    levels = check_levels(quantiles)
    for name in [models] if isinstance(models, str) else list(models):
        if name != "auto":
            model_id(name)
    m = season_length_for(freq) if season_length is None else int(season_length)
    y, indptr, ids, last_ds = to_flat(df)
    n_series = ids.size
    bar = None
    if progress and n_series > _CHUNK:
        from tqdm import tqdm  # only when asked: the library stays quiet by default

        bar = tqdm(total=n_series, unit="series", desc="forecast")
        bounds = [*range(0, n_series, _CHUNK), n_series]
    else:
        bounds = [0, n_series]  # one batch: no per-chunk copies or Python overhead
    parts = []
    for lo, hi in itertools.pairwise(bounds):
        a, b = indptr[lo], indptr[hi]
        parts.append(forecast_arrays(y[a:b], indptr[lo:hi + 1] - a, h, models, levels,
                                     season_length=m, params=params, n_windows=n_windows,
                                     metric=metric, combine_tol=combine_tol))
        if bar is not None:
            bar.update(hi - lo)
    if bar is not None:
        bar.close()
    mean = np.concatenate([r.mean for r in parts]) if len(parts) > 1 else parts[0].mean
    qs = np.concatenate([r.quantiles for r in parts]) if len(parts) > 1 else parts[0].quantiles
    chosen = np.concatenate([np.asarray(r.models, dtype=object) for r in parts])
    out = pd.DataFrame({
        "unique_id": np.repeat(ids, h),
        "ds": _future_ds(last_ds, h, freq),
        "model": np.repeat(chosen, h),
        "mean": mean.reshape(-1),
    })
    for j, level in enumerate(levels):
        out[quantile_column(level)] = qs[:, :, j].reshape(-1)
    return out

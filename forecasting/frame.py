"""The pandas edge: `forecast(df, h, freq, ...)` on long format (`unique_id, ds, y`)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from forecasting._edge import (
    STR_LAYOUT,
    count_nonfinite,
    pointers,
    rising_at,
    scan_change,
    scan_runs,
    scan_str_runs,
)
from forecasting.core import (
    DEFAULT_COMBINE_TOL,
    DEFAULT_QUANTILES,
    DEFAULT_WINDOWS,
    check_horizon,
    check_levels,
    forecast_flat,
    model_id,
)

REQUIRED_COLUMNS = ("unique_id", "ds", "y")
_INT_KEYS = (np.dtype(np.int64), np.dtype(np.int32), np.dtype(np.int16), np.dtype(np.int8))
# Series per chunk when a progress bar is shown: small enough to move, big enough for prange.
_CHUNK = 2000
_SEASON_BY_FREQ = {"D": 7, "B": 5, "h": 24, "H": 24, "W": 52, "M": 12, "ME": 12, "MS": 12,
                   "Q": 4, "QE": 4, "QS": 4}


# Period-end aliases pandas 2.2 renamed (and deprecates): "M" -> "ME", "Q" -> "QE", ...
_RENAMED_ALIASES = {"M": "ME", "Q": "QE", "Y": "YE", "A": "YE", "BM": "BME", "BQ": "BQE",
                    "BY": "BYE", "BA": "BYE"}
_ALIAS = re.compile(r"^(\d*)([A-Za-z]+)(-.*)?$")


def to_offset(freq: str) -> pd.DateOffset:
    """pandas offset of a frequency string; "M", "Q", "Y" work on pandas 2.1 and 2.2+ alike."""
    match = _ALIAS.match(freq)
    if match and match.group(2) in _RENAMED_ALIASES:
        modern = f"{match.group(1)}{_RENAMED_ALIASES[match.group(2)]}{match.group(3) or ''}"
        try:
            return pd.tseries.frequencies.to_offset(modern)
        except ValueError:  # pandas < 2.2 knows only the old alias
            pass
    return pd.tseries.frequencies.to_offset(freq)


def season_length_for(freq: str | int) -> int:
    """Season length implied by a frequency: weekly for days, yearly for weeks/months."""
    if isinstance(freq, int):
        return 1
    base = to_offset(freq).name.split("-")[0]
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


def _object_change(a: np.ndarray) -> np.ndarray:
    """Exact `a[1:] != a[:-1]` for an object array, comparing contents only where needed.

    Rows of one series usually hold the very same str object (read_csv, read_parquet and
    categoricals all share one object per distinct id), and the same object is the same id:
    comparing pointers (int64) settles those rows; contents are compared only where the
    pointers differ. Missing ids (NaN != NaN) are rejected by the caller from the run heads.
    """
    a = np.ascontiguousarray(a)
    ptr = pointers(a)
    if a.size < 2 or ptr is None:
        return np.asarray(a[1:] != a[:-1], dtype=np.bool_)
    moved = ptr[1:] != ptr[:-1]
    if np.count_nonzero(moved) > a.size // 4:
        return np.asarray(a[1:] != a[:-1], dtype=np.bool_)  # one object per row: compare all
    cand = np.flatnonzero(moved)
    change = np.zeros(a.size - 1, dtype=np.bool_)
    change[cand[np.asarray(a[cand + 1] != a[cand], dtype=np.bool_)]] = True
    return change


def _arrow_chunked(arr: object) -> object | None:
    """The pyarrow ChunkedArray behind a pyarrow-backed pandas array, else None."""
    if not hasattr(arr, "__arrow_array__") or isinstance(arr, pd.Categorical):
        return None
    dtype = getattr(arr, "dtype", None)
    if not (isinstance(dtype, pd.ArrowDtype)
            or (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow")):
        return None
    import pyarrow as pa

    out = pa.array(arr)  # zero copy through the __arrow_array__ protocol
    return out if isinstance(out, pa.ChunkedArray) else pa.chunked_array([out])


class _Ids:
    """The unique_id column: adjacent-change mask, run heads and codes without row hashing.

    `values` is the column's own array (object ndarray, Categorical, pyarrow-backed, numeric)
    so the output keeps the input dtype.
    """

    def __init__(self, col: pd.Series) -> None:
        arr = col.array
        # Plain numpy columns as ndarrays; extension arrays (strings too) as themselves.
        self.values = col.to_numpy() if type(arr) is pd.arrays.NumpyExtensionArray else arr
        self.dtype = col.dtype

    def keys(self) -> tuple[np.ndarray | None, bool]:
        """(integer keys, exact): keys equal on adjacent rows of one id, None if none cheap.

        Categorical codes and integer ids are exact (a key change is an id change); object
        pointers are not (equal ids may be distinct objects): their changes are candidates
        whose contents the caller compares.
        """
        v = self.values
        if isinstance(v, pd.Categorical):
            return np.ascontiguousarray(v.codes), True
        if isinstance(v, np.ndarray):
            if v.dtype in _INT_KEYS:
                return np.ascontiguousarray(v), True
            if v.dtype == object:
                return pointers(v), False
        return None, False

    def change(self) -> np.ndarray | None:
        """`ids[1:] != ids[:-1]` (bool), or None when ids cannot be compared cheaply."""
        v = self.values
        if isinstance(v, pd.Categorical):
            codes = v.codes
            return codes[1:] != codes[:-1]
        chunked = _arrow_chunked(v)
        if chunked is not None:
            import pyarrow.compute as pc

            flat = chunked.combine_chunks() if chunked.num_chunks != 1 else chunked.chunk(0)
            n = len(flat)
            ne = pc.not_equal(flat.slice(1), flat.slice(0, n - 1)).fill_null(True)
            return ne.to_numpy(zero_copy_only=False)
        a = np.asarray(v)
        try:
            if a.dtype == object:
                return _object_change(a)
            return np.asarray(a[1:] != a[:-1], dtype=np.bool_)
        except TypeError:  # e.g. pd.NA among object ids: let factorize sort it out
            return None

    def take(self, rows: np.ndarray) -> object:
        """Ids at the given rows, in the input's array type."""
        v = self.values
        return v[rows] if isinstance(v, np.ndarray) else v.take(rows)

    def value_order(self, heads: object) -> np.ndarray | None:
        """Stable order of `heads` by id value (categoricals too), None if unorderable."""
        try:
            if isinstance(heads, pd.Categorical):
                if heads.categories.is_monotonic_increasing:  # codes rank like values
                    return np.argsort(heads.codes, kind="stable")
                return np.argsort(np.asarray(heads.categories)[heads.codes], kind="stable")
            if isinstance(heads, np.ndarray):
                return np.argsort(heads, kind="stable")
            return np.asarray(heads.argsort(kind="stable"))
        except TypeError:  # ids of mixed types: let factorize define the order
            return None

    def factorize(self) -> tuple[np.ndarray, object]:
        """(codes in id-value order, uniques in that order); codes -1 for missing ids."""
        v = self.values
        if isinstance(v, pd.Categorical):
            cats = v.categories
            by_value = np.argsort(np.asarray(cats), kind="stable")
            rank = np.empty(cats.size, dtype=np.int64)
            rank[by_value] = np.arange(cats.size)
            codes = np.where(v.codes < 0, -1, rank[np.maximum(v.codes, 0)])
            used = np.unique(codes[codes >= 0])
            dense = np.full(cats.size, -1, dtype=np.int64)
            dense[used] = np.arange(used.size)
            codes = np.where(codes < 0, -1, dense[np.maximum(codes, 0)])
            uniques = pd.Categorical.from_codes(by_value[used], dtype=v.dtype)
            return codes, uniques
        codes, uniques = pd.factorize(v, sort=True)
        return codes, uniques


def _check_heads(heads: object) -> None:
    missing = np.asarray(pd.isna(heads), dtype=np.bool_)
    if missing.any():
        raise ValueError(f"expected a unique_id on every row, got {int(missing.sum())} "
                         "series with a missing unique_id")


def _run_starts(ds_key: np.ndarray, ids: _Ids, y: np.ndarray
                ) -> tuple[np.ndarray | None, int]:
    """(run starts, non-finite y count) for rows grouped by series in date order.

    Starts are None where rows are not grouped in date order (the general path sorts
    them); the count is -1 where no pass counted it. One numba pass reads the integer keys
    (categorical codes, integer ids, object pointers with str contents), the dates and y.
    Other id types go through an exact change mask.
    """
    if ds_key.dtype != np.int64:
        change = ids.change()
        if change is None or not np.all((ds_key[1:] > ds_key[:-1]) | change):
            return None, -1
        return np.r_[0, np.flatnonzero(change) + 1].astype(np.int64), -1
    keys, exact = ids.keys()
    if keys is None:
        change = ids.change()
        if change is None:
            return None, -1
        starts, ordered, bad = scan_change(np.ascontiguousarray(change), ds_key, y)
        return (starts if ordered else None), bad
    # A quarter of the rows as runs is plenty for grouped series; past that the keys move
    # on (nearly) every row (one object per row without the str reader) and the change
    # mask below decides.
    buf = np.empty(keys.size // 4 + 2, dtype=np.int64)
    if not exact and STR_LAYOUT is not None:
        count, ordered, bad = scan_str_runs(keys, ds_key, y, *STR_LAYOUT, buf)
        if count >= 0:
            return (buf[:count].copy() if ordered else None), bad
        if count == -1:
            return _runs_from_change(ds_key, ids, y)
    count, ordered, bad = scan_runs(keys, ds_key, y, buf)
    if count < 0:
        return _runs_from_change(ds_key, ids, y)
    if not ordered:
        return None, bad  # dates out of order (or duplicated) inside a run
    starts = buf[:count]
    if exact:
        return starts.copy(), bad
    # Object ids without the str reader: pointer changes are candidates, contents decide.
    cand = starts[1:]
    a = np.asarray(ids.values)
    try:
        moved = np.asarray(a[cand] != a[cand - 1], dtype=np.bool_)
    except TypeError:  # e.g. pd.NA among object ids: let factorize sort it out
        return None, bad
    # Equal ids in distinct objects: one run, so the dates must rise there too.
    if not rising_at(ds_key, np.ascontiguousarray(cand[~moved])):
        return None, bad
    return np.r_[0, cand[moved]].astype(np.int64), bad


def _runs_from_change(ds_key: np.ndarray, ids: _Ids, y: np.ndarray
                      ) -> tuple[np.ndarray | None, int]:
    """`_run_starts` from an exact change mask of the ids (compared in Python)."""
    change = ids.change()
    if change is None:
        return None, -1
    starts, ordered, bad = scan_change(np.ascontiguousarray(change), ds_key, y)
    return (starts if ordered else None), bad


def _flat_grouped(y: np.ndarray, ds: pd.Series, ids: _Ids, starts: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, object, pd.Series] | None:
    """`to_flat` for rows already grouped by series and in date order, else None.

    `starts` come from one pass over adjacent ids (`_run_starts`: pointers, codes or arrow
    compares; no hashing of every row, unlike factorize). Only the series order may need
    fixing: that permutes whole runs (one gather of y).
    """
    heads = ids.take(starts)
    _check_heads(heads)
    order = ids.value_order(heads)
    if order is None:
        return None
    ends = np.r_[starts[1:], y.size]
    if np.any(order != np.arange(order.size)):
        heads = heads[order] if isinstance(heads, np.ndarray) else heads.take(order)
        lengths = (ends - starts)[order]
        new_starts = np.r_[0, np.cumsum(lengths)[:-1]]
        rows = np.repeat(starts[order] - new_starts, lengths) + np.arange(y.size)
        y, starts, ends = y[rows], new_starts, ends[order]
        # Equal neighbours once sorted: a series appears in two runs (not grouped). Codes
        # stand for categories one to one. (Runs already in order are neighbours, and
        # neighbouring runs differ by construction.)
        sorted_heads = heads.codes if isinstance(heads, pd.Categorical) else np.asarray(heads)
        if np.any(np.asarray(sorted_heads[1:] == sorted_heads[:-1], dtype=np.bool_)):
            return None
    indptr = np.r_[starts, y.size].astype(np.int64)
    last_ds = pd.Series(ds.array.take(ends - 1))
    return y, indptr, heads, last_ds


def to_flat(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, object, pd.Series]:
    """Long frame -> (y, indptr, ids, last ds per series), ordered by unique_id then ds.

    `ids` keeps the input column's array type (object ndarray, Categorical, pyarrow, ...).
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"expected columns {list(REQUIRED_COLUMNS)}, missing {missing}")
    if df.empty:
        raise ValueError("expected at least one row, got an empty frame")
    y = np.ascontiguousarray(pd.to_numeric(df["y"], errors="coerce").to_numpy(dtype=np.float64))
    ds = df["ds"]
    ids = _Ids(df["unique_id"])
    ds_key, starts, bad = None, None, -1
    if pd.api.types.is_datetime64_any_dtype(ds) or pd.api.types.is_numeric_dtype(ds):
        # Dates as a view: finding the runs counts the bad y in the same pass.
        ds_key = np.ascontiguousarray(_ds_key(ds))
        starts, bad = _run_starts(ds_key, ids, y)
    if bad < 0:
        bad = count_nonfinite(y)
    if bad:
        raise ValueError(f"expected numeric, finite y, got {bad} missing or non-numeric values")
    if ds_key is None:
        ds_key = np.ascontiguousarray(_ds_key(ds))  # other ds are parsed after the y check
        starts, _ = _run_starts(ds_key, ids, y)
    fast = None if starts is None else _flat_grouped(y, ds, ids, starts)
    if fast is not None:
        return fast
    # Integer codes instead of string compares: sorting only the unique ids is cheap.
    codes, uniques = ids.factorize()
    if np.any(codes < 0):
        raise ValueError(f"expected a unique_id on every row, got "
                         f"{int(np.count_nonzero(codes < 0))} rows without one")
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
    return y, indptr, uniques, last_ds


def _future_ds(last_ds: pd.Series, h: int, freq: str | int) -> np.ndarray:
    """(n_series * h) future timestamps: last ds + 1..h steps of freq."""
    steps = np.arange(1, h + 1)
    if pd.api.types.is_numeric_dtype(last_ds):
        step = int(freq) if isinstance(freq, int) else 1
        return (last_ds.to_numpy()[:, None] + step * steps[None, :]).reshape(-1)
    offset = to_offset(freq)
    last = pd.DatetimeIndex(last_ds.to_numpy() if pd.api.types.is_datetime64_any_dtype(last_ds)
                            else pd.to_datetime(last_ds))
    if isinstance(offset, pd.offsets.Tick) and last.tz is None:
        # Fixed-length steps (days, hours, ...): plain datetime64 arithmetic, no per-step loop.
        delta = np.timedelta64(offset.nanos, "ns")  # numpy promotes coarser units to ns
        return (last.to_numpy()[:, None] + steps[None, :] * delta).reshape(-1)
    cols = [last + k * offset for k in steps]
    return np.stack([c.to_numpy() for c in cols], axis=1).reshape(-1)


def _each_h_times(values: np.ndarray, h: int) -> np.ndarray:
    """np.repeat(values, h) as one broadcast assignment (faster for object arrays)."""
    out = np.empty(values.size * h, dtype=values.dtype)
    out.reshape(values.size, h)[:] = values[:, None]
    return out


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
        # to_flat checked the layout (contiguous, finite, non-empty runs): no second pass.
        parts.append(forecast_flat(y[a:b], indptr[lo:hi + 1] - a, h, models, levels,
                                   season_length=m, params=params, n_windows=n_windows,
                                   metric=metric, combine_tol=combine_tol))
        if bar is not None:
            bar.update(hi - lo)
    if bar is not None:
        bar.close()
    mean = np.concatenate([r.mean for r in parts]) if len(parts) > 1 else parts[0].mean
    qs = np.concatenate([r.quantiles for r in parts]) if len(parts) > 1 else parts[0].quantiles
    # Model per row: distinct names gathered by code, no per-series Python strings.
    model_col = np.concatenate([_each_h_times(names[codes], h)
                                for names, codes in (r.fit.model_codes() for r in parts)])
    # Same id dtype as the input (a Categorical stays one), one repeat per column.
    uid = (_each_h_times(ids, h) if isinstance(ids, np.ndarray)
           else ids.take(np.repeat(np.arange(n_series), h)))
    columns = {
        "unique_id": uid,
        "ds": _future_ds(last_ds, h, freq),
        "model": model_col,
        "mean": mean.reshape(-1),
    }
    for j, level in enumerate(levels):
        columns[quantile_column(level)] = qs[:, :, j].reshape(-1)
    # copy=False also skips consolidating same-dtype columns into one block (a copy each).
    return pd.DataFrame(columns, copy=False)

"""Forecasting speed against statsforecast on the same intermittent daily series, one core.

pytest-benchmark: `pytest tests/benchmarks/test_bench_forecasting.py --benchmark-only`.
One-run ratio table and cold-start times: `python tests/benchmarks/test_bench_forecasting.py`.
Compile time is excluded from the timed calls (kernels are warmed first) and reported apart.

One run (5,000 series x 365 days, h=28, NUMBA_NUM_THREADS=1, statsforecast n_jobs=1),
series per second; ratio = ours / statsforecast:

    model     ours frame  ours arrays  statsforecast  frame  arrays
    croston      116,606      711,503         19,382   6.0x   36.7x
    sba          122,376      696,102         20,436   6.0x   34.1x
    tsb          117,313      559,024         23,562   5.0x   23.7x
    ses           81,117      174,101         14,384   5.6x   12.1x
    auto             607          605       19 (500)  32.6x   32.5x  vs CrostonOptimized+AutoETS

Frame-to-frame is bounded by the pandas edge: comparing 1.8M adjacent object-string ids
alone takes ~18 ms (statsforecast hashes them: ~110 ms). Cold start (import + warmup()):
20.2 s with an empty numba cache, 0.73 s warm.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # one core, before numba is imported

import numba
import numpy as np
import pandas as pd
import pytest

from forecasting import forecast, warmup

N_SERIES = int(os.environ.get("BENCH_SERIES", "5000"))
N_DAYS = 365
H = 28
# AutoETS costs ~10-50 ms a series: the auto comparison runs statsforecast on a slice.
N_SERIES_AUTO_SF = int(os.environ.get("BENCH_SERIES_AUTO_SF", "500"))
REPO = Path(__file__).resolve().parents[2]


def intermittent_panel(n_series: int = N_SERIES, n_days: int = N_DAYS,
                       seed: int = 42) -> pd.DataFrame:
    """Long frame of intermittent daily unit sales (Bernoulli occurrence x NB sizes)."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.6, n_series)[:, None]
    size_mean = rng.uniform(1.0, 6.0, n_series)[:, None]
    occurs = rng.random((n_series, n_days)) < p
    sizes = 1 + rng.negative_binomial(2, 2 / (2 + size_mean - 1), (n_series, n_days))
    y = (occurs * sizes).astype(np.float64)
    return pd.DataFrame({
        "unique_id": np.repeat([f"s{i:05d}" for i in range(n_series)], n_days),
        "ds": np.tile(pd.date_range("2023-01-01", periods=n_days, freq="D").to_numpy(),
                      n_series),
        "y": y.reshape(-1),
    })


def _statsforecast_models() -> dict[str, list]:
    from statsforecast.models import (
        TSB,
        AutoETS,
        CrostonClassic,
        CrostonOptimized,
        CrostonSBA,
        SimpleExponentialSmoothingOptimized,
    )

    return {"croston": [CrostonClassic()], "sba": [CrostonSBA()],
            "tsb": [TSB(alpha_d=0.2, alpha_p=0.1)], "ses": [SimpleExponentialSmoothingOptimized()],
            "auto": [CrostonOptimized(), AutoETS(season_length=7)]}


OUR_PARAMS = {"tsb": {"tsb": (0.2, 0.1)}}  # statsforecast's TSB has fixed alphas


def ours(df: pd.DataFrame, model: str) -> pd.DataFrame:
    """Our end-to-end long frame -> long frame, point forecasts only (like statsforecast)."""
    return forecast(df, H, "D", model, quantiles=(), params=OUR_PARAMS.get(model))


def theirs(df: pd.DataFrame, model: str) -> pd.DataFrame:
    """statsforecast end to end, one process (n_jobs=1)."""
    from statsforecast import StatsForecast

    sf = StatsForecast(models=_statsforecast_models()[model], freq="D", n_jobs=1)
    return sf.forecast(df=df, h=H)


def _time(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def cold_start_seconds(cache_dir: str) -> float:
    """Seconds for `import forecasting; warmup()` in a fresh process with NUMBA_CACHE_DIR."""
    code = "import time;t=time.perf_counter();import forecasting;forecasting.warmup();" \
           "print(time.perf_counter()-t)"
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir, "NUMBA_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, check=True,
                         capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    numba.set_num_threads(1)
    warmup()
    return intermittent_panel()


@pytest.mark.parametrize("model", ["croston", "sba", "tsb", "ses", "auto"])
def test_bench_ours(benchmark, panel: pd.DataFrame, model: str) -> None:
    ours(panel.head(200 * N_DAYS), model)  # compile/warm outside the timing
    benchmark.extra_info["series"] = N_SERIES
    benchmark.pedantic(ours, args=(panel, model), rounds=3, iterations=1)


@pytest.mark.parametrize("model", ["croston", "sba", "tsb", "ses"])
def test_bench_statsforecast(benchmark, panel: pd.DataFrame, model: str) -> None:
    theirs(panel.head(20 * N_DAYS), model)  # its first call pays one-off set-up: not timed
    benchmark.extra_info["series"] = N_SERIES
    benchmark.pedantic(theirs, args=(panel, model), rounds=1, iterations=1)


def test_bench_statsforecast_auto(benchmark, panel: pd.DataFrame) -> None:
    part = panel.head(N_SERIES_AUTO_SF * N_DAYS)
    benchmark.extra_info["series"] = N_SERIES_AUTO_SF
    benchmark.pedantic(theirs, args=(part, "auto"), rounds=1, iterations=1)


def main() -> None:
    """Measure everything once and print series/s and ratios (ours / statsforecast)."""
    numba.set_num_threads(1)
    with tempfile.TemporaryDirectory() as cache:
        cold = cold_start_seconds(cache)
        warm = cold_start_seconds(cache)
    print(f"import + warmup(): empty numba cache {cold:.1f} s, warm cache {warm:.2f} s")
    warmup()
    df = intermittent_panel()
    print(f"{N_SERIES} intermittent daily series x {N_DAYS} days, h={H}, one core")
    from forecasting.core import forecast_arrays
    from forecasting.frame import to_flat

    y, indptr, _, _ = to_flat(df)
    print("ours: end-to-end frame -> frame, and arrays -> arrays (kernel tier, no pandas)")
    print(f"{'model':10s} {'ours s/s':>11s} {'arrays s/s':>11s} {'sf s/s':>10s} "
          f"{'ratio':>7s} {'arrays':>7s}   statsforecast model")
    diffs: dict[str, float] = {}
    for model, sf_models in _statsforecast_models().items():
        ours(df.head(200 * N_DAYS), model)
        t_ours = min(_time(lambda m=model: ours(df, m)) for _ in range(3))
        n_sf = N_SERIES_AUTO_SF if model == "auto" else N_SERIES
        t_arr = min(_time(lambda m=model: forecast_arrays(
            y, indptr, H, m, quantiles=(), params=OUR_PARAMS.get(m))) for _ in range(3))
        theirs(df.head(20 * N_DAYS), model)  # statsforecast's one-off set-up is not timed
        t0 = time.perf_counter()
        sf_out = theirs(df.head(n_sf * N_DAYS), model)
        t_sf = time.perf_counter() - t0
        if model != "auto":  # same model: the point forecasts must agree too
            col = sf_out.columns[-1]
            diffs[model] = float(np.abs(ours(df, model)["mean"].to_numpy()
                                        - sf_out[col].to_numpy()).max())
        r_ours, r_arr, r_sf = N_SERIES / t_ours, N_SERIES / t_arr, n_sf / t_sf
        names = " + ".join(type(m).__name__ for m in sf_models)
        print(f"{model:10s} {r_ours:11,.0f} {r_arr:11,.0f} {r_sf:10,.0f} {r_ours / r_sf:6.1f}x "
              f"{r_arr / r_sf:6.1f}x   {names}"
              + (f" (sf on {n_sf} series)" if n_sf != N_SERIES else ""))

    print("max |ours - statsforecast| point forecast: "
          + ", ".join(f"{m} {d:.1e}" for m, d in diffs.items()))


if __name__ == "__main__":
    main()

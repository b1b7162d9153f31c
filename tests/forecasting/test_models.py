"""Known answers and invariants of the kernels, the private functions and the classes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting import (
    ADIDA,
    IMAPA,
    SBA,
    SES,
    TSB,
    AutoModel,
    Croston,
    Holt,
    HoltWinters,
    MovingAverage,
    Naive,
    SeasonalNaive,
    classify,
    forecast_arrays,
)
from forecasting._intermittent import croston_reference_level
from forecasting.core import check_layout
from tests.forecasting.conftest import flat

ALL_CLASSES = [Naive, SeasonalNaive, MovingAverage, SES, Holt, HoltWinters, Croston, SBA, TSB,
               ADIDA, IMAPA, AutoModel]


def test_naive_ma_and_snaive_known_answers() -> None:
    x = np.arange(1.0, 15.0)  # 1..14
    assert np.allclose(Naive().forecast(x, 3), 14.0)
    assert np.allclose(MovingAverage(window=4).forecast(x, 2), (11 + 12 + 13 + 14) / 4)
    assert np.allclose(SeasonalNaive(season_length=7).forecast(x, 9),
                       [[8, 9, 10, 11, 12, 13, 14, 8, 9]])


def test_ses_known_answer() -> None:
    x = np.array([3.0, 0.0, 0.0, 2.0])
    # level: 3 -> 0.5*0 + 0.5*3 = 1.5 -> 0.75 -> 0.5*2 + 0.5*0.75 = 1.375
    assert np.allclose(SES(alpha=0.5).forecast(x, 2), 1.375)


def test_croston_known_answer() -> None:
    x = np.array([0.0, 4.0, 0.0, 0.0, 2.0])
    # sizes 4, 2 -> 0.1*2 + 0.9*4 = 3.8; intervals 2, 3 -> 2.1; forecast 3.8 / 2.1
    assert np.allclose(Croston().forecast(x, 1), 3.8 / 2.1)
    assert np.allclose(SBA().forecast(x, 1), 0.95 * 3.8 / 2.1)
    assert croston_reference_level(x, 0.1) == pytest.approx(3.8 / 2.1)


def test_holt_recovers_a_line_and_holt_winters_a_seasonal_line() -> None:
    t = np.arange(60.0)
    line = 5.0 + 0.5 * t
    assert np.allclose(Holt(alpha=0.5, beta=0.1).forecast(line, 3), [[35.0, 35.5, 36.0]])
    pattern = np.array([0.0, 1.0, 2.0, 6.0, 2.0, 1.0, -1.0])
    seasonal = 20.0 + 0.1 * t + np.tile(pattern, 9)[:60]
    pred = HoltWinters(alpha=0.3, beta=0.05, gamma=0.1).forecast(seasonal, 7)
    expected = 20.0 + 0.1 * np.arange(60, 67) + np.tile(pattern, 10)[60:67]
    assert np.allclose(pred, [expected], atol=1e-6)


def test_optimised_holt_winters_fits_weekly_pattern_better_than_ses() -> None:
    rng = np.random.default_rng(0)
    weekly = np.tile([2.0, 2.0, 3.0, 3.0, 5.0, 9.0, 8.0], 40) + rng.normal(0, 0.5, 280)
    truth = np.tile([2.0, 2.0, 3.0, 3.0, 5.0, 9.0, 8.0], 2)
    hw = np.abs(HoltWinters().forecast(weekly, 14) - truth).mean()
    ses = np.abs(SES().forecast(weekly, 14) - truth).mean()
    assert hw < 0.6 < ses


def test_tsb_optimised_parameters_beat_a_poor_fixed_choice() -> None:
    rng = np.random.default_rng(1)
    # Demand probability drops from 0.6 to 0.1: TSB should follow it.
    x = np.r_[rng.binomial(1, 0.6, 300), rng.binomial(1, 0.1, 300)] * 3.0
    opt = TSB().forecast(x, 1)[0, 0]
    assert abs(opt - 0.3) < abs(TSB(alpha_d=0.5, alpha_p=0.01).forecast(x, 1)[0, 0] - 0.3)


def test_adida_imapa_on_regular_demand() -> None:
    x = np.tile([0.0, 0.0, 6.0], 30)  # 2 per day on average, mean interval 3
    assert np.allclose(ADIDA().forecast(x, 4), 2.0)
    assert np.allclose(IMAPA().forecast(x, 4), 2.0, atol=0.3)


def test_all_zero_series_forecasts_zero() -> None:
    for cls in ALL_CLASSES:
        assert np.all(cls().forecast(np.zeros(40), 5) == 0.0), cls.__name__


counts = st.lists(st.integers(0, 12), min_size=1, max_size=50).map(
    lambda v: np.asarray(v, dtype=np.float64))


@settings(max_examples=25, deadline=None)
@given(series=st.lists(counts, min_size=1, max_size=4), h=st.integers(1, 15),
       idx=st.integers(0, len(ALL_CLASSES) - 1))
def test_fit_predict_equals_forecast_and_batches_are_independent(
        series: list[np.ndarray], h: int, idx: int) -> None:
    cls = ALL_CLASSES[idx]
    y, indptr = flat(series)
    batch = cls().forecast(y, h, indptr)
    assert np.array_equal(cls().fit(y, indptr, h).predict(h), batch)
    assert batch.shape == (len(series), h)
    assert np.all(np.isfinite(batch)) and np.all(batch >= 0.0)  # demand is never negative
    one_by_one = np.vstack([cls().forecast(s, h) for s in series])
    assert np.allclose(one_by_one, batch, rtol=1e-12, atol=1e-12)


def test_syntetos_boylan_classes() -> None:
    smooth = np.full(50, 5.0) + np.tile([0.0, 1.0], 25)
    erratic = np.tile([1.0, 20.0], 25)
    intermittent = np.tile([0.0, 0.0, 4.0, 0.0, 5.0], 10)
    lumpy = np.tile([0.0, 0.0, 1.0, 0.0, 30.0], 10)
    y, indptr = flat([smooth, erratic, intermittent, lumpy])
    assert classify(y, indptr) == ["smooth", "erratic", "intermittent", "lumpy"]


def test_auto_uses_intermittent_models_for_sparse_series() -> None:
    rng = np.random.default_rng(5)
    sparse = rng.binomial(1, 0.1, 400) * rng.integers(1, 4, 400).astype(float)
    res = forecast_arrays(sparse, np.array([0, 400]), 14, "auto")
    assert set(res.models[0].split("+")) <= {"mapa", "ses", "ma", "holt_winters", "tsb", "adida",
                                             "imapa"}
    assert res.mean.shape == (1, 14) and res.quantiles.shape == (1, 14, 3)
    best_only = forecast_arrays(sparse, np.array([0, 400]), 14, "auto", combine_tol=1.0)
    assert "+" not in best_only.models[0]
    pool = forecast_arrays(sparse, np.array([0, 400]), 14, ["naive", "croston"])
    assert set(pool.models[0].split("+")) <= {"naive", "croston"}


@pytest.mark.parametrize(("y", "indptr", "message"), [
    (np.ones(3), np.array([0, 2]), "expected indptr from 0 to len"),
    (np.ones(3), np.array([0, 0, 3]), "expected every series to have >= 1 value"),
    (np.array([1.0, np.nan]), np.array([0, 2]), "expected finite y"),
])
def test_layout_errors(y: np.ndarray, indptr: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_layout(y, indptr)


def test_argument_errors() -> None:
    y, indptr = np.ones(10), np.array([0, 10])
    with pytest.raises(ValueError, match="expected horizon >= 1, got 0"):
        forecast_arrays(y, indptr, 0)
    with pytest.raises(ValueError, match="unknown model 'prophet'"):
        forecast_arrays(y, indptr, 3, "prophet")
    with pytest.raises(ValueError, match=r"expected quantile levels in \(0, 1\)"):
        forecast_arrays(y, indptr, 3, "ses", quantiles=(0.5, 1.0))
    with pytest.raises(RuntimeError, match="not fitted"):
        SES().predict(3)

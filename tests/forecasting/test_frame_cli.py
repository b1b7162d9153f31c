"""The pandas edge `forecast(df, ...)` and the `omni forecast` command."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli import app
from forecasting import forecast, forecast_arrays


def _long(n_series: int = 3, n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = [pd.DataFrame({"unique_id": f"sku{i}",
                            "ds": pd.date_range("2024-01-01", periods=n, freq="D"),
                            "y": rng.poisson(1.0 + i, n).astype(float)})
              for i in range(n_series)]
    # Shuffled rows: the edge must sort by series and date itself.
    return pd.concat(frames).sample(frac=1.0, random_state=1).reset_index(drop=True)


def test_forecast_frame_matches_arrays_and_dates() -> None:
    df = _long()
    out = forecast(df, 5, "D", "ses", quantiles=(0.1, 0.9))
    assert list(out.columns) == ["unique_id", "ds", "model", "mean", "q0.1", "q0.9"]
    assert len(out) == 15 and set(out["model"]) == {"ses"}
    first = out[out["unique_id"] == "sku0"]
    assert list(first["ds"]) == list(pd.date_range("2024-03-01",
                                                   periods=5, freq="D"))
    ordered = df.sort_values(["unique_id", "ds"])
    y = ordered["y"].to_numpy()
    res = forecast_arrays(y, np.array([0, 60, 120, 180]), 5, "ses", quantiles=(0.1, 0.9))
    assert np.allclose(out["mean"].to_numpy(), res.mean.reshape(-1))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"h": 0}, "expected horizon >= 1, got 0"),
    ({"h": 3, "models": "arima"}, "unknown model 'arima'"),
])
def test_forecast_frame_argument_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        forecast(_long(), **kwargs)


def test_forecast_frame_input_errors() -> None:
    with pytest.raises(ValueError, match=r"missing \['y'\]"):
        forecast(_long().drop(columns="y"), 3)
    dup = pd.concat([_long(1, 10), _long(1, 10)])
    with pytest.raises(ValueError, match="duplicates"):
        forecast(dup, 3)


def test_cli_writes_mean_and_quantile_columns(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    _long().to_csv(src, index=False)
    result = CliRunner().invoke(app, ["forecast", str(src), "--horizon", "4", "--freq", "D",
                                      "--out", str(dst), "--model", "tsb",
                                      "--quantiles", "0.5,0.9,0.95"])
    assert result.exit_code == 0, result.output
    out = pd.read_csv(dst)
    assert list(out.columns) == ["unique_id", "ds", "mean", "q0.5", "q0.9", "q0.95"]
    assert len(out) == 12 and (out["q0.95"] >= out["q0.5"]).all()


@pytest.mark.parametrize(("args", "message"), [
    (["--horizon", "0"], "expected horizon >= 1, got 0"),
    (["--horizon", "3", "--model", "prophet"], "unknown model 'prophet'"),
    (["--horizon", "3", "--quantiles", "0.5,2"], "expected quantile levels in (0, 1)"),
])
def test_cli_rejects_bad_arguments(tmp_path: Path, args: list[str], message: str) -> None:
    src = tmp_path / "in.csv"
    _long().to_csv(src, index=False)
    result = CliRunner().invoke(app, ["forecast", str(src), "--out", str(tmp_path / "o.csv"),
                                      *args])
    assert result.exit_code != 0
    assert message in " ".join(result.output.split())


def test_cli_reports_missing_columns(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    pd.DataFrame({"a": [1], "b": [2]}).to_csv(src, index=False)
    result = CliRunner().invoke(app, ["forecast", str(src), "--horizon", "3",
                                      "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert "expected columns ['unique_id', 'ds', 'y']" in result.output


def _monthly(n_series: int = 3, n: int = 40, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = [pd.DataFrame({"unique_id": f"part{i}",
                            "ds": pd.date_range("1998-01-31", periods=n, freq="ME"),
                            "y": (rng.random(n) < 0.3) * rng.integers(1, 4, n).astype(float)})
              for i in range(n_series)]
    return pd.concat(frames).reset_index(drop=True)


@pytest.mark.parametrize("freq", ["M", "ME", "MS"])
def test_forecast_monthly_uses_yearly_season_and_month_steps(freq: str) -> None:
    df = _monthly()
    if freq == "MS":
        df["ds"] = df["ds"] - pd.offsets.MonthBegin(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # "M" must not hit pandas' deprecation
        out = forecast(df, 12, freq, "auto", quantiles=(0.05, 0.95))
    first = out[out["unique_id"] == "part0"]
    step = pd.offsets.MonthBegin(1) if freq == "MS" else pd.offsets.MonthEnd(1)
    assert list(first["ds"]) == list(pd.date_range(df["ds"].max() + step, periods=12,
                                                   freq="MS" if freq == "MS" else "ME"))
    # 40 months afford one 12-month CV window: every slow mover keeps the MAPA-TSB default.
    assert set(out["model"]) == {"mapa"}
    arrays = forecast_arrays(df["y"].to_numpy(), np.array([0, 40, 80, 120]), 12, "auto",
                             quantiles=(0.05, 0.95), season_length=12)
    assert np.allclose(out["mean"].to_numpy(), arrays.mean.reshape(-1))


def test_cli_forecasts_monthly_data(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    _monthly().to_csv(src, index=False)
    result = CliRunner().invoke(app, ["forecast", str(src), "--horizon", "12", "--freq", "M",
                                      "--out", str(dst), "--model", "auto",
                                      "--quantiles", "0.05,0.5,0.95"])
    assert result.exit_code == 0, result.output
    out = pd.read_csv(dst, parse_dates=["ds"])
    assert len(out) == 36
    assert out["ds"].min() == pd.Timestamp("2001-05-31")
    assert (out["ds"].dt.is_month_end).all()
    assert (out["q0.95"] >= out["q0.5"]).all() and (out["mean"] >= 0).all()

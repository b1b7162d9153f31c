"""Accuracy on the real M5 subset (last 28 days held out) against statsforecast."""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsforecast.models import AutoETS, CrostonOptimized

from forecasting import forecast_arrays, mase_rmsse
from forecasting.core import MODEL_NAMES
from tests.forecasting.conftest import M5_HOLDOUT


def m5_table(sales: np.ndarray) -> pd.DataFrame:
    """Mean MASE and RMSSE over the series for `auto`, each model, and statsforecast."""
    tr, te = sales[:, :-M5_HOLDOUT], sales[:, -M5_HOLDOUT:]
    y, indptr = tr.reshape(-1), np.arange(0, tr.size + 1, tr.shape[1])
    rows = {}
    for name in ("auto", *MODEL_NAMES):
        pred = forecast_arrays(y, indptr, M5_HOLDOUT, name, quantiles=(0.5,)).mean
        rows[name] = mase_rmsse(y, indptr, te, pred)
    for label, make in (("sf.AutoETS", lambda: AutoETS(season_length=7)),
                        ("sf.CrostonOptimized", CrostonOptimized)):
        pred = np.array([make().forecast(s, M5_HOLDOUT)["mean"] for s in tr])
        rows[label] = mase_rmsse(y, indptr, te, pred)
    return pd.DataFrame({name: {"MASE": m.mean(), "RMSSE": r.mean()}
                         for name, (m, r) in rows.items()}).T


def test_auto_is_not_worse_than_the_best_statsforecast_model(m5_sales: np.ndarray) -> None:
    table = m5_table(m5_sales)
    print("\n" + table.round(4).to_string())
    best_sf = table.loc[["sf.AutoETS", "sf.CrostonOptimized"]].min()
    assert table.loc["auto", "MASE"] <= best_sf["MASE"]
    assert table.loc["auto", "RMSSE"] <= best_sf["RMSSE"]
    # Sanity: the benchmark naive is clearly beaten.
    assert table.loc["auto", "RMSSE"] < table.loc["naive", "RMSSE"]

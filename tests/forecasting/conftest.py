"""Fixtures for forecasting tests: flat layouts and the real M5 subset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
M5_HOLDOUT = 28


def m5_dir() -> Path:
    """The project's copy of the M5 subset if present, else the shared reference data."""
    local = REPO / "data" / "reference" / "m5"
    if (local / "sales_train_validation.csv").is_file():
        return local
    return REPO.parent / "shared" / "data" / "m5_subset"


def flat(series: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """List of 1-D series -> (y, indptr) flat layout."""
    y = np.concatenate([np.asarray(s, dtype=np.float64) for s in series])
    indptr = np.r_[0, np.cumsum([len(s) for s in series])].astype(np.int64)
    return y, indptr


@pytest.fixture(scope="session")
def m5_sales() -> np.ndarray:
    """(10, 1913) daily unit sales of the real M5 subset."""
    path = m5_dir() / "sales_train_validation.csv"
    if not path.is_file():
        pytest.skip(f"M5 subset not found at {path}")
    df = pd.read_csv(path)
    return df.filter(like="d_").to_numpy(dtype=np.float64)


@pytest.fixture(scope="session")
def intermittent_series() -> list[np.ndarray]:
    """Forty short intermittent count series with edge cases (all zero, one demand)."""
    rng = np.random.default_rng(7)
    out = [rng.poisson(rng.uniform(0.05, 2.0), rng.integers(8, 120)).astype(np.float64)
           for _ in range(36)]
    out.append(np.zeros(15))
    single = np.zeros(20)
    single[11] = 4.0
    out.append(single)
    out.append(np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 1.0]))
    out.append(np.array([5.0, 1.0, 3.0, 2.0, 4.0, 6.0, 1.0, 2.0]))
    return out

"""Tier 3: public model classes with fit / predict / forecast (fit + predict == forecast).

Every class works on many series at once in the flat layout (`y`, `indptr`); pass a 1-D
`y` without `indptr` for a single series. Outputs are always (n_series, h).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np

from forecasting.core import (
    DEFAULT_COMBINE_TOL,
    DEFAULT_WINDOWS,
    FitResult,
    _predict,
    check_horizon,
    check_levels,
    fit_arrays,
    lead_time_from_fit,
    prediction_interval_from_fit,
    quantiles_from_fit,
)


class _Model:
    """Shared fit / predict / forecast plumbing; subclasses only name the model and params."""

    name = ""

    def __init__(self, season_length: int = 7, params: Sequence[float] = ()) -> None:
        self.season_length = season_length
        self.params = [np.nan if p is None else float(p) for p in params]
        self.fit_: FitResult | None = None

    def _fit_model(self, y: np.ndarray, indptr: np.ndarray, h: int) -> FitResult:
        return fit_arrays(y, indptr, self.name, h=h, season_length=self.season_length,
                          params={self.name: self.params} if self.params else None)

    def fit(self, y: np.ndarray, indptr: np.ndarray | None = None, h: int = 28) -> Self:
        """Fit every series; `h` only matters to models that choose by cross-validation."""
        y = np.asarray(y, dtype=np.float64)
        if indptr is None:
            indptr = np.array([0, y.size], dtype=np.int64)
        self.fit_ = self._fit_model(y, indptr, h)
        return self

    def _fitted(self) -> FitResult:
        if self.fit_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() first")
        return self.fit_

    def predict(self, h: int) -> np.ndarray:
        """Point forecasts (n_series, h)."""
        return _predict(self._fitted(), check_horizon(h))

    def predict_quantiles(self, h: int, levels: Sequence[float]) -> np.ndarray:
        """Demand quantiles (n_series, h, n_levels)."""
        fit = self._fitted()
        return quantiles_from_fit(fit, _predict(fit, check_horizon(h)), check_levels(levels))

    def predict_interval(self, h: int, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """Prediction intervals (lower, upper), each (n_series, h), of probability `level`."""
        fit = self._fitted()
        return prediction_interval_from_fit(fit, _predict(fit, check_horizon(h)), level)

    def lead_time_demand(self, lead_time: int, levels: Sequence[float]
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Demand summed over `lead_time` steps: (mean, variance, quantiles (n, n_levels))."""
        return lead_time_from_fit(self._fitted(), lead_time, levels)

    def forecast(self, y: np.ndarray, h: int, indptr: np.ndarray | None = None) -> np.ndarray:
        """Fit and predict in one call (same result as fit(...).predict(h))."""
        return self.fit(y, indptr, h).predict(h)

    @property
    def models(self) -> list[str]:
        """Model used per series (differs between series only for AutoModel)."""
        return self._fitted().models


class Naive(_Model):
    """Last observed value."""

    name = "naive"


class SeasonalNaive(_Model):
    """Value one season ago (weekly for daily data)."""

    name = "snaive"


class MovingAverage(_Model):
    """Mean of the last `window` values."""

    name = "ma"

    def __init__(self, window: int = 28, season_length: int = 7) -> None:
        super().__init__(season_length, (window,))


class SES(_Model):
    """Simple exponential smoothing; alpha optimised by one-step SSE when None."""

    name = "ses"

    def __init__(self, alpha: float | None = None, season_length: int = 7) -> None:
        super().__init__(season_length, (alpha,))


class Holt(_Model):
    """Additive trend (Holt's linear method); None parameters are optimised."""

    name = "holt"

    def __init__(self, alpha: float | None = None, beta: float | None = None) -> None:
        super().__init__(1, (alpha, beta))


class HoltWinters(_Model):
    """Additive Holt-Winters with a weekly (season_length) season; None params optimised."""

    name = "holt_winters"

    def __init__(self, season_length: int = 7, alpha: float | None = None,
                 beta: float | None = None, gamma: float | None = None) -> None:
        super().__init__(season_length, (alpha, beta, gamma))


class Croston(_Model):
    """Croston's classic method (alpha = 0.1 as in statsforecast's CrostonClassic)."""

    name = "croston"

    def __init__(self, alpha: float = 0.1) -> None:
        super().__init__(1, (alpha,))


class SBA(_Model):
    """Syntetos-Boylan approximation: Croston x 0.95."""

    name = "sba"

    def __init__(self, alpha: float = 0.1) -> None:
        super().__init__(1, (alpha,))


class TSB(_Model):
    """Teunter-Syntetos-Babai; None smoothing parameters are optimised by one-step SSE."""

    name = "tsb"

    def __init__(self, alpha_d: float | None = None, alpha_p: float | None = None) -> None:
        super().__init__(1, (alpha_d, alpha_p))


class ADIDA(_Model):
    """Aggregate at the mean inter-demand interval, SES, disaggregate evenly."""

    name = "adida"


class IMAPA(_Model):
    """Average of ADIDA-style forecasts over aggregation levels 1..mean interval."""

    name = "imapa"


class MAPA(_Model):
    """TSB averaged over temporal aggregation levels 1, 2 and 3 (MAPA-style)."""

    name = "mapa"


class AutoModel(_Model):
    """Per series: Syntetos-Boylan class, its default unless CV clearly prefers other models."""

    name = "auto"

    def __init__(self, season_length: int = 7, candidates: Sequence[str] | None = None,
                 n_windows: int = DEFAULT_WINDOWS, metric: str = "rmsse",
                 combine_tol: float = DEFAULT_COMBINE_TOL) -> None:
        super().__init__(season_length)
        self.candidates = candidates
        self.n_windows = n_windows
        self.metric = metric
        self.combine_tol = combine_tol

    def _fit_model(self, y: np.ndarray, indptr: np.ndarray, h: int) -> FitResult:
        model = "auto" if self.candidates is None else list(self.candidates)
        return fit_arrays(y, indptr, model, h=h, season_length=self.season_length,
                          n_windows=self.n_windows, metric=self.metric,
                          combine_tol=self.combine_tol)


MODEL_CLASSES: dict[str, type[_Model]] = {
    cls.name: cls for cls in (Naive, SeasonalNaive, MovingAverage, SES, Holt, HoltWinters,
                              Croston, SBA, TSB, ADIDA, IMAPA, MAPA, AutoModel)
}

"""The shape of daily store demand, measured on the real M5 subset, and US holiday dates.

Pure (numpy/pandas). The demo builder draws synthetic sales from these numbers so that its
history has M5's weekday profile, M5's zero-day fraction for a given mean (negative
binomial dispersion) and M5's holiday effects (stores closed on Christmas, a dip on
Thanksgiving...), without copying any M5 series.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from data.reference import load_m5

WINDOW_DAYS = 28  # windows over which a series' mean and zero fraction are compared
EVENT_PRIOR_UNITS = 20.0  # shrinks event factors toward 1: 10 series give ~30 units per event
CLOSED_MIN_EXPECTED = 10.0  # zero units where >= this many were expected: the store was shut


@dataclass(frozen=True)
class DemandShape:
    """Weekday factors (Mon..Sun, mean 1), NB dispersion k, multiplicative event factors."""

    weekday_factor: np.ndarray
    dispersion: float
    event_factor: dict[str, float]

    def zero_fraction(self, mean: np.ndarray | float) -> np.ndarray:
        """P(no sale on a day) for a negative binomial with this dispersion and mean."""
        k = self.dispersion
        return (k / (k + np.asarray(mean, dtype=float))) ** k


def _active_sales(sales: pd.DataFrame) -> np.ndarray:
    """Sales as float (series, days) with NaN before each item's first sale (not yet listed)."""
    x = sales.filter(regex=r"^d_\d+$").to_numpy(dtype=float, copy=True)
    first = np.argmax(x > 0, axis=1)
    x[np.arange(x.shape[1])[None, :] < first[:, None]] = np.nan
    return x


def _weekday_factor(x: np.ndarray, dates: pd.DatetimeIndex, event_day: np.ndarray) -> np.ndarray:
    # Pooled over series (volume-weighted), ordinary days only, normalised to mean 1.
    wd = dates.weekday.to_numpy()
    means = np.array([np.nanmean(x[:, (wd == d) & ~event_day]) for d in range(7)])
    return means / means.mean()


def _dispersion(x: np.ndarray) -> float:
    # Fit k so that (k/(k+m))^k matches the zero fraction of 28-day windows of mean m.
    n_win = x.shape[1] // WINDOW_DAYS
    w = x[:, : n_win * WINDOW_DAYS].reshape(x.shape[0], n_win, WINDOW_DAYS)
    full = ~np.isnan(w).any(axis=2)
    m = w.mean(axis=2)[full]
    z = (w == 0).mean(axis=2)[full]
    keep = m > 0
    m, z = m[keep], z[keep]
    grid = np.exp(np.linspace(np.log(0.05), np.log(50.0), 400))
    err = [np.mean(((k / (k + m)) ** k - z) ** 2) for k in grid]
    return float(grid[int(np.argmin(err))])


def _event_factors(
    x: np.ndarray, dates: pd.DatetimeIndex, names: pd.Series
) -> dict[str, float]:
    # Observed units on the event day against the same weekday one and two weeks either side.
    n_days = x.shape[1]
    obs: dict[str, float] = {}
    exp: dict[str, float] = {}
    for day, name in names.items():
        if day >= n_days:
            continue
        nbrs = [day + o for o in (-14, -7, 7, 14) if 0 <= day + o < n_days]
        near = x[:, nbrs]
        n_ok = (~np.isnan(near)).sum(axis=1)
        ref = np.where(n_ok > 0, np.nansum(near, axis=1) / np.maximum(n_ok, 1), np.nan)
        ok = ~np.isnan(x[:, day]) & ~np.isnan(ref)
        obs[name] = obs.get(name, 0.0) + float(x[ok, day].sum())
        exp[name] = exp.get(name, 0.0) + float(ref[ok].sum())
    factors = {}
    for name in obs:
        if obs[name] == 0 and exp[name] >= CLOSED_MIN_EXPECTED:
            factors[name] = 0.0
        else:
            shrunk = (obs[name] + EVENT_PRIOR_UNITS) / (exp[name] + EVENT_PRIOR_UNITS)
            factors[name] = float(np.clip(shrunk, 0.2, 2.5))
    return factors


@cache
def m5_demand_shape() -> DemandShape:
    """Weekday profile, NB dispersion and event factors measured on the bundled M5 subset."""
    m5 = load_m5()
    x = _active_sales(m5.sales)
    cal = m5.calendar.iloc[: x.shape[1]].reset_index(drop=True)
    dates = pd.DatetimeIndex(cal["date"])
    events = pd.concat([cal["event_name_1"], cal["event_name_2"]]).dropna()
    event_day = np.zeros(x.shape[1], dtype=bool)
    event_day[events.index.unique()] = True
    weekday = _weekday_factor(x, dates, event_day)
    weekday.flags.writeable = False
    return DemandShape(
        weekday_factor=weekday,
        dispersion=_dispersion(x),
        event_factor=_event_factors(x, dates, events),
    )


# ---------------------------------------------------------------------------- holiday rules


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    # n-th (1-based) given weekday of a month; n = -1 is the last one.
    if n > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def easter(year: int) -> dt.date:
    """Western Easter Sunday (anonymous Gregorian computus)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month = (h + el - 7 * m + 114) // 31
    day = (h + el - 7 * m + 114) % 31 + 1
    return dt.date(year, month, day)


MON, SUN, THU = 0, 6, 3
# M5 event name -> the rule that dates it in a given year (lunar and sports-season events,
# whose dates follow no simple rule, are left out).
HOLIDAY_RULES = {
    "NewYear": lambda y: dt.date(y, 1, 1),
    "MartinLutherKingDay": lambda y: _nth_weekday(y, 1, MON, 3),
    # Super Bowl Sunday: first Sunday of February until 2021, second since the 17-game season.
    "SuperBowl": lambda y: _nth_weekday(y, 2, SUN, 1 if y < 2022 else 2),
    "ValentinesDay": lambda y: dt.date(y, 2, 14),
    "PresidentsDay": lambda y: _nth_weekday(y, 2, MON, 3),
    "StPatricksDay": lambda y: dt.date(y, 3, 17),
    "Easter": easter,
    "Cinco De Mayo": lambda y: dt.date(y, 5, 5),
    "Mother's day": lambda y: _nth_weekday(y, 5, SUN, 2),
    "MemorialDay": lambda y: _nth_weekday(y, 5, MON, -1),
    "Father's day": lambda y: _nth_weekday(y, 6, SUN, 3),
    "IndependenceDay": lambda y: dt.date(y, 7, 4),
    "LaborDay": lambda y: _nth_weekday(y, 9, MON, 1),
    "ColumbusDay": lambda y: _nth_weekday(y, 10, MON, 2),
    "Halloween": lambda y: dt.date(y, 10, 31),
    "VeteransDay": lambda y: dt.date(y, 11, 11),
    "Thanksgiving": lambda y: _nth_weekday(y, 11, THU, 4),
    "Christmas": lambda y: dt.date(y, 12, 25),
}


def holiday_calendar(first: dt.date, days: int) -> pd.DataFrame:
    """Rule-dated M5 events falling in [first, first + days): columns day_index, date, event."""
    last = first + dt.timedelta(days=days - 1)
    rows = []
    for year in range(first.year, last.year + 1):
        for name, rule in HOLIDAY_RULES.items():
            day = rule(year)
            if first <= day <= last:
                rows.append(((day - first).days, day, name))
    df = pd.DataFrame(rows, columns=["day_index", "date", "event"])
    return df.sort_values(["day_index", "event"], kind="stable").reset_index(drop=True)


def day_factors(first: dt.date, days: int, shape: DemandShape | None = None) -> np.ndarray:
    """Multiplicative demand factor for each day: weekday factor times any event factor."""
    shape = shape or m5_demand_shape()
    if days <= 0:
        return np.zeros(0)
    weekdays = (first.weekday() + np.arange(days)) % 7
    factor = shape.weekday_factor[weekdays].copy()
    for row in holiday_calendar(first, days).itertuples(index=False):
        factor[row.day_index] *= shape.event_factor.get(row.event, 1.0)
    return factor

"""Cost-model parameter validation, zones and promise dates."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from allocation.costs import (
    CostModel,
    DistanceRates,
    PickCosts,
    RateCard,
    Timing,
    promise_dates,
    zone_from_miles,
    zones_for,
)
from tests.allocation.factories import tiny_zone_matrix


@pytest.mark.parametrize(("build", "message"), [
    (lambda: DistanceRates(per_parcel=-1), "expected per_parcel >= 0"),
    (lambda: DistanceRates(per_unit_mile=float("nan")), "expected per_unit_mile >= 0"),
    (lambda: PickCosts(store=-0.1), "expected store >= 0"),
    (lambda: RateCard(base_by_zone=(1.0,) * 9), "expected base_by_zone to have 10 entries"),
    (lambda: Timing(cutoff_hour_dc=25), "expected 0 <= cutoff_hour_dc <= 24"),
    (lambda: CostModel(unfilled_multiplier=-2), "expected unfilled_multiplier >= 0"),
])
def test_parameters_reject_bad_values(build, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_defaults_are_the_literature_and_stores_cost_more_to_pick() -> None:
    d = DistanceRates()
    assert (d.per_parcel, d.per_unit, d.per_unit_mile) == (8.759, 0.423, 0.000541)
    assert PickCosts().store > PickCosts().dc
    card = RateCard()
    assert list(card.base_by_zone[1:]) == sorted(card.base_by_zone[1:])


def test_zone_bands_from_miles() -> None:
    assert zone_from_miles(np.array([0, 50, 51, 150, 151, 1000, 1801, 3000])).tolist() == [
        1, 1, 2, 2, 3, 5, 8, 8]


def test_zones_come_from_the_chart_and_fall_back_to_miles() -> None:
    zm = tiny_zone_matrix()
    miles = np.array([10.0, 10.0, 2000.0])
    # Origin 3 -> dest 7: chart zone 1 + 4 = 5; origin 500 is not in the chart: by miles.
    got = zones_for(np.array([3, 500, -1]), 7, miles, zm)
    assert got.tolist() == [5, 1, 8]
    assert zones_for(np.array([3]), None, np.array([10.0]), zm).tolist() == [1]


def test_promise_date_honours_cutoff_processing_and_transit() -> None:
    timing = Timing(cutoff_hour_dc=14, cutoff_hour_store=12, processing_days_store=1)
    before = dt.datetime(2025, 3, 3, 9, 0)
    after = dt.datetime(2025, 3, 3, 15, 0)
    is_store = np.array([False, True])
    days = np.array([2, 2])
    assert promise_dates(before, is_store, days, timing) == [dt.date(2025, 3, 5),
                                                            dt.date(2025, 3, 6)]
    assert promise_dates(after, is_store, days, timing) == [dt.date(2025, 3, 6),
                                                           dt.date(2025, 3, 7)]

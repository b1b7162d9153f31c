"""Reference data loaders: known answers read off the source files by hand."""

from __future__ import annotations

import csv
import random
import time

import numpy as np
import pytest

from allocation.errors import UnknownReference
from allocation.geo import haversine_miles
from data import reference
from data.reference import (
    load_cities,
    load_m5,
    load_walmart_stores,
    load_zips,
    load_zone_matrix,
    usps_zone,
    zip_location,
    zips_within,
)


def test_zone_matrix_shape_and_known_cells() -> None:
    m = load_zone_matrix()
    assert m.shape == (1000, 1000) and m.dtype == np.uint8
    assert not m.flags.writeable
    # usps_zones.csv rows 1-3: 005->005 zone 1 (local), 005->006..009 zone 7, 005->010..029 zone 2
    assert m[5, 5] == 1
    assert (m[5, 6:10] == 7).all()
    assert (m[5, 10:30] == 2).all()
    assert m[0, 0] == 0  # no ZIP3 000 in the chart
    assert set(np.unique(m)) <= set(range(10))


def test_zone_matrix_agrees_with_the_csv_row_by_row() -> None:
    with reference.reference_path("usps_zones.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    for row in random.Random(3).sample(rows, 300):
        o, s, e = int(row["origin_zip"]), int(row["dest_zip_start"]), int(row["dest_zip_end"])
        assert (load_zone_matrix()[o, s : e + 1] == int(row["zone"])).all(), row


def test_zone_matrix_builds_fast() -> None:
    began = time.perf_counter()
    fresh = load_zone_matrix.__wrapped__()  # bypass the cache: time the real build
    assert time.perf_counter() - began < 2.0  # < 1 s on an idle core; headroom for CI
    assert (fresh == load_zone_matrix()).all()


def test_usps_zone_accepts_five_and_three_digit_zips() -> None:
    assert usps_zone("00501", "00544") == 1
    assert usps_zone("005", "007") == 7
    assert usps_zone("00501", "01001") == 2
    assert usps_zone("000", "005") == 0  # unknown origin: no entry, not an error
    assert usps_zone("10001", "90210") == 8  # New York -> Beverly Hills


@pytest.mark.parametrize("bad", ["1234", "ABCDE", "123456", "", "12 45", None, 10001])
def test_usps_zone_rejects_malformed_zips(bad: object) -> None:
    with pytest.raises(ValueError, match="malformed ZIP code"):
        usps_zone(bad, "10001")  # type: ignore[arg-type]


def test_zip_table_and_locations() -> None:
    zips = load_zips()
    assert list(zips.columns) == ["zip", "lat", "lon", "population"]
    assert len(zips) == 33_775 and zips["zip"].str.len().eq(5).all()
    assert 320e6 < zips["population"].sum() < 340e6
    assert zip_location("77494") == pytest.approx((29.74566, -95.82302))
    assert zip_location("08701") == pytest.approx((40.07635, -74.20311))  # leading zero kept
    with pytest.raises(UnknownReference, match="unknown ZIP code '00000'"):
        zip_location("00000")
    with pytest.raises(ValueError, match="malformed"):
        zip_location("7749")


def test_loaders_hand_out_copies() -> None:
    mine = load_zips()
    mine.loc[0, "zip"] = "XXXXX"
    assert load_zips().loc[0, "zip"] != "XXXXX"


def test_zips_within_is_nearest_first_and_exact() -> None:
    near = zips_within(29.74566, -95.82302, 10.0)
    assert near["zip"].iloc[0] == "77494" and near["miles"].iloc[0] == 0
    assert near["miles"].is_monotonic_increasing and (near["miles"] <= 10.0).all()
    zips = load_zips()
    brute = haversine_miles(29.74566, -95.82302, zips["lat"].to_numpy(), zips["lon"].to_numpy())
    assert set(near["zip"]) == set(zips["zip"][brute <= 10.0])
    assert zips_within(29.74566, -95.82302, 0.0)["zip"].tolist() == ["77494"]


def test_haversine_new_york_to_los_angeles() -> None:
    miles = haversine_miles(40.7128, -74.0060, 34.0522, -118.2437)
    assert miles == pytest.approx(2445, rel=0.01)


def test_walmart_stores_parse_quoted_commas() -> None:
    stores = load_walmart_stores()
    assert len(stores) == 2992
    assert stores["zip"].str.fullmatch(r"\d{5}").all()
    assert stores[["lat", "lon"]].notna().all().all()
    assert set(stores["type"]) == {"Supercenter", "Wal-Mart"}
    row = stores.set_index("storenum").loc[668]
    assert row["address"] == "915 NO. CHANCERY ST, SUITE 100"
    assert row["city"] == "McMinnville"
    assert row["zip"] == "37110" and row["state"] == "TN"
    assert str(row["opened"]) == "1981-07-04"


def test_cities_have_state_codes() -> None:
    cities = load_cities()
    assert len(cities) == 1000 and (cities["state"].str.len() == 2).all()
    assert cities.iloc[0]["city"] == "New York" and cities.iloc[0]["state"] == "NY"


def test_m5_subset() -> None:
    m5 = load_m5()
    assert m5.sales.shape == (10, 6 + 1913)
    assert len(m5.calendar) == 1969
    assert str(m5.calendar["date"].iloc[0].date()) == "2011-01-29"
    christmas = m5.calendar.index[m5.calendar["event_name_1"] == "Christmas"]
    assert len(christmas) == 5

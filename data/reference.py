"""Loaders for the bundled public reference data: USPS zones, ZIP centroids, stores, cities, M5.

Pure (numpy/pandas only). Every file is parsed once per process (functools.cache); the
DataFrame loaders hand out copies so a caller that mutates its frame cannot corrupt the
cache that every other caller shares. See data/reference/README.md for provenance.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from allocation.errors import UnknownReference
from allocation.geo import haversine_miles

REFERENCE_DIR = Path(__file__).parent / "reference"
N_ZIP3 = 1000
MILES_PER_DEGREE_LAT = 68.7  # with KM_PER_MILE=1.61 in data/geo: 6371*pi/180/1.61 ~ 69.07

_ZIP_RE = re.compile(r"^\d{3}(\d{2})?$")

# Full state names (us_cities_top1k.csv) to USPS codes (walmart_stores.csv, nodes.state).
STATE_CODES: dict[str, str] = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC",
    "Florida": "FL", "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL",
    "Indiana": "IN", "Iowa": "IA", "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA",
    "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA", "Michigan": "MI",
    "Minnesota": "MN", "Mississippi": "MS", "Missouri": "MO", "Montana": "MT",
    "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH", "New Jersey": "NJ",
    "New Mexico": "NM", "New York": "NY", "North Carolina": "NC", "North Dakota": "ND",
    "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR", "Pennsylvania": "PA",
    "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD", "Tennessee": "TN",
    "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA", "Washington": "WA",
    "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",
}


def reference_path(name: str) -> Path:
    """Absolute path of a bundled reference file (e.g. "uszips.csv", "m5/calendar.csv")."""
    return REFERENCE_DIR / name


# ---------------------------------------------------------------------------- zones


@cache
def load_zone_matrix() -> np.ndarray:
    """USPS zone chart: read-only uint8 (1000, 1000) [origin ZIP3, dest ZIP3] -> 1..9, 0 = none."""
    raw = pd.read_csv(
        reference_path("usps_zones.csv"),
        usecols=["origin_zip", "dest_zip_start", "dest_zip_end", "zone"],
        dtype=str,
        keep_default_na=False,
    )
    # Anything but a plain digit 1..9 (a blank, "NA", a footnoted value) means "no entry".
    zone = pd.to_numeric(raw["zone"].str.strip(), errors="coerce")
    ok = zone.between(1, 9) & (zone == zone.round())
    origin = pd.to_numeric(raw["origin_zip"], errors="coerce")
    start = pd.to_numeric(raw["dest_zip_start"], errors="coerce")
    end = pd.to_numeric(raw["dest_zip_end"], errors="coerce")
    ok &= origin.notna() & start.notna() & end.notna() & (start <= end)
    o = origin[ok].to_numpy(np.int64)
    s = start[ok].to_numpy(np.int64)
    e = end[ok].to_numpy(np.int64)
    z = zone[ok].to_numpy(np.uint8)
    ok_range = (o >= 0) & (o < N_ZIP3) & (s >= 0) & (e < N_ZIP3)
    o, s, e, z = o[ok_range], s[ok_range], e[ok_range], z[ok_range]

    # Expand every range row into its cells at once: repeat the row, then add 0..len-1.
    lengths = e - s + 1
    rows = np.repeat(np.arange(len(o)), lengths)
    offsets = np.arange(len(rows)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    matrix = np.zeros((N_ZIP3, N_ZIP3), dtype=np.uint8)
    matrix[o[rows], s[rows] + offsets] = z[rows]
    matrix.flags.writeable = False
    return matrix


def zip3(zip_code: str) -> int:
    """The 3-digit prefix of a 5- or 3-digit ZIP as an int; ValueError if malformed."""
    if not isinstance(zip_code, str) or not _ZIP_RE.match(zip_code.strip()):
        raise ValueError(f"malformed ZIP code {zip_code!r}: expected 5 or 3 digits")
    return int(zip_code.strip()[:3])


def usps_zone(origin_zip: str, dest_zip: str) -> int:
    """USPS zone (1..9) from origin to destination ZIP (5- or 3-digit); 0 if the chart has none."""
    return int(load_zone_matrix()[zip3(origin_zip), zip3(dest_zip)])


# ---------------------------------------------------------------------------- ZIPs


@cache
def _zips() -> pd.DataFrame:
    df = pd.read_csv(reference_path("uszips.csv"), dtype={"zip": str})
    df = df.rename(columns={"lng": "lon"})
    # The file drops leading zeros (New England, Puerto Rico): "8701" is 08701.
    df["zip"] = df["zip"].str.strip().str.zfill(5)
    df["population"] = df["population"].fillna(0).astype(np.int64)
    return df[["zip", "lat", "lon", "population"]].reset_index(drop=True)


@cache
def _zips_by_lat() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Sorted by latitude so a radius query scans only a latitude band (searchsorted).
    df = _zips()
    order = np.argsort(df["lat"].to_numpy(), kind="stable")
    return order, df["lat"].to_numpy()[order], df["lon"].to_numpy()[order]


@cache
def _zip_index() -> dict[str, tuple[float, float]]:
    df = _zips()
    return dict(zip(df["zip"], zip(df["lat"].astype(float), df["lon"].astype(float), strict=True),
                    strict=True))


def load_zips() -> pd.DataFrame:
    """US ZIP centroids: zip (5-char string), lat, lon, population (a copy of the cached table)."""
    return _zips().copy()


def zip_location(zip_code: str) -> tuple[float, float]:
    """(lat, lon) of a 5-digit ZIP centroid; UnknownReference if the ZIP is not in the table."""
    key = zip_code.strip() if isinstance(zip_code, str) else zip_code
    if not isinstance(key, str) or not re.fullmatch(r"\d{5}", key):
        raise ValueError(f"malformed ZIP code {zip_code!r}: expected 5 digits")
    try:
        return _zip_index()[key]
    except KeyError:
        raise UnknownReference(f"unknown ZIP code {key!r}: not in the ZIP centroid table",
                               zip=key) from None


def zips_within(lat: float, lon: float, radius_miles: float) -> pd.DataFrame:
    """ZIPs whose centroid lies within radius_miles of (lat, lon), nearest first, with `miles`."""
    if radius_miles < 0:
        raise ValueError(f"expected radius_miles >= 0, got {radius_miles}")
    idx = _zips_within_idx(lat, lon, radius_miles)
    df = _zips()
    out = df.iloc[idx[0]].copy()
    out["miles"] = idx[1]
    return out.sort_values("miles", kind="stable").reset_index(drop=True)


def _zips_within_idx(lat: float, lon: float, radius_miles: float) -> tuple[np.ndarray, np.ndarray]:
    # Latitude band first (a little wider than the radius), exact haversine inside it.
    order, lats, lons = _zips_by_lat()
    band = radius_miles / MILES_PER_DEGREE_LAT * 1.02 + 1e-9
    lo, hi = np.searchsorted(lats, [lat - band, lat + band + 1e-12])
    miles = haversine_miles(lat, lon, lats[lo:hi], lons[lo:hi])
    keep = miles <= radius_miles
    return order[lo:hi][keep], miles[keep]


def population_within(lats: np.ndarray, lons: np.ndarray, radius_miles: float) -> np.ndarray:
    """Residential population within radius_miles of each point (int64 array)."""
    pop = _zips()["population"].to_numpy()
    out = np.zeros(len(lats), dtype=np.int64)
    for i, (la, lo) in enumerate(zip(lats, lons, strict=True)):
        idx, _ = _zips_within_idx(float(la), float(lo), radius_miles)
        out[i] = pop[idx].sum()
    return out


def nearest_zip(lat: float, lon: float) -> str:
    """The ZIP whose centroid is nearest to (lat, lon)."""
    df = _zips()
    d = haversine_miles(lat, lon, df["lat"].to_numpy(), df["lon"].to_numpy())
    return str(df["zip"].iat[int(np.argmin(d))])


# ---------------------------------------------------------------------------- stores, cities


@cache
def _walmart_stores() -> pd.DataFrame:
    # pandas' C parser honours the quoted addresses that contain commas.
    raw = pd.read_csv(reference_path("walmart_stores.csv"), dtype={"ZIPCODE": str})
    opened = pd.to_datetime(
        {"year": raw["YEAR"], "month": raw["MONTH"], "day": raw["DAY"]}, errors="coerce"
    )
    df = pd.DataFrame({
        "storenum": raw["storenum"].astype(np.int64),
        "type": raw["type_store"].astype(str),
        "address": raw["STREETADDR"].astype(str).str.strip(),
        "city": raw["STRCITY"].astype(str).str.strip(),
        "state": raw["STRSTATE"].astype(str).str.strip(),
        "zip": raw["ZIPCODE"].astype(str).str.strip().str.zfill(5),
        "lat": raw["LAT"].astype(float),
        "lon": raw["LON"].astype(float),
        "opened": opened.dt.date,
    })
    return df.sort_values("storenum", kind="stable").reset_index(drop=True)


def load_walmart_stores() -> pd.DataFrame:
    """Walmart stores 1962-2006: storenum, type, address, city, state, zip (5 chars), lat, lon."""
    return _walmart_stores().copy()


@cache
def _cities() -> pd.DataFrame:
    raw = pd.read_csv(reference_path("us_cities_top1k.csv"))
    df = pd.DataFrame({
        "city": raw["City"].astype(str).str.strip(),
        "state_name": raw["State"].astype(str).str.strip(),
        "population": raw["Population"].astype(np.int64),
        "lat": raw["lat"].astype(float),
        "lon": raw["lon"].astype(float),
    })
    df["state"] = df["state_name"].map(STATE_CODES).fillna("")
    return df.sort_values(["population", "city"], ascending=[False, True]).reset_index(drop=True)


def load_cities() -> pd.DataFrame:
    """The 1,000 largest US cities: city, state_name, state (code), population, lat, lon."""
    return _cities().copy()


# ---------------------------------------------------------------------------- M5


class M5Data(NamedTuple):
    """The bundled M5 subset: wide daily sales (d_1..d_1913) and the full calendar."""

    sales: pd.DataFrame
    calendar: pd.DataFrame


@cache
def _m5() -> M5Data:
    sales = pd.read_csv(reference_path("m5/sales_train_validation.csv"))
    calendar = pd.read_csv(reference_path("m5/calendar.csv"), parse_dates=["date"])
    return M5Data(sales=sales, calendar=calendar)


def load_m5() -> M5Data:
    """M5 subset: `sales` (id, item_id, ..., d_1..d_1913) and `calendar` (date, events, SNAP)."""
    m5 = _m5()
    return M5Data(sales=m5.sales.copy(), calendar=m5.calendar.copy())


def load_m5_prices() -> pd.DataFrame:
    """M5 weekly sell prices of the subset's items: store_id, item_id, wm_yr_wk, sell_price."""
    return pd.read_csv(reference_path("m5/sell_prices.tsv"), sep="\t", index_col=0)

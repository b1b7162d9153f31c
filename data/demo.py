"""The demo network: real Walmart stores, DCs at population centres, a catalogue, stock, sales.

`build_network(DemoParams(...))` is pure and deterministic for a seed: every random draw
comes from generators spawned from `np.random.SeedSequence(seed)`, one per part (stores,
DCs, catalogue, stock, sales), so asking for more SKUs does not move the stores.

Choices (documented so that tests and colleagues can rely on them):
- Stores are a seeded sample, without replacement, of the region's real Walmart stores,
  weighted by the residential population within 10 miles (big-city stores are likelier).
- DCs sit at the centres of a population-weighted k-means of all the region's stores,
  snapped to the nearest unused top-1,000 US city (in the region when it has one) and to
  that city's nearest ZIP centroid.
- A store ranges an SKU with probability 1 - exp(-60 days x its daily rate): slow movers in
  a long catalogue live only at DCs, which keeps a 1,000 x 10,000 network writable.
- Daily sales are negative binomial (Poisson-gamma) with M5's dispersion, weekday profile
  and holiday factors (data/demand_shape.py), times a slow random-walk level per series.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd

from allocation.geo import haversine_miles
from data.demand_shape import day_factors, m5_demand_shape
from data.demo_catalogue import build_catalogue
from data.reference import (
    load_cities,
    load_walmart_stores,
    load_zips,
    nearest_zip,
    population_within,
)

DEFAULT_START = dt.date(2026, 3, 2)  # a Monday; fixed so the default network never changes
CATCHMENT_MILES = 10.0
MIN_CATCHMENT = 5_000  # rural stores whose 10-mile circle holds no ZIP centroid
RANGE_DAYS = 60.0  # a store ranges an SKU it expects to sell within about this many days
STORE_COVER_DAYS = (14.0, 28.0)  # stores hold a few weeks of their own sales
DC_COVER_DAYS = (42.0, 84.0)
ONLINE_SHARE = 0.5  # online demand DCs serve, as a share of all store demand
STOCKOUT_STORE, STOCKOUT_DC = 0.04, 0.02  # share of stock rows that start empty
SHIP_FROM_STORE_SHARE, CLICK_AND_COLLECT_SHARE = 0.75, 0.9
LEVEL_DRIFT = 0.25  # sd of a series' log demand level over the whole history
DC_SNAP_MILES = {"state": 40.0, "US": 150.0}  # look for a big city this far
SALES_CHUNK_CELLS = 4_000_000  # series x days drawn at once (bounds memory)


@cache
def _store_regions() -> frozenset[str]:
    return frozenset(load_walmart_stores()["state"].unique())


@dataclass(frozen=True)
class DemoParams:
    """What demo network to build; validated on creation."""

    seed: int = 7
    region: str = "TX"  # a state code with Walmart stores in the data, or "US" for all
    stores: int = 12
    skus: int = 100
    dcs: int = 3
    history_days: int = 730
    start: dt.date = DEFAULT_START  # first day after the sales history ("today" of the demo)

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"expected seed >= 0 (an int), got {self.seed!r}")
        region = self.region.strip().upper() if isinstance(self.region, str) else self.region
        if region != "US" and region not in _store_regions():
            known = ", ".join(sorted(_store_regions()))
            raise ValueError(
                f"expected region 'US' or a state code with Walmart stores ({known}), "
                f"got {self.region!r}"
            )
        object.__setattr__(self, "region", region)
        for name, low in (("stores", 1), ("skus", 1), ("history_days", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                raise ValueError(f"expected {name} >= {low}, got {value!r}")
        if not isinstance(self.dcs, int) or not 3 <= self.dcs <= 5:
            raise ValueError(f"expected 3 <= dcs <= 5, got {self.dcs!r}")
        if not isinstance(self.start, dt.date) or isinstance(self.start, dt.datetime):
            raise ValueError(f"expected start to be a datetime.date, got {self.start!r}")

    @property
    def history_start(self) -> dt.date:
        """First day of the sales history."""
        return self.start - dt.timedelta(days=self.history_days)


@dataclass
class DemoNetwork:
    """A built network as DataFrames; `id` columns are local (1-based) until written."""

    params: DemoParams
    nodes: pd.DataFrame  # DCs first, then stores; model columns plus store_type, demand_scale
    skus: pd.DataFrame  # model columns plus popularity_rank and daily_rate (units/day, scale 1)
    stock: pd.DataFrame  # node_id, sku_id, on_hand, reserved, safety_stock
    sales: pd.DataFrame  # node_id, sku_id, day, qty (stores only, nonzero days only)
    meta: dict[str, object] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: how many nodes, SKUs, stock rows and sales rows."""
        n_dc = int((self.nodes["kind"] == "dc").sum())
        return (
            f"{len(self.nodes)} nodes ({n_dc} DCs, {len(self.nodes) - n_dc} stores), "
            f"{len(self.skus)} SKUs, {len(self.stock)} stock rows, {len(self.sales)} sales rows"
        )


# ---------------------------------------------------------------------------- stores


@cache
def _catchments() -> np.ndarray:
    stores = load_walmart_stores()
    pop = population_within(stores["lat"].to_numpy(), stores["lon"].to_numpy(), CATCHMENT_MILES)
    out = np.maximum(pop, MIN_CATCHMENT)
    out.flags.writeable = False
    return out


def region_stores(region: str) -> pd.DataFrame:
    """Walmart stores of a region ("US" = all) with their 10-mile catchment population."""
    stores = load_walmart_stores()
    stores["catchment_population"] = _catchments()
    if region != "US":
        stores = stores[stores["state"] == region]
    return stores.reset_index(drop=True)


def _pick_stores(params: DemoParams, rng: np.random.Generator) -> pd.DataFrame:
    pool = region_stores(params.region)
    if params.stores > len(pool):
        raise ValueError(
            f"expected stores <= {len(pool)} (Walmart stores in {params.region}), "
            f"got {params.stores}"
        )
    w = pool["catchment_population"].to_numpy(dtype=float)
    idx = rng.choice(len(pool), size=params.stores, replace=False, p=w / w.sum())
    return pool.iloc[np.sort(idx)].reset_index(drop=True)


def _spread_flags(n: int, share: float, rng: np.random.Generator, *, not_all: bool) -> np.ndarray:
    # An exact count, not n coin flips, so "a majority but not all" holds for every seed.
    count = round(share * n)
    count = min(max(count, 1), n - 1) if not_all and n >= 2 else min(max(count, 1), n)
    flags = np.zeros(n, dtype=bool)
    flags[rng.permutation(n)[:count]] = True
    return flags


def _store_nodes(chosen: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    n = len(chosen)
    supercenter = (chosen["type"] == "Supercenter").to_numpy()
    capacity = np.where(supercenter, rng.integers(12, 21, n), rng.integers(4, 12, n)) * 10
    national_median = float(np.median(_catchments()))
    scale = (chosen["catchment_population"].to_numpy() / national_median) ** 0.4
    scale = np.clip(scale * np.where(supercenter, 1.2, 0.75), 0.3, 3.0)
    return pd.DataFrame({
        "code": [f"ST-{s}" for s in chosen["storenum"]],
        "name": [f"Walmart #{s} {c}" for s, c in zip(chosen["storenum"], chosen["city"],
                                                     strict=True)],
        "kind": "store",
        "address": chosen["address"].to_numpy(),
        # "Houston (Katy Mills)" names the store; the city is Houston.
        "city": chosen["city"].str.replace(r"\s*\(.*\)\s*$", "", regex=True).to_numpy(),
        "state": chosen["state"].to_numpy(),
        "zip": chosen["zip"].to_numpy(),
        "lat": chosen["lat"].to_numpy(),
        "lon": chosen["lon"].to_numpy(),
        "ship_from_store": _spread_flags(n, SHIP_FROM_STORE_SHARE, rng, not_all=True),
        "click_and_collect": _spread_flags(n, CLICK_AND_COLLECT_SHARE, rng, not_all=False),
        "pick_capacity_per_day": pd.array(capacity, dtype="Int64"),
        "pick_cost_per_unit": np.round(rng.uniform(1.2, 2.0, n), 2),
        "active": True,
        "store_type": chosen["type"].to_numpy(),
        "catchment_population": chosen["catchment_population"].to_numpy(),
        "demand_scale": scale,
    })


# ---------------------------------------------------------------------------- DCs


def _weighted_kmeans(
    xy: np.ndarray, w: np.ndarray, k: int, rng: np.random.Generator, iters: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Centres (k, 2) and labels of a weighted k-means with k-means++ seeding."""
    p = w / w.sum()
    centres = [xy[rng.choice(len(xy), p=p)]]
    for _ in range(1, k):
        d2 = np.min(((xy[:, None, :] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
        q = w * d2
        centres.append(xy[rng.choice(len(xy), p=q / q.sum())])
    c = np.array(centres)
    labels = np.zeros(len(xy), dtype=np.int64)
    for _ in range(iters):
        labels = np.argmin(((xy[:, None, :] - c[None]) ** 2).sum(-1), axis=1)
        mass = np.bincount(labels, weights=w, minlength=k)
        new = c.copy()
        has = mass > 0
        for dim in range(2):
            moment = np.bincount(labels, weights=w * xy[:, dim], minlength=k)
            new[has, dim] = moment[has] / mass[has]
        if np.allclose(new, c):
            break
        c = new
    return c, labels


def _dc_nodes(params: DemoParams, rng: np.random.Generator) -> pd.DataFrame:
    pool = region_stores(params.region)
    points = pool[["lat", "lon"]].drop_duplicates()
    if len(points) < params.dcs:
        raise ValueError(
            f"expected dcs <= {len(points)} (distinct store locations in {params.region}), "
            f"got {params.dcs}"
        )
    # Cluster in a locally flat frame: a degree of longitude shrinks with cos(latitude).
    coslat = np.cos(np.radians(pool["lat"].mean()))
    xy = np.column_stack([pool["lat"].to_numpy(), pool["lon"].to_numpy() * coslat])
    w = pool["catchment_population"].to_numpy(dtype=float)
    centres, labels = _weighted_kmeans(xy, w, params.dcs, rng)
    mass = np.bincount(labels, weights=w, minlength=params.dcs)

    cities = load_cities()
    used: set[int] = set()
    rows = []
    for j in np.argsort(-mass, kind="stable"):  # biggest population centre chooses first
        lat, lon = centres[j, 0], centres[j, 1] / coslat
        miles = haversine_miles(lat, lon, cities["lat"].to_numpy(), cities["lon"].to_numpy())
        free = ~cities.index.isin(list(used))
        in_region = free & ((cities["state"] == params.region).to_numpy() | (params.region == "US"))
        allowed = in_region if in_region.any() else free
        # The largest city within DC_SNAP_MILES of the centre (a metro's core city, not a
        # suburb), else simply the nearest city.
        near = allowed & (miles <= DC_SNAP_MILES["US" if params.region == "US" else "state"])
        pick = int(np.argmax(np.where(near, cities["population"].to_numpy(), -1))) \
            if near.any() else int(np.argmin(np.where(allowed, miles, np.inf)))
        used.add(pick)
        city = cities.iloc[pick]
        zip_code = nearest_zip(float(city["lat"]), float(city["lon"]))
        rows.append((city, zip_code, mass[j] / mass.sum()))

    zips = load_zips().set_index("zip")
    slugs = [re.sub(r"[^A-Za-z0-9]", "", c["city"]) for c, _, _ in rows]
    codes = [
        f"DC-{s}" if slugs.count(s) == 1 else f"DC-{s}-{c['state']}"
        for s, (c, _, _) in zip(slugs, rows, strict=True)
    ]
    n = len(rows)
    return pd.DataFrame({
        "code": codes,
        "name": [f"{c['city']} DC" for c, _, _ in rows],
        "kind": "dc",
        "address": "",
        "city": [c["city"] for c, _, _ in rows],
        "state": [c["state"] for c, _, _ in rows],
        "zip": [z for _, z, _ in rows],
        "lat": [float(zips.at[z, "lat"]) for _, z, _ in rows],
        "lon": [float(zips.at[z, "lon"]) for _, z, _ in rows],
        "ship_from_store": False,
        "click_and_collect": False,
        "pick_capacity_per_day": pd.array([None] * n, dtype="Int64"),  # unconstrained
        "pick_cost_per_unit": np.round(rng.uniform(0.35, 0.6, n), 2),
        "active": True,
        "store_type": "DC",
        "catchment_population": 0,
        "demand_scale": 0.0,
        "population_share": [s for _, _, s in rows],
    })


# ---------------------------------------------------------------------------- stock


def _stock(
    nodes: pd.DataFrame, skus: pd.DataFrame, mu: np.ndarray, ranged: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    dcs = nodes[nodes["kind"] == "dc"]
    stores = nodes[nodes["kind"] == "store"]
    # Stores: a few weeks of their own expected sales plus a presentation minimum of 1-3.
    r, c = np.nonzero(ranged)
    m = mu[r, c].astype(float)
    cover = rng.uniform(*STORE_COVER_DAYS, len(stores))[r]
    on_hand = rng.poisson(m * cover) + rng.integers(1, 4, len(r))
    on_hand[rng.random(len(r)) < STOCKOUT_STORE] = 0
    safety = np.where(m >= 1.0, 2, np.where(m >= 0.2, 1, 0))
    store_rows = pd.DataFrame({
        "node_id": stores["id"].to_numpy()[r], "sku_id": skus["id"].to_numpy()[c],
        "on_hand": on_hand, "reserved": 0, "safety_stock": safety,
    })

    # DCs: every SKU, sized on the stores nearest to them plus their share of online demand.
    nearest = np.argmin(
        haversine_miles(stores["lat"].to_numpy()[:, None], stores["lon"].to_numpy()[:, None],
                        dcs["lat"].to_numpy()[None], dcs["lon"].to_numpy()[None]),
        axis=1,
    )
    total = mu.sum(axis=0, dtype=float)
    rate = np.vstack([
        mu[nearest == d].sum(axis=0, dtype=float) + ONLINE_SHARE * share * total
        for d, share in enumerate(dcs["population_share"].to_numpy())
    ])
    dc_on_hand = np.maximum(np.round(rate * rng.uniform(*DC_COVER_DAYS, rate.shape)), 6)
    dc_on_hand[rng.random(rate.shape) < STOCKOUT_DC] = 0
    dc_rows = pd.DataFrame({
        "node_id": np.repeat(dcs["id"].to_numpy(), len(skus)),
        "sku_id": np.tile(skus["id"].to_numpy(), len(dcs)),
        "on_hand": dc_on_hand.ravel().astype(np.int64),
        "reserved": 0,
        "safety_stock": 0,
    })
    stock = pd.concat([dc_rows, store_rows], ignore_index=True)
    return stock.astype({"node_id": np.int32, "sku_id": np.int32, "on_hand": np.int64,
                         "reserved": np.int64, "safety_stock": np.int64})


# ---------------------------------------------------------------------------- sales


def _sales(
    params: DemoParams, store_ids: np.ndarray, sku_ids: np.ndarray, mu: np.ndarray,
    ranged: np.ndarray, rng: np.random.Generator,
) -> pd.DataFrame:
    days = params.history_days
    empty = pd.DataFrame({"node_id": np.zeros(0, np.int32), "sku_id": np.zeros(0, np.int32),
                          "day": pd.to_datetime(np.zeros(0, "datetime64[s]")),
                          "qty": np.zeros(0, np.int32)})
    if days == 0:
        return empty
    shape = m5_demand_shape()
    k = shape.dispersion
    factor = day_factors(params.history_start, days, shape)
    r, c = np.nonzero(ranged)
    series_mu = mu[r, c].astype(float)
    weeks = -(-days // 7)
    chunk = max(1, SALES_CHUNK_CELLS // days)
    parts = []
    for lo in range(0, len(r), chunk):
        hi = min(lo + chunk, len(r))
        n = hi - lo
        # Slow level: a weekly log random walk, centred so each series keeps its mean.
        walk = np.cumsum(rng.normal(0, LEVEL_DRIFT / np.sqrt(weeks), (n, weeks)), axis=1)
        level = np.exp(np.repeat(walk, 7, axis=1)[:, :days])
        level /= level.mean(axis=1, keepdims=True)
        lam = series_mu[lo:hi, None] * factor[None, :] * level
        qty = rng.poisson(lam * rng.gamma(k, 1.0 / k, (n, days)))
        s, d = np.nonzero(qty)
        parts.append((r[lo:hi][s], c[lo:hi][s], d, qty[s, d]))
    rows = np.concatenate([p[0] for p in parts])
    cols = np.concatenate([p[1] for p in parts])
    day_idx = np.concatenate([p[2] for p in parts])
    first = np.datetime64(params.history_start, "D")
    return pd.DataFrame({
        "node_id": store_ids[rows].astype(np.int32),
        "sku_id": sku_ids[cols].astype(np.int32),
        "day": pd.to_datetime((first + day_idx.astype("timedelta64[D]")).astype("datetime64[s]")),
        "qty": np.concatenate([p[3] for p in parts]).astype(np.int32),
    })


# ---------------------------------------------------------------------------- build


def build_network(params: DemoParams | None = None) -> DemoNetwork:
    """Build the demo network for params (pure and deterministic for params.seed)."""
    params = params or DemoParams()
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(params.seed).spawn(5)]
    rng_stores, rng_dcs, rng_skus, rng_stock, rng_sales = streams

    stores = _store_nodes(_pick_stores(params, rng_stores), rng_stores)
    dcs = _dc_nodes(params, rng_dcs)
    nodes = pd.concat([dcs, stores], ignore_index=True)
    nodes.insert(0, "id", np.arange(1, len(nodes) + 1))
    nodes["population_share"] = nodes["population_share"].fillna(0.0)
    skus = build_catalogue(params.skus, rng_skus)

    # Expected units per day of every (store, SKU); float32 keeps 1,000 x 10,000 at 40 MB.
    scale = nodes.loc[nodes["kind"] == "store", "demand_scale"].to_numpy(dtype=np.float32)
    mu = scale[:, None] * skus["daily_rate"].to_numpy(dtype=np.float32)[None, :]
    ranged = rng_stock.random(mu.shape, dtype=np.float32) < -np.expm1(-mu * RANGE_DAYS)
    stock = _stock(nodes, skus, mu, ranged, rng_stock)
    store_ids = nodes.loc[nodes["kind"] == "store", "id"].to_numpy()
    sales = _sales(params, store_ids, skus["id"].to_numpy(), mu, ranged, rng_sales)
    return DemoNetwork(params=params, nodes=nodes, skus=skus, stock=stock, sales=sales,
                       meta={"dispersion": m5_demand_shape().dispersion})


__all__ = ["DemoNetwork", "DemoParams", "build_network"]

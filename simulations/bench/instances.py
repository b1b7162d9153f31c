"""Replay instances (`omni-replay/1`, docs/REPLAY.md): the one generator of the benchmark
tooling, with two designs.

- `generate(ReplayGenParams)`: from the demo network of a region (`omni replay-gen`).
  Customers live at real ZIP centroids of the region, drawn in proportion to population;
  an order type is a ZIP and a set of SKUs (one unit each) drawn by SKU popularity.
- `generate(SynthParams)` (= `synth_instance`): the literature design of
  shared/bench/REPLAY.md (DCs at e-commerce sites, metro demand, walk-ins), any size.

In both the expected counts (`expected_orders`) are the forecast and the realised
`orders` one seeded draw from it, so a policy that trusts the forecast is not handed the
answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from allocation.geo import haversine_miles
from data.demo import DemoParams, build_network
from data.reference import load_zips

FORMAT = "omni-replay/1"
SIZE_MIX = (0.55, 0.3, 0.15)  # share of orders with 1, 2, 3 lines (one unit each)


@dataclass(frozen=True)
class ReplayGenParams:
    """What instance to make; validated on creation."""

    demo: DemoParams = field(default_factory=lambda: DemoParams(history_days=0))
    orders: int = 2000
    pickup_share: float = 0.15
    locations: int = 150  # most populous ZIPs of the region used as customer locations
    order_types: int = 400  # distinct (location, SKU set) pairs in expected_orders
    capacity_days: int = 7  # store pick capacity for the instance = daily capacity x days
    # Expected units asked / usable units at nodes that ship: stock is scaled to this so it
    # binds (the demo holds weeks of stock; an instance is a few days of online orders).
    pressure: float | None = 0.9
    seed: int = 11
    name: str | None = None

    def __post_init__(self) -> None:
        if self.orders < 1:
            raise ValueError(f"expected orders >= 1, got {self.orders}")
        if not 0.0 <= self.pickup_share <= 1.0:
            raise ValueError(f"expected 0 <= pickup_share <= 1, got {self.pickup_share}")
        if self.locations < 1 or self.order_types < 1:
            raise ValueError("expected locations >= 1 and order_types >= 1")
        if self.pressure is not None and self.pressure <= 0:
            raise ValueError(f"expected pressure > 0, got {self.pressure}")
        if self.capacity_days < 1:
            raise ValueError(f"expected capacity_days >= 1, got {self.capacity_days}")


def _region_zips(nodes: pd.DataFrame, k: int) -> pd.DataFrame:
    # Customer ZIPs: the most populous within 60 miles of any store of the network.
    zips = load_zips()
    stores = nodes[nodes["kind"] == "store"]
    d = haversine_miles(zips["lat"].to_numpy()[:, None], zips["lon"].to_numpy()[:, None],
                        stores["lat"].to_numpy()[None, :], stores["lon"].to_numpy()[None, :])
    near = zips[(d.min(axis=1) <= 60.0) & (zips["population"] > 0)]
    return near.nlargest(k, "population").reset_index(drop=True)


def generate(params: ReplayGenParams) -> dict[str, Any]:
    """Build one replay instance as a JSON-ready dict (deterministic for the seeds)."""
    net = build_network(params.demo)
    rng = np.random.default_rng(params.seed)
    nodes, skus, stock = net.nodes, net.skus, net.stock
    node_code = dict(zip(nodes["id"], nodes["code"], strict=True))
    sku_code = dict(zip(skus["id"], skus["code"], strict=True))

    node_rows = [{
        "id": r.code, "kind": r.kind, "lat": float(r.lat), "lon": float(r.lon),
        "ship_from_store": bool(r.ship_from_store), "click_and_collect": bool(r.click_and_collect),
        "pick_capacity": None if pd.isna(r.pick_capacity_per_day)
        else int(r.pick_capacity_per_day) * params.capacity_days,
    } for r in nodes.itertuples()]

    # Order types: location by population, SKUs by popularity, one unit each.
    locs = _region_zips(nodes, params.locations)
    loc_p = locs["population"].to_numpy(float)
    loc_p /= loc_p.sum()
    pop = skus["daily_rate"].to_numpy(float)
    pop /= pop.sum()
    types: dict[tuple[int, tuple[int, ...]], float] = {}
    while len(types) < params.order_types:
        size = int(rng.choice(len(SIZE_MIX), p=SIZE_MIX)) + 1
        loc = int(rng.choice(len(locs), p=loc_p))
        chosen = tuple(sorted(int(j) for j in rng.choice(len(skus), size=size, replace=False,
                                                         p=pop)))
        types[(loc, chosen)] = types.get((loc, chosen), 0.0) + loc_p[loc] * float(
            np.prod(pop[list(chosen)])) ** (1.0 / size)
    keys = list(types)
    weight = np.array([types[k] for k in keys])
    weight /= weight.sum()
    expected = weight * params.orders

    # How hard stock binds: expected units asked / usable units at nodes that ship.
    usable = stock.assign(u=(stock["on_hand"] - stock["safety_stock"]).clip(lower=0))
    ships = nodes.set_index("id")["kind"].eq("dc") | nodes.set_index("id")[
        "ship_from_store"].astype(bool)
    usable = usable[usable["node_id"].map(ships)]
    asked = {}
    for (_, chosen), e in zip(keys, expected, strict=True):
        for j in chosen:
            sid = int(skus["id"].iloc[j])
            asked[sid] = asked.get(sid, 0.0) + e
    held = usable.groupby("sku_id")["u"].sum().reindex(list(asked)).fillna(0).sum()
    pressure = sum(asked.values()) / max(float(held), 1.0)
    if params.pressure is not None and pressure > 0:
        # Binomial thinning keeps every node's share of the stock and stays deterministic.
        keep = min(1.0, pressure / params.pressure)
        stock = stock.assign(on_hand=rng.binomial(stock["on_hand"].to_numpy(np.int64), keep))
        pressure = pressure / keep
    inventory = [{"node": node_code[r.node_id], "sku": sku_code[r.sku_id],
                  "on_hand": int(r.on_hand), "safety_stock": int(r.safety_stock)}
                 for r in stock.itertuples() if r.on_hand > 0]
    n_orders = params.orders

    # Realised stream: a seeded draw of n_orders types from the forecast's mix.
    draw = rng.choice(len(keys), size=n_orders, p=weight)
    cc = nodes[(nodes["kind"] == "store") & nodes["click_and_collect"].astype(bool)]
    d_cc = haversine_miles(locs["lat"].to_numpy()[:, None], locs["lon"].to_numpy()[:, None],
                           cc["lat"].to_numpy()[None, :], cc["lon"].to_numpy()[None, :])
    nearest_cc = cc["code"].to_numpy()[d_cc.argmin(axis=1)] if len(cc) else None
    pickup = rng.random(n_orders) < params.pickup_share if len(cc) else np.zeros(n_orders, bool)
    orders = []
    for t, (k, is_pickup) in enumerate(zip(draw, pickup, strict=True), start=1):
        loc, chosen = keys[int(k)]
        row = locs.iloc[loc]
        orders.append({
            "id": f"o-{t:06d}", "t": t, "lat": float(row["lat"]), "lon": float(row["lon"]),
            "method": "pickup" if is_pickup else "ship",
            "pickup_node": str(nearest_cc[loc]) if is_pickup else None,
            "lines": [{"sku": sku_code[int(skus["id"].iloc[j])], "qty": 1} for j in chosen],
        })
    return {
        "format": FORMAT,
        "name": params.name or (f"demo-{params.demo.region.lower()}-s{params.demo.seed}"
                                f"-o{n_orders}-r{params.seed}"),
        "nodes": node_rows,
        "skus": [{"id": r.code, "weight_lb": float(r.weight_lb)} for r in skus.itertuples()],
        "inventory": inventory,
        "costs": {"model": "distance", "per_parcel": 8.759, "per_unit": 0.423,
                  "per_unit_mile": 0.000541, "unfilled_multiplier": 2.0,
                  "pick_cost": {"dc": 0.0, "store": 0.0}},
        "expected_orders": [
            {"lat": float(locs.iloc[loc]["lat"]), "lon": float(locs.iloc[loc]["lon"]),
             "skus": [sku_code[int(skus["id"].iloc[j])] for j in chosen],
             "count": round(float(e), 6)}
            for (loc, chosen), e in zip(keys, expected, strict=True) if e > 0
        ],
        "orders": orders,
        "meta": {"generator": "omni replay-gen", "demo_seed": params.demo.seed,
                 "region": params.demo.region, "seed": params.seed,
                 "pickup_share": params.pickup_share,
                 "demand_over_stock": round(pressure, 4),
                 "zip_source": "SimpleMaps US ZIPs (CC BY 4.0, simplemaps.com)",
                 "expected_total": round(float(expected.sum()), 3),
                 "orders_total": n_orders},
    }

__all__ = ["BENCH_SIZES", "SynthParams", "synth_instance"]

# Metro areas (lat, lon, population in millions): the demand points of the design.
_METROS = [
    (40.7128, -74.0060, 19.5), (34.0522, -118.2437, 13.0), (41.8781, -87.6298, 9.5),
    (29.7604, -95.3698, 7.1), (39.9526, -75.1652, 6.2), (33.4484, -112.0740, 4.9),
    (32.7767, -96.7970, 7.6), (37.3382, -121.8863, 2.0), (30.2672, -97.7431, 2.3),
    (39.7684, -86.1581, 2.1), (47.6062, -122.3321, 4.0), (33.7490, -84.3880, 6.1),
    (25.7617, -80.1918, 6.1), (42.3601, -71.0589, 4.9), (39.7392, -104.9903, 2.9),
]
# Candidate DC sites (typical e-commerce fulfilment centre locations).
_DC_SITES = [
    (33.1667, -94.9814), (31.9862, -81.2026), (40.3659, -83.7582), (36.1727, -115.0580),
    (40.6084, -75.4902), (34.0633, -117.6509), (41.5868, -87.3320), (35.1495, -90.0490),
    (39.0997, -94.5786), (47.2529, -122.4443),
]


@dataclass(frozen=True)
class SynthParams:
    """Size and shape of a synthetic instance.

    Up to 15 demand points are the built-in metro areas and up to 10 DCs the built-in
    e-commerce sites (the REPLAY.md sample). Larger designs take their demand points from the
    largest US cities (`data/reference/us_cities_top1k.csv`, by population: the literature's
    99 cities, or 1,000 regions) and their extra DC sites from large cities too.
    """

    seed: int = 0
    dcs: int = 4
    metros: int = 12
    skus: int = 15
    sets_per_size: int = 5
    max_skus_per_order: int = 5
    expected_orders: float = 2900.0
    periods: int = 4000
    stock_ratio: float = 1.05  # total stock / expected units, per SKU on average
    stores: int = 0  # stores near metros, shipping from store
    store_share: float = 0.25  # share of a SKU's stock placed in stores (when stores > 0)
    walkin_units: float = 0.0  # expected walk-in units per store per SKU held
    walkin_margin: float = 12.0
    # "metros" (the 15 built-in metro areas), "cities" (the largest US cities, up to 1,000)
    # or "auto": metros when they suffice, else cities.
    demand_points: str = "auto"
    name: str | None = None

    def __post_init__(self) -> None:
        for name in ("dcs", "metros", "skus", "sets_per_size", "max_skus_per_order", "periods"):
            if getattr(self, name) < 1:
                raise ValueError(f"expected {name} >= 1, got {getattr(self, name)}")
        if self.demand_points not in ("auto", "metros", "cities"):
            raise ValueError(f"expected demand_points auto | metros | cities, "
                             f"got {self.demand_points!r}")
        cap = len(_METROS) if self.demand_points == "metros" else _MAX_CITIES
        if self.dcs > _MAX_DCS or self.metros > cap:
            raise ValueError(f"expected dcs <= {_MAX_DCS} and metros <= {cap}")
        if self.expected_orders > self.periods:
            raise ValueError("expected expected_orders <= periods (one order per period)")
        if self.stores < 0 or self.walkin_units < 0 or self.stock_ratio <= 0:
            raise ValueError("expected stores >= 0, walkin_units >= 0 and stock_ratio > 0")

    @property
    def uses_cities(self) -> bool:
        """Demand points from the city list (more than the 15 metros, or asked for)."""
        return self.demand_points == "cities" or (self.demand_points == "auto"
                                                  and self.metros > len(_METROS))


_MAX_CITIES = 1000
_MAX_DCS = 100
_SITE_POOL = 300  # extra DC sites are drawn from this many largest cities

# The three benchmark sizes of issue 17 (same design, growing): DCs (+ ship-from-store
# stores) x demand points x SKUs, orders of up to 5 / 8 / 8 lines.
BENCH_SIZES: dict[str, SynthParams] = {
    "small": SynthParams(seed=1, dcs=5, metros=10, skus=20, sets_per_size=5,
                         max_skus_per_order=5, expected_orders=2900.0, periods=4000,
                         name="bench-small"),
    "mid": SynthParams(seed=2, dcs=10, metros=99, skus=50, sets_per_size=8,
                       max_skus_per_order=8, expected_orders=28000.0, periods=40000,
                       name="bench-mid"),
    "large": SynthParams(seed=3, dcs=10, stores=40, metros=1000, skus=1000, sets_per_size=4,
                         max_skus_per_order=8, expected_orders=50000.0, periods=70000,
                         name="bench-large"),
}


def _demand_points(rng: np.random.Generator, p: SynthParams) -> list[tuple[float, float, float]]:
    """(lat, lon, population in millions) of each demand point."""
    if not p.uses_cities:
        return [_METROS[i] for i in rng.choice(len(_METROS), p.metros, replace=False)]
    from data.reference import load_cities

    top = load_cities().head(p.metros)
    return [(round(float(r.lat), 4), round(float(r.lon), 4), float(r.population) / 1e6)
            for r in top.itertuples()]


def _dc_sites(rng: np.random.Generator, p: SynthParams) -> list[tuple[float, float]]:
    """The built-in e-commerce sites, then (beyond 10) sites near large cities."""
    idx = rng.choice(len(_DC_SITES), min(p.dcs, len(_DC_SITES)), replace=False)
    sites = [_DC_SITES[i] for i in idx]
    if p.dcs > len(_DC_SITES):
        from data.reference import load_cities

        pool = load_cities().head(_SITE_POOL)
        for i in rng.choice(len(pool), p.dcs - len(_DC_SITES), replace=False):
            r = pool.iloc[int(i)]
            sites.append((round(float(r.lat) + rng.normal(0, 0.2), 4),
                          round(float(r.lon) + rng.normal(0, 0.2), 4)))
    return sites


def synth_instance(p: SynthParams) -> dict[str, Any]:
    """An instance dict of the REPLAY.md design (plus stores and walk-ins when asked)."""
    rng = np.random.default_rng(p.seed)
    if p.uses_cities or p.dcs > len(_DC_SITES):
        sites = _dc_sites(rng, p)
        metros = _demand_points(rng, p)
    else:  # the original draw order: seeds of the small design keep their instances
        dc_idx = rng.choice(len(_DC_SITES), p.dcs, replace=False)
        sites = [_DC_SITES[i] for i in dc_idx]
        metros = [_METROS[i] for i in rng.choice(len(_METROS), p.metros, replace=False)]
    nodes: list[dict[str, Any]] = [
        {"id": f"DC-{k}", "kind": "dc", "lat": lat, "lon": lon,
         "ship_from_store": False, "click_and_collect": False, "pick_capacity": None}
        for k, (lat, lon) in enumerate(sites)]
    for k in range(p.stores):
        m = metros[k % len(metros)]
        nodes.append({"id": f"ST-{k}", "kind": "store",
                      "lat": round(m[0] + rng.normal(0, 0.15), 4),
                      "lon": round(m[1] + rng.normal(0, 0.15), 4),
                      "ship_from_store": True, "click_and_collect": True, "pick_capacity": None})
    skus = [f"SKU-{j + 1:04d}" for j in range(p.skus)]
    popularity = rng.dirichlet(np.full(p.skus, 1.5))
    pop = np.array([m[2] for m in metros])
    types: list[tuple[int, tuple[int, ...], float]] = []
    size_w = 1.0 / np.arange(1, p.max_skus_per_order + 1)
    for c in range(p.metros):
        for size in range(1, min(p.max_skus_per_order, p.skus) + 1):
            for _ in range(p.sets_per_size):
                chosen = tuple(sorted(rng.choice(p.skus, size, replace=False, p=popularity)))
                w = pop[c] * size_w[size - 1] * rng.uniform(0.5, 1.5)
                types.append((c, chosen, float(w)))
    weights = np.array([w for _, _, w in types])
    counts = weights / weights.sum() * p.expected_orders
    expected = [{"lat": metros[c][0], "lon": metros[c][1], "skus": [skus[j] for j in chosen],
                 "count": float(n)} for (c, chosen, _), n in zip(types, counts, strict=True)]
    units = np.zeros(p.skus)
    for (_, chosen, _), n in zip(types, counts, strict=True):
        units[list(chosen)] += n
    inventory = []
    for j in range(p.skus):
        total = units[j] * p.stock_ratio * rng.uniform(0.85, 1.15)
        store_total = total * p.store_share if p.stores else 0.0
        held = rng.choice(p.dcs, int(rng.integers(min(2, p.dcs), p.dcs + 1)), replace=False)
        share = rng.dirichlet(np.full(len(held), 2.0))
        for n, s in zip(held, share, strict=True):
            q = round(float((total - store_total) * s))
            if q > 0:
                inventory.append({"node": nodes[n]["id"], "sku": skus[j], "on_hand": q,
                                  "safety_stock": 0})
        for k in range(p.stores):
            q = int(rng.poisson(store_total / p.stores))
            if q > 0:
                inventory.append({"node": f"ST-{k}", "sku": skus[j], "on_hand": q,
                                  "safety_stock": int(q >= 4)})
    # One period at a time: an order arrives with probability E / T, of a type by its count.
    arrive = np.flatnonzero(rng.random(p.periods) < p.expected_orders / p.periods)
    pick = rng.choice(len(types), len(arrive), p=counts / counts.sum())
    orders = []
    for k, (t, ty) in enumerate(zip(arrive, pick, strict=True)):
        e = expected[int(ty)]
        orders.append({"id": f"o-{k + 1:06d}", "t": int(t) + 1, "lat": e["lat"], "lon": e["lon"],
                       "method": "ship", "pickup_node": None,
                       "lines": [{"sku": s, "qty": 1} for s in e["skus"]]})
    inst: dict[str, Any] = {
        "format": "omni-replay/1", "name": p.name or f"synth-{p.seed}", "nodes": nodes,
        "skus": [{"id": s, "weight_lb": 1.0} for s in skus], "inventory": inventory,
        "costs": {"model": "distance", "per_parcel": 8.759, "per_unit": 0.423,
                  "per_unit_mile": 0.000541, "unfilled_multiplier": 2.0,
                  "pick_cost": {"dc": 0.0, "store": 0.5}},
        "expected_orders": expected, "orders": orders,
    }
    if p.stores and p.walkin_units > 0:
        inst["expected_walkins"], inst["walkins"] = _walkins(rng, p, inventory)
    return inst


def _walkins(rng: np.random.Generator, p: SynthParams,
             inventory: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Expected and realised walk-ins for every (store, SKU) the store stocks."""
    expected, realised = [], []
    for row in inventory:
        if not row["node"].startswith("ST-"):
            continue
        mean = p.walkin_units * rng.uniform(0.5, 1.5) * row["on_hand"] / max(row["on_hand"], 1)
        expected.append({"store": row["node"], "sku": row["sku"], "qty": float(mean),
                         "margin": p.walkin_margin})
        for t in np.sort(rng.integers(1, p.periods + 1, int(rng.poisson(mean)))):
            realised.append({"store": row["node"], "sku": row["sku"], "t": int(t), "qty": 1,
                             "margin": p.walkin_margin})
    realised.sort(key=lambda w: (w["t"], w["store"], w["sku"]))
    return expected, realised


def generate_instance(params: ReplayGenParams | SynthParams) -> dict[str, Any]:
    """An instance of either design."""
    return generate(params) if isinstance(params, ReplayGenParams) else synth_instance(params)


def main(argv: list[str] | None = None) -> None:
    """Write a benchmark-size instance: `python -m simulations.bench.instances mid out.json`."""
    import argparse
    import dataclasses
    import json
    from pathlib import Path

    ap = argparse.ArgumentParser(description="Write an omni-replay/1 instance of the "
                                 "REPLAY.md design at a benchmark size (issue 17).")
    ap.add_argument("size", choices=sorted(BENCH_SIZES), help="small | mid | large")
    ap.add_argument("out", type=Path, help="where to write the instance JSON")
    ap.add_argument("--seed", type=int, default=None,
                    help="seed of the draw (default: the benchmark's own)")
    args = ap.parse_args(argv)
    p = BENCH_SIZES[args.size]
    if args.seed is not None:
        p = dataclasses.replace(p, seed=args.seed, name=f"bench-{args.size}-s{args.seed}")
    inst = synth_instance(p)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(inst, separators=(",", ":")))
    print(f"wrote {args.out}: {len(inst['nodes'])} nodes, {len(inst['skus'])} SKUs, "
          f"{len(inst['expected_orders'])} order types, {len(inst['orders'])} orders")


if __name__ == "__main__":
    main()

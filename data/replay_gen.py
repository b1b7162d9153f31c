"""Replay instances (`omni-replay/1`, see docs/REPLAY.md) made from the demo network.

Customers live at real ZIP centroids of the region, drawn in proportion to population;
an order type is a ZIP and a set of SKUs (one unit each) drawn by SKU popularity. The
expected counts (`expected_orders`) are the forecast; the realised `orders` are one seeded
draw from it, so a policy that trusts the forecast is not handed the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from data.demo import DemoParams, build_network
from data.geo import haversine_miles
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

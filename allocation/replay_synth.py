"""Synthetic `omni-replay/1` instances of the REPLAY.md design, for testing policies untuned.

The design of the published benchmark (Jasin & Sinha 2015, Ma 2023): a few DCs, a dozen
metro areas weighted by population, a small catalogue with skewed popularity, order types
of one to five SKUs per metro, stock roughly matching expected demand but spread unevenly
over the DCs, and a realised stream drawn from `expected_orders` one period at a time.
Optionally stores that ship from store and hold shelf stock, with walk-in shoppers
(docs/REPLAY_EXTENSIONS.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["SynthParams", "synth_instance"]

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
    """Size and shape of a synthetic instance."""

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

    def __post_init__(self) -> None:
        for name in ("dcs", "metros", "skus", "sets_per_size", "max_skus_per_order", "periods"):
            if getattr(self, name) < 1:
                raise ValueError(f"expected {name} >= 1, got {getattr(self, name)}")
        if self.dcs > len(_DC_SITES) or self.metros > len(_METROS):
            raise ValueError(f"expected dcs <= {len(_DC_SITES)} and metros <= {len(_METROS)}")
        if self.expected_orders > self.periods:
            raise ValueError("expected expected_orders <= periods (one order per period)")
        if self.stores < 0 or self.walkin_units < 0 or self.stock_ratio <= 0:
            raise ValueError("expected stores >= 0, walkin_units >= 0 and stock_ratio > 0")


def synth_instance(p: SynthParams) -> dict[str, Any]:
    """An instance dict of the REPLAY.md design (plus stores and walk-ins when asked)."""
    rng = np.random.default_rng(p.seed)
    dc_idx = rng.choice(len(_DC_SITES), p.dcs, replace=False)
    metros = [_METROS[i] for i in rng.choice(len(_METROS), p.metros, replace=False)]
    nodes: list[dict[str, Any]] = [
        {"id": f"DC-{k}", "kind": "dc", "lat": _DC_SITES[i][0], "lon": _DC_SITES[i][1],
         "ship_from_store": False, "click_and_collect": False, "pick_capacity": None}
        for k, i in enumerate(dc_idx)]
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
        held = rng.choice(p.dcs, int(rng.integers(2, p.dcs + 1)), replace=False)
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
        "format": "omni-replay/1", "name": f"synth-{p.seed}", "nodes": nodes,
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

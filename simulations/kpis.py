"""KPIs of a run, the hindsight bound over the realised orders, and the gap each policy closes.

The bound is optimizer.dlp's deterministic LP with every realised online order as an order
type of count one (identical orders merged), against all the stock that was ever at each
node during the run (initial + replenishment received - replenishment sent on, the largest
over the policies) and each node's pick capacity summed over the horizon. Time is relaxed
(stock that arrives on day 30 may serve day 1), so no policy can beat it: it is a lower
bound on the online fulfilment cost (shipping, pick, unfilled penalties) of any policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from allocation.candidates import build_candidates
from allocation.network import UNLIMITED, Order, OrderLine
from optimizer.dlp import DLPType, dlp_bound
from simulations.demand import Demand
from simulations.engine import Run
from simulations.world import World

__all__ = ["BoundResult", "gap_closed", "hindsight_bound", "run_kpis"]


def run_kpis(run: Run) -> dict[str, float | int | str]:
    """The KPI row of one run (one scenario, seed and policy)."""
    w = run.world
    orders = run.orders
    n = max(len(orders), 1)
    units = sum(o.units for o in orders)
    filled = sum(o.filled for o in orders)
    ship = sum(o.shipping for o in orders)
    pick = sum(o.pick for o in orders)
    unfilled_cost = sum(o.unfilled_cost for o in orders)
    walk_demand = sum(r.demand for r in run.walk_ins)
    walk_lost = sum(r.lost for r in run.walk_ins)
    flows = run.flows
    out_units = int(flows["shipped"].sum() + flows["sold"].sum() + flows["collected"].sum())
    avg_stock = float(np.mean(run.on_hand_days)) if run.on_hand_days else 0.0
    store_days = [d for d in run.days if d.kind == "store" and d.capacity > 0]
    cap = sum(d.capacity for d in store_days)
    methods: dict[str, int] = {}
    for p in run.parcels:
        if not p.rejected:
            methods[p.method] = methods.get(p.method, 0) + p.units
    shipped_units = max(sum(methods.values()), 1)
    return {
        "policy": run.policy.name, "seed": run.demand.seed, "orders": len(orders),
        "units": units,
        "cost_per_order": (ship + pick) / n, "shipping_per_order": ship / n,
        "pick_per_order": pick / n, "unfilled_cost_per_order": unfilled_cost / n,
        "objective": ship + pick + unfilled_cost,
        "parcels_per_order": sum(o.parcels for o in orders) / n,
        "on_time_rate": sum(o.on_time for o in orders) / n,
        "fill_rate": filled / max(units, 1), "unfilled_units": units - filled,
        "rejections": sum(p.rejected for p in run.parcels),
        "walk_in_demand": walk_demand, "walk_in_lost": walk_lost,
        "walk_in_lost_to_online": sum(r.lost_to_online for r in run.walk_ins),
        "walk_in_fill_rate": 1.0 - walk_lost / max(walk_demand, 1),
        "inventory_turns_annual": out_units / max(avg_stock, 1.0) * 365.0 / w.horizon,
        "store_capacity_use": sum(d.picked for d in store_days) / max(cap, 1),
        **{f"share_{m}": methods.get(m, 0) / shipped_units
           for m in ("ship_from_dc", "ship_from_store", "pickup_from_shelf",
                     "pickup_via_transfer")},
        "decide_seconds": run.decide_seconds,
    }


@dataclass(frozen=True)
class BoundResult:
    """The hindsight bound's value and how its column generation went."""

    value: float
    types: int
    iterations: int
    converged: bool


def hindsight_bound(world: World, demand: Demand, runs: Sequence[Run],
                    max_iterations: int = 200) -> BoundResult:
    """The DLP over the realised online orders and the stock the runs had (a lower bound)."""
    net = world.network
    usable = world.on_hand0.copy()
    if runs:
        usable = usable + np.max([r.moved_in - r.moved_out for r in runs], axis=0)
    usable = np.maximum(usable, 0)
    cap_days = world.pick_cap.astype(np.float64)
    cap = np.where(cap_days.max(axis=0) >= UNLIMITED, UNLIMITED,
                   np.minimum(cap_days.sum(axis=0), UNLIMITED - 1)).astype(np.int64)
    cap = np.where(cap_days.max(axis=0) == 0, 0, cap)
    counts: dict[tuple[int, bool, tuple[int, ...]], int] = {}
    for day in demand.days:
        for loc, pickup, skus in zip(day.location, day.pickup, day.skus, strict=True):
            key = (int(loc), bool(pickup), skus)
            counts[key] = counts.get(key, 0) + 1
    types = []
    for (loc, pickup, skus), count in counts.items():
        cols = np.asarray(skus, np.int64)
        order = Order("type", tuple(OrderLine(world.sku_codes[j], 1) for j in skus),
                      lat=float(world.loc_lat[loc]), lon=float(world.loc_lon[loc]),
                      method="pickup" if pickup else "ship",
                      pickup_node=net.codes[int(world.loc_pickup[loc])] if pickup else None,
                      zip3=int(world.loc_zip3[loc]))
        weights = np.array([world.sku_weight[world.sku_codes[j]] for j in skus])
        cands = build_candidates(net, order, usable[:, cols], world.cost, capacity=cap,
                                 weights=weights, zone_matrix=world.zone_matrix)
        d = cands.data
        types.append(DLPType(cols, float(count), cands.nodes, d.unit_cost, d.parcel_cost,
                             d.avail > 0, d.unfilled_unit_cost, d.unfilled_parcel_cost))
    if not types:
        return BoundResult(0.0, 0, 0, True)
    res = dlp_bound(types, usable, None if (cap >= UNLIMITED).all() else cap,
                    max_iterations=max_iterations)
    return BoundResult(float(res.value), len(types), res.iterations, res.converged)


def gap_closed(objective: float, nearest: float, bound: float) -> float:
    """Share of the gap between `nearest` and the bound a policy closes (NaN if no gap)."""
    gap = nearest - bound
    return float("nan") if gap <= 1e-9 else (nearest - objective) / gap

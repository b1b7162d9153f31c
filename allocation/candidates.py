"""Candidate nodes per order and their prices: eligibility, ATP, dates, vectorised costs.

A candidate is a node allowed to supply the order by its method and the node's flags that
holds ATP for at least one line, can still pick, and meets the delivery date. Its cost is
split into components (shipping, pick, opportunity) so decisions can explain themselves.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from allocation.costs import CostModel, DistanceRates, promise_dates, zones_for
from allocation.network import Network, Order, unique_skus
from data.geo import haversine_miles
from optimizer.problem import ProblemData

__all__ = ["Candidates", "build_candidates", "eligible_mask"]


@dataclass(frozen=True, eq=False)
class Candidates:
    """The priced candidates of one order, over its distinct SKUs (columns)."""

    skus: list[str]
    qty: np.ndarray  # (S,) units per distinct SKU
    line_sku: np.ndarray  # (lines,) column of each order line
    nodes: np.ndarray  # (K,) network indices
    methods: tuple[str, ...]  # (K,) how the candidate supplies the order
    miles: np.ndarray  # (K,) to the customer (ship) or to the pickup store (transfer)
    promise: tuple[dt.date, ...] | None  # (K,) delivery / ready date, None without a clock
    parcel: np.ndarray  # (K,) fixed cost when the node supplies anything
    ship_unit: np.ndarray  # (K, S) shipping / transfer cost per unit
    pick_unit: np.ndarray  # (K, S) pick and handling labour per unit
    opp_unit: np.ndarray  # (K, S) opportunity cost of the node's stock
    unfilled_parcel: float
    unfilled_unit: np.ndarray  # (S,)
    reasons: tuple[str | None, ...]  # (S,) why a SKU could not be fully supplied, if known
    data: ProblemData


def eligible_mask(network: Network, order: Order, transfers: bool) -> tuple[np.ndarray, int]:
    """Nodes allowed by method and flags, and the pickup store's index (-1 for ship orders)."""
    if order.method == "pickup":
        try:
            store = network.index[str(order.pickup_node)]
        except KeyError:
            raise ValueError(f"unknown pickup node {order.pickup_node!r}") from None
        if transfers:
            return np.ones(len(network), bool), store
        mask = np.zeros(len(network), bool)
        mask[store] = True
        return mask, store
    return (~network.is_store) | network.ship_from_store, -1


def _shipping(cost: CostModel, miles: np.ndarray, zones: np.ndarray,
              weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parcel cost (K,) and shipping cost per unit (K, S)."""
    rates = cost.shipping
    if isinstance(rates, DistanceRates):
        parcel = np.full(miles.shape, rates.per_parcel)
        unit = np.broadcast_to((rates.per_unit + rates.per_unit_mile * miles)[:, None],
                               (len(miles), len(weights)))
        return parcel, unit
    base = np.asarray(rates.base_by_zone)[zones]
    per_lb = np.asarray(rates.per_lb_by_zone)[zones]
    return base, per_lb[:, None] * weights[None, :]


def build_candidates(
    network: Network,
    order: Order,
    atp: np.ndarray,
    cost: CostModel,
    *,
    capacity: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    zone_matrix: np.ndarray | None = None,
    opportunity: np.ndarray | None = None,
    now: dt.datetime | None = None,
) -> Candidates:
    """Price every candidate of `order`; `atp` and `opportunity` are (nodes, distinct SKUs)."""
    skus, qty, line_sku = unique_skus(order.lines)
    n_skus = len(skus)
    atp = np.asarray(atp, dtype=np.int64).reshape(len(network), n_skus)
    cap = network.pick_capacity if capacity is None else np.asarray(capacity, np.int64)
    weights = np.ones(n_skus) if weights is None else np.asarray(weights, np.float64)
    transfers = cost.transfer.enabled and not cost.pickup_priced_as_shipping
    allowed, store = eligible_mask(network, order, transfers)
    has = (atp > 0) & allowed[:, None]
    reasons: list[str | None] = [None if has[:, s].any() else "no_stock_at_eligible_node"
                                 for s in range(n_skus)]
    ok = has.any(axis=1) & (cap > 0)
    for s in np.flatnonzero(has.any(axis=0) & ~(has & ok[:, None]).any(axis=0)):
        reasons[s] = "no_pick_capacity"

    # Distances to every node (for the farthest-node unfilled penalty), then to candidates.
    miles_all = haversine_miles(network.lat, network.lon, order.lat, order.lon)
    nodes = np.flatnonzero(ok)
    is_store = network.is_store[nodes]
    clock = order.placed_at or now
    if store >= 0 and not cost.pickup_priced_as_shipping:
        miles = haversine_miles(network.lat[nodes], network.lon[nodes],
                                network.lat[store], network.lon[store])
        zones = zones_for(network.zip3[nodes], int(network.zip3[store]), miles, zone_matrix)
        shelf = nodes == store
        methods = tuple("pickup_from_shelf" if s else "pickup_via_transfer" for s in shelf)
        tr = cost.transfer
        parcel = np.where(shelf, tr.pickup_handling, tr.per_transfer)
        per_unit = np.where(shelf, 0.0, tr.per_unit + tr.per_unit_mile * miles)
        ship_unit = np.repeat(per_unit[:, None], n_skus, axis=1)
        days = np.where(shelf, 0, np.asarray(cost.timing.transfer_days_by_zone)[zones])
    else:
        miles = miles_all[nodes]
        zones = zones_for(network.zip3[nodes], order.zip3, miles, zone_matrix)
        parcel, ship_unit = _shipping(cost, miles, zones, weights)
        if store >= 0:
            methods = tuple("pickup_from_shelf" if n == store else "pickup_via_transfer"
                            for n in nodes)
        else:
            methods = tuple("ship_from_store" if s else "ship_from_dc" for s in is_store)
        days = np.asarray(cost.timing.transit_days_by_zone)[zones]

    promise: tuple[dt.date, ...] | None = None
    if clock is not None:
        dates = promise_dates(clock, is_store, days, cost.timing)
        if store >= 0:
            # A shelf pickup is ready hours after the order, not after a shipping cut-off.
            ready = (clock + dt.timedelta(hours=cost.timing.shelf_ready_hours)).date()
            dates = [ready if m == "pickup_from_shelf" else d for m, d in zip(methods, dates,
                                                                              strict=True)]
        promise = tuple(dates)
        if order.deliver_by is not None:
            late = np.array([d > order.deliver_by for d in dates], dtype=bool)
            if late.any():
                for s in range(n_skus):
                    if reasons[s] is None and not has[nodes[~late], s].any():
                        reasons[s] = "deadline"
                keep = ~late
                nodes, is_store, miles, parcel = nodes[keep], is_store[keep], miles[keep], \
                    parcel[keep]
                ship_unit = ship_unit[keep]
                methods = tuple(m for m, k in zip(methods, keep, strict=True) if k)
                promise = tuple(d for d, k in zip(dates, keep, strict=True) if k)

    by_kind = np.where(is_store, cost.pick.store, cost.pick.dc)
    node_rate = network.pick_cost[nodes]
    pick_unit = np.repeat(np.where(np.isnan(node_rate), by_kind, node_rate)[:, None], n_skus,
                          axis=1)
    opp_unit = (np.zeros((len(nodes), n_skus)) if opportunity is None
                else np.asarray(opportunity, np.float64).reshape(len(network), n_skus)[nodes])
    unfilled_parcel, unfilled_unit = _unfilled(cost, network, order, miles_all, weights,
                                               zone_matrix)
    avail = np.where(has[nodes], atp[nodes], 0)
    ship_unit = np.ascontiguousarray(ship_unit, dtype=np.float64)
    data = ProblemData(
        qty=qty, avail=avail, unit_cost=ship_unit + pick_unit + opp_unit, parcel_cost=parcel,
        capacity=cap[nodes], unfilled_unit_cost=unfilled_unit,
        unfilled_parcel_cost=unfilled_parcel, max_parcels=order.parcel_limit,
    )
    return Candidates(skus, qty, line_sku, nodes, methods, miles, promise, parcel, ship_unit,
                      pick_unit, opp_unit, unfilled_parcel, unfilled_unit, tuple(reasons), data)


def _unfilled(cost: CostModel, network: Network, order: Order, miles_all: np.ndarray,
              weights: np.ndarray, zone_matrix: np.ndarray | None) -> tuple[float, np.ndarray]:
    """Penalty parcel and per-unit penalty: a virtual node as far as the farthest real node."""
    mult = cost.unfilled_multiplier
    far = float(miles_all.max()) if len(miles_all) else 0.0
    rates = cost.shipping
    if isinstance(rates, DistanceRates):
        unit = mult * (rates.per_unit + rates.per_unit_mile * far) * np.ones(len(weights))
        return mult * rates.per_parcel, unit + cost.unfilled_per_unit
    zones = zones_for(network.zip3, order.zip3, miles_all, zone_matrix)
    z = int(zones.max()) if len(zones) else 8
    unit = mult * rates.per_lb_by_zone[z] * weights
    return mult * rates.base_by_zone[z], unit + cost.unfilled_per_unit

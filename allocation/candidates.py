"""Candidate nodes per order and their prices: eligibility, ATP, dates, vectorised costs.

A candidate is a node allowed to supply the order by its method and the node's flags that
holds ATP for at least one line, can still pick, and meets the delivery date. Its cost is
split into components (shipping, pick, opportunity) so decisions can explain themselves.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from allocation.costs import CostModel, DistanceRates, zone_from_miles, zones_for
from allocation.geo import haversine_miles_pre
from allocation.network import Network, Order, unique_skus
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


# --- Per-network constants, kept in the network's memo --------------------------------------
# The hot path (one small order on a small network) is dominated by per-call overhead, not
# arithmetic: everything that depends only on the frozen network (and on the frozen cost
# model) is computed once. Every float is still produced by the same numpy operations as the
# reference formulas (`haversine_miles`, `zones_for`, `promise_dates`), so results are
# bit-identical.

_any = np.logical_or.reduce  # ndarray.any without its Python wrapper
_MAX_PRICED = 8  # cost models remembered per network (callers keep one or two)
# Customer locations remembered per network, and at most about this many (location, node)
# pairs: each pair keeps ~50 bytes (miles, zones, rates, days), so ~13 MB at most.
_MAX_DEST = 4096
_DEST_CELLS = 1 << 18


class _Static:
    """What candidates need from one network, computed once."""

    def __init__(self, network: Network) -> None:
        self.n = len(network)
        self.rad_lat = np.radians(network.lat)
        self.cos_lat = np.cos(self.rad_lat)
        self.ship_ok = (~network.is_store) | network.ship_from_store
        self.cap_pos = network.pick_capacity > 0
        self.store_miles: dict[int, np.ndarray] = {}
        self.chart: dict[int, tuple[bool, np.ndarray]] = {}
        self.priced: dict[int, tuple[CostModel, _Priced]] = {}
        # Customers cluster on ZIP centroids: distances and distance-band zones per location.
        self.dest: dict[tuple[float, float], _Dest] = {}
        self.max_dest = max(16, min(_MAX_DEST, _DEST_CELLS // max(self.n, 1)))

    def miles_to(self, network: Network, store: int) -> np.ndarray:
        """Miles from every node to node `store` (what a transfer travels)."""
        row = self.store_miles.get(store)
        if row is None:
            row = haversine_miles_pre(self.rad_lat, self.cos_lat, network.lon,
                                      network.lat[store], network.lon[store])
            row.setflags(write=False)
            self.store_miles[store] = row
        return row

    def to(self, network: Network, lat: float, lon: float) -> _Dest:
        """Miles and distance-band zones from every node to (lat, lon), remembered."""
        key = (lat, lon)
        d = self.dest.get(key)
        if d is None:
            if len(self.dest) >= self.max_dest:
                self.dest.clear()  # start over (one atomic step: safe under threads)
            d = self.dest[key] = _Dest(
                haversine_miles_pre(self.rad_lat, self.cos_lat, network.lon, lat, lon))
        return d

    def on_chart(self, zip3: np.ndarray, rows: int) -> tuple[bool, np.ndarray]:
        """(every origin ZIP3 is a row of a chart of `rows` rows, the indices of those that are)."""
        entry = self.chart.get(rows)
        if entry is None:
            ok = (zip3 >= 0) & (zip3 < rows)
            entry = (bool(ok.all()), np.flatnonzero(ok))
            self.chart[rows] = entry
        return entry

    def priced_by(self, network: Network, cost: CostModel) -> _Priced:
        """The constants of (this network, `cost`), by the cost model's identity."""
        entry = self.priced.get(id(cost))
        if entry is None or entry[0] is not cost:
            if len(self.priced) >= _MAX_PRICED:
                self.priced.clear()
            entry = (cost, _Priced(network, cost))
            self.priced[id(cost)] = entry  # holds `cost`: its id cannot be reused meanwhile
        return entry[1]


class _Dest:
    """Distances from every node to one customer location, and what follows from them."""

    __slots__ = ("band", "far", "miles", "ship")

    def __init__(self, miles: np.ndarray) -> None:
        miles.setflags(write=False)
        self.miles = miles
        # The zone of every node when the chart has no entry for it.
        self.band = zone_from_miles(miles)
        self.band.setflags(write=False)
        self.far = float(miles.max()) if len(miles) else 0.0
        # (ZIP3, id(zone chart), id(cost model)) -> (chart, cost model, _Ship)
        self.ship: dict[tuple[int | None, int, int], tuple[object, CostModel, _Ship]] = {}


class _Ship:
    """Shipping from every node to one customer under one cost model and zone chart: zones,
    parcel and per-unit rates, transit days, and the unfilled penalty (the farthest zone)."""

    __slots__ = ("days", "parcel", "unf_parcel", "unf_per", "unit", "zones")

    def __init__(self, st: _Static, pr: _Priced, cost: CostModel, network: Network,
                 dest: _Dest, zip3: int | None, zone_matrix: np.ndarray | None) -> None:
        zones = _zones_all(st, network.zip3, zip3, dest.band, dest.miles, zone_matrix)
        self.zones = zones
        rates = cost.shipping
        mult = cost.unfilled_multiplier
        if isinstance(rates, DistanceRates):
            # _shipping and _unfilled of the distance model, for every node at once.
            self.parcel = np.full(dest.miles.shape, rates.per_parcel)
            self.unit = rates.per_unit + rates.per_unit_mile * dest.miles
            self.unf_parcel = mult * rates.per_parcel
            self.unf_per = mult * (rates.per_unit + rates.per_unit_mile * dest.far)
        else:
            self.parcel = pr.base[zones]
            self.unit = pr.per_lb[zones]
            z = int(zones.max()) if len(zones) else 8
            self.unf_parcel = mult * rates.base_by_zone[z]
            self.unf_per = mult * rates.per_lb_by_zone[z]
        self.days = pr.transit[zones]


def _ship(st: _Static, pr: _Priced, cost: CostModel, network: Network, dest: _Dest,
          zip3: int | None, zone_matrix: np.ndarray | None) -> _Ship:
    """The _Ship of (customer, chart, cost), remembered when the chart is read-only (or none):
    a writable chart may change between calls, so it is priced afresh every time."""
    if zone_matrix is not None and zone_matrix.flags.writeable:
        return _Ship(st, pr, cost, network, dest, zip3, zone_matrix)
    key = (zip3, 0 if zone_matrix is None else id(zone_matrix), id(cost))
    hit = dest.ship.get(key)
    if hit is None or hit[0] is not zone_matrix or hit[1] is not cost:
        if len(dest.ship) >= 8:
            dest.ship.clear()
        hit = dest.ship[key] = (zone_matrix, cost,
                                _Ship(st, pr, cost, network, dest, zip3, zone_matrix))
    return hit[2]


_DATES: dict[tuple[dt.date, int], dt.date] = {}


def _plus_days(day0: dt.date, days: int) -> dt.date:
    """day0 + timedelta(days=days), remembered (a few days ahead of a few order dates)."""
    key = (day0, days)
    out = _DATES.get(key)
    if out is None:
        if len(_DATES) >= 4096:
            _DATES.clear()
        out = _DATES[key] = day0 + dt.timedelta(days=days)
    return out


class _Priced:
    """Rates of one cost model as arrays, and each node's pick rate under it."""

    def __init__(self, network: Network, cost: CostModel) -> None:
        rates = cost.shipping
        self.distance = isinstance(rates, DistanceRates)
        if not self.distance:
            self.base = np.asarray(rates.base_by_zone)
            self.per_lb = np.asarray(rates.per_lb_by_zone)
        timing = cost.timing
        # promise_dates reads the days as int64.
        self.transit = np.asarray(timing.transit_days_by_zone).astype(np.int64)
        self.transfer = np.asarray(timing.transfer_days_by_zone).astype(np.int64)
        by_kind = np.where(network.is_store, cost.pick.store, cost.pick.dc)
        node_rate = network.pick_cost
        self.pick = np.where(np.isnan(node_rate), by_kind, node_rate)
        # Every other input of a unit cost is validated finite; a node's own rate may be inf.
        self.pick_finite = bool(np.isfinite(self.pick).all())


def _static(network: Network) -> _Static:
    memo = network.memo
    st = memo.get("candidates")
    if st is None:
        st = memo["candidates"] = _Static(network)
    return st  # type: ignore[no-any-return]


def _zones_all(st: _Static, zip3: np.ndarray, dest: int | None, band: np.ndarray,
               miles: np.ndarray, zone_matrix: np.ndarray | None) -> np.ndarray:
    """`zones_for(zip3, dest, miles, zone_matrix)` for every node (same values and dtype), with
    `band = zone_from_miles(miles)` known."""
    if zone_matrix is None or dest is None or not 0 <= dest < zone_matrix.shape[1]:
        return band
    if zone_matrix.dtype.kind not in "iu":
        return zones_for(zip3, dest, miles, zone_matrix)
    every, idx = st.on_chart(zip3, zone_matrix.shape[0])
    if every:
        chart = zone_matrix[zip3, dest]
    else:
        chart = np.zeros(len(zip3), np.int64)
        chart[idx] = zone_matrix[zip3[idx], dest]
    return np.where(chart > 0, chart, band)


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
    n = len(network)
    st = _static(network)
    pr = st.priced_by(network, cost)
    atp = np.asarray(atp, dtype=np.int64).reshape(n, n_skus)
    if capacity is None:
        cap, cap_pos = network.pick_capacity, st.cap_pos
    else:
        cap = np.asarray(capacity, np.int64)
        cap_pos = cap > 0
    w = None if weights is None else np.asarray(weights, np.float64)
    transfers = cost.transfer.enabled and not cost.pickup_priced_as_shipping
    # Eligible by method and flags (eligible_mask), holding ATP for a line, able to pick.
    pos = atp > 0
    allowed: np.ndarray | None = st.ship_ok  # None: every node (a pickup with transfers)
    store = -1
    if order.method == "pickup":
        try:
            store = network.index[str(order.pickup_node)]
        except KeyError:
            raise ValueError(f"unknown pickup node {order.pickup_node!r}") from None
        if transfers:
            allowed = None
        else:
            allowed = np.zeros(n, bool)
            allowed[store] = True
    node_pos = pos.reshape(n) if n_skus == 1 else _any(pos, axis=1)
    nodes = (node_pos & (cap_pos if allowed is None else allowed & cap_pos)).nonzero()[0]
    has_k = pos.take(nodes, 0)  # a candidate is eligible: its row of `has` is its ATP > 0
    # Why a SKU cannot be supplied at all: no eligible node holds it, or none can pick.
    if n_skus == 1:
        reasons: list[str | None] = [None]
        if not len(nodes):
            held = (node_pos if allowed is None else node_pos & allowed).any()
            reasons = ["no_pick_capacity" if held else "no_stock_at_eligible_node"]
    else:
        col_ok = _any(has_k, axis=0).tolist()
        reasons = [None] * n_skus
        if not all(col_ok):
            col_any = _any(pos if allowed is None else pos[allowed], axis=0).tolist()
            reasons = [
                None if ok else "no_pick_capacity" if anywhere else "no_stock_at_eligible_node"
                for ok, anywhere in zip(col_ok, col_any, strict=True)]

    # Distances to every node (for the farthest-node unfilled penalty), then to candidates.
    dest = st.to(network, order.lat, order.lon)
    miles_all = dest.miles
    is_store = network.is_store[nodes]
    clock = order.placed_at or now
    sp = _ship(st, pr, cost, network, dest, order.zip3, zone_matrix)
    if store >= 0 and not cost.pickup_priced_as_shipping:
        miles = st.miles_to(network, store)[nodes]
        zones = zones_for(network.zip3[nodes], int(network.zip3[store]), miles, zone_matrix)
        shelf = nodes == store
        methods = tuple("pickup_from_shelf" if s else "pickup_via_transfer"
                        for s in shelf.tolist())
        tr = cost.transfer
        parcel = np.where(shelf, tr.pickup_handling, tr.per_transfer)
        per_unit = np.where(shelf, 0.0, tr.per_unit + tr.per_unit_mile * miles)
        ship_unit = per_unit[:, None] if n_skus == 1 else per_unit[:, None].repeat(n_skus, 1)
        days = np.where(shelf, 0, pr.transfer[zones])
    else:
        miles = miles_all[nodes]
        parcel = sp.parcel[nodes]
        unit = sp.unit[nodes]
        if pr.distance:  # the distance model prices a unit the same whatever it weighs
            ship_unit = np.broadcast_to(unit[:, None], (len(unit), n_skus))
        elif w is not None:
            ship_unit = unit[:, None] * w[None, :]
        elif n_skus == 1:
            ship_unit = unit[:, None]
        else:
            ship_unit = unit[:, None].repeat(n_skus, 1)
        if store >= 0:
            methods = tuple("pickup_from_shelf" if k == store else "pickup_via_transfer"
                            for k in nodes.tolist())
        else:
            methods = tuple("ship_from_store" if s else "ship_from_dc" for s in is_store.tolist())
        days = sp.days[nodes]

    promise: tuple[dt.date, ...] | None = None
    if clock is not None:
        # promise_dates, with the cut-off and processing days worked out once per node kind.
        timing = cost.timing
        hour = clock.hour + clock.minute / 60.0
        extra_store = timing.processing_days_store + (hour >= timing.cutoff_hour_store)
        extra_dc = timing.processing_days_dc + (hour >= timing.cutoff_hour_dc)
        totals = (np.where(is_store, extra_store, extra_dc) + days).tolist()
        day0 = clock.date()
        table = {d: _plus_days(day0, int(d)) for d in set(totals)}
        dates = [table[d] for d in totals]
        if store >= 0:
            # A shelf pickup is ready hours after the order, not after a shipping cut-off.
            ready = (clock + dt.timedelta(hours=timing.shelf_ready_hours)).date()
            dates = [ready if m == "pickup_from_shelf" else d for m, d in zip(methods, dates,
                                                                              strict=True)]
        promise = tuple(dates)
        deliver_by = order.deliver_by
        if deliver_by is not None:
            keep_list = [d <= deliver_by for d in dates]
            if not all(keep_list):
                keep = np.array([k for k, ok in enumerate(keep_list) if ok], dtype=np.int64)
                has_k = has_k.take(keep, 0)
                still = _any(has_k, axis=0).tolist()
                for s in range(n_skus):
                    if reasons[s] is None and not still[s]:
                        reasons[s] = "deadline"
                nodes, is_store, miles, parcel = nodes[keep], is_store[keep], miles[keep], \
                    parcel[keep]
                ship_unit = ship_unit.take(keep, 0)
                methods = tuple(m for m, k in zip(methods, keep_list, strict=True) if k)
                promise = tuple(d for d, k in zip(dates, keep_list, strict=True) if k)

    rate = pr.pick[nodes]
    pick_unit = rate[:, None] if n_skus == 1 else rate[:, None].repeat(n_skus, 1)
    k_nodes = len(nodes)
    if opportunity is None:
        opp_unit = np.zeros((k_nodes, n_skus))
        ship_unit = np.ascontiguousarray(ship_unit, dtype=np.float64)
        unit_cost = ship_unit + pick_unit  # + 0.0 of opportunity changes no value
    else:
        opp_unit = np.asarray(opportunity, np.float64).reshape(n, n_skus).take(nodes, 0)
        ship_unit = np.ascontiguousarray(ship_unit, dtype=np.float64)
        unit_cost = ship_unit + pick_unit + opp_unit
    # The unfilled penalty (`_unfilled`): a virtual node as far as the farthest real node.
    unfilled_parcel = sp.unf_parcel
    if w is None or pr.distance:
        unfilled_unit = np.array([sp.unf_per + cost.unfilled_per_unit] * n_skus)
    else:
        unfilled_unit = sp.unf_per * w + cost.unfilled_per_unit
    # Candidate rows of `has` are their ATP > 0 (an eligible node); a node never usefully
    # supplies more of a line than the line asks for (what ProblemData would clip). With one
    # SKU every candidate's ATP is positive.
    atp_k = atp.take(nodes, 0)
    avail = (np.minimum(atp_k, qty[0]) if n_skus == 1
             else np.minimum(np.maximum(atp_k, 0), qty))
    # ProblemData's own check, needed only when a caller's weights, prices or node rates
    # enter the costs (cost models, distances and zones are finite by construction).
    if (w is not None or opportunity is not None or not pr.pick_finite) and not (
            np.isfinite(unit_cost).all() and np.isfinite(unfilled_unit).all()):
        raise ValueError("expected finite unit costs")
    data = ProblemData.trusted(
        qty=qty.copy(), avail=avail, unit_cost=unit_cost, parcel_cost=parcel.copy(),
        capacity=cap[nodes], unfilled_unit_cost=unfilled_unit.copy(),
        unfilled_parcel_cost=float(unfilled_parcel), max_parcels=order.parcel_limit,
    )
    return Candidates(skus, qty, line_sku, nodes, methods, miles, promise, parcel, ship_unit,
                      pick_unit, opp_unit, unfilled_parcel, unfilled_unit, tuple(reasons), data)

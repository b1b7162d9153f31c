"""The simulated world: the demo network as dense arrays, demand rates, order-up-to levels.

Built once per scenario (pure, no randomness beyond the demo builder's own seed), then
shared by every seed and policy. What-if edits are applied here: static ones change the
arrays, windowed ones (a DC outage from day a to b) are looked up per day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from allocation.costs import CostModel
from allocation.geo import haversine_miles
from allocation.network import UNLIMITED, Network
from data.demand_shape import day_factors, m5_demand_shape
from data.demo import DemoNetwork, build_network
from data.reference import load_cities, load_zips, load_zone_matrix
from simulations.scenario import Scenario, ScenarioError, Selector, WhatIf

__all__ = ["World", "build_world"]

CUSTOMER_MILES = 60.0  # customers live at the populous ZIPs this close to some store


@dataclass(eq=False)
class World:
    """Arrays every run of a scenario shares (read-only by convention)."""

    scenario: Scenario
    demo: DemoNetwork
    network: Network  # with static ship-from-store edits applied
    sku_codes: list[str]
    sku_index: dict[str, int]
    sku_weight: dict[str, float]
    is_store: np.ndarray  # (nodes,)
    stores: np.ndarray  # node indices of stores
    dcs: np.ndarray  # node indices of DCs
    on_hand0: np.ndarray  # (nodes, skus)
    safety: np.ndarray  # (nodes, skus), safety-stock edits applied
    ranged: np.ndarray  # (nodes, skus) bool: a store sells the SKU over the counter
    walk_rate: np.ndarray  # (nodes, skus) expected walk-ins per day before day factors
    day_factor: np.ndarray  # (horizon,)
    pick_cap: np.ndarray  # (horizon, nodes) units each node may pick that day
    dc_open: np.ndarray  # (horizon, nodes) bool
    supplier: np.ndarray  # (horizon, nodes) the DC index replenishing each store that day
    order_up_to: np.ndarray  # (nodes, skus)
    loc_lat: np.ndarray
    loc_lon: np.ndarray
    loc_zip3: np.ndarray
    loc_pickup: np.ndarray  # nearest click-and-collect store per location (-1: none)
    loc_weight: np.ndarray  # (locations,) population share
    sku_pop: np.ndarray  # (skus,) share of online lines
    online_surge: list[tuple[WhatIf, np.ndarray, np.ndarray]]  # (edit, loc mask, sku mask)
    walk_surges: list[tuple[WhatIf, np.ndarray, np.ndarray]]  # (edit, node mask, sku mask)
    cost: CostModel
    zone_matrix: np.ndarray | None
    dispersion: float  # negative binomial k of daily walk-in demand

    @property
    def horizon(self) -> int:
        """Days simulated."""
        return self.scenario.horizon_days

    @property
    def start(self) -> dt.date:
        """The first simulated day."""
        return self.scenario.start

    def online_factor(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        """(locations,) order-rate multipliers and (locations, skus) SKU weights that day."""
        loc = np.ones(len(self.loc_weight))
        weights = np.broadcast_to(self.sku_pop, (len(loc), len(self.sku_pop)))
        if not any(w.active(day) for w, _, _ in self.online_surge):
            return loc, weights
        weights = weights.copy()
        for w, lmask, smask in self.online_surge:
            if w.active(day):
                weights[np.ix_(lmask, smask)] *= 1.0 + w.percent / 100.0
        mass = weights.sum(axis=1)
        # More demand for a category means more orders, not a different share of the same.
        return loc * mass / self.sku_pop.sum(), weights / mass[:, None]

    def walk_in_rate(self, day: int) -> np.ndarray:
        """(nodes, skus) expected walk-in units on `day`, surges included."""
        rate = self.walk_rate * self.day_factor[day]
        for w, nmask, smask in self.walk_surges:
            if w.active(day):
                rate = rate.copy() if rate is self.walk_rate else rate
                rate[np.ix_(nmask, smask)] *= 1.0 + w.percent / 100.0
        return rate


def _select_nodes(sel: Selector, nodes: pd.DataFrame) -> np.ndarray:
    """Stores the selector names (all stores when it names nothing)."""
    is_store = (nodes["kind"] == "store").to_numpy()
    if sel.everything:
        return is_store
    mask = np.zeros(len(nodes), bool)
    if sel.stores:
        unknown = sorted(set(sel.stores) - set(nodes["code"]))
        if unknown:
            raise ScenarioError(f"unknown store {unknown[0]!r} in a what-if")
        mask |= nodes["code"].isin(sel.stores).to_numpy()
    if sel.states:
        mask |= nodes["state"].isin(sel.states).to_numpy()
    if sel.city:
        lat, lon = _city(sel.city)
        mask |= haversine_miles(nodes["lat"].to_numpy(), nodes["lon"].to_numpy(), lat,
                                lon) <= sel.radius_miles
    return mask & is_store


@cache
def _city(name: str) -> tuple[float, float]:
    cities = load_cities()
    hit = cities[cities["city"].str.lower() == name.lower()]
    if hit.empty:
        raise ScenarioError(f"unknown city {name!r}; expected a US city of the reference list")
    row = hit.sort_values("population", ascending=False).iloc[0]
    return float(row["lat"]), float(row["lon"])


def _select_locations(sel: Selector, lat: np.ndarray, lon: np.ndarray, nodes: pd.DataFrame,
                      nearest_store: np.ndarray) -> np.ndarray:
    """Customer locations the selector names: by city radius, or by their nearest store."""
    if sel.everything:
        return np.ones(len(lat), bool)
    mask = np.zeros(len(lat), bool)
    store_mask = _select_nodes(Selector(stores=sel.stores, states=sel.states), nodes) \
        if (sel.stores or sel.states) else np.zeros(len(nodes), bool)
    mask |= store_mask[nearest_store]
    if sel.city:
        clat, clon = _city(sel.city)
        mask |= haversine_miles(lat, lon, clat, clon) <= sel.radius_miles
    return mask


def _dc_index(w: WhatIf, nodes: pd.DataFrame, dcs: np.ndarray) -> int:
    codes = nodes["code"].to_numpy()
    if isinstance(w.dc, int):
        if not 0 <= w.dc < len(dcs):
            raise ScenarioError(f"expected dc index 0..{len(dcs) - 1}, got {w.dc}")
        return int(dcs[w.dc])
    hit = np.flatnonzero(codes[dcs] == w.dc)
    if not len(hit):
        raise ScenarioError(f"unknown dc {w.dc!r}; expected one of {list(codes[dcs])}")
    return int(dcs[hit[0]])


def _nb_quantile(mean: np.ndarray, span: int, k: float, level: float) -> np.ndarray:
    """Service-level quantile of NB demand summed over `span` days (normal approximation).

    Daily demand is Poisson-gamma with dispersion k (the demo's generator), so the sum has
    variance span * (mu + mu^2 / k); rounding up keeps at least one unit on a slow ranged SKU.
    """
    from statistics import NormalDist

    z = NormalDist().inv_cdf(level)
    m = mean * span
    sd = np.sqrt(span * (mean + mean**2 / k))
    return np.ceil(np.where(mean > 0, m + z * sd, 0.0)).astype(np.int64)


def _forecast_levels(demo: DemoNetwork, stores: np.ndarray, ranged: np.ndarray, span: int,
                     level: float, review: int) -> np.ndarray:
    """Order-up-to per ranged (store, SKU) from forecasts of the demo's sales history."""
    from forecasting.inventory import order_up_to_level

    days = demo.params.history_days
    if days < 28:
        raise ScenarioError("expected [network] history_days >= 28 for replenishment "
                            f"source 'forecast', got {days}")
    node_pos = {int(i): k for k, i in enumerate(demo.nodes["id"])}
    sales = demo.sales
    r = sales["node_id"].map(node_pos).to_numpy()
    c = sales["sku_id"].to_numpy() - 1
    d = ((sales["day"] - pd.Timestamp(demo.params.history_start)).dt.days).to_numpy()
    cells = np.argwhere(ranged)
    cell_id = -np.ones(ranged.shape, np.int64)
    cell_id[cells[:, 0], cells[:, 1]] = np.arange(len(cells))
    y = np.zeros((len(cells), days))
    ok = cell_id[r, c] >= 0
    y[cell_id[r[ok], c[ok]], d[ok]] = sales["qty"].to_numpy()[ok]
    indptr = np.arange(len(cells) + 1, dtype=np.int64) * days
    s = order_up_to_level(y.ravel(), indptr, span - review, level, review)
    out = np.zeros(ranged.shape, np.int64)
    out[cells[:, 0], cells[:, 1]] = np.ceil(s)
    return out


def build_world(scenario: Scenario) -> World:
    """Build the arrays of a scenario (deterministic: no seed is involved)."""
    demo = build_network(scenario.network)
    nodes, skus = demo.nodes.reset_index(drop=True), demo.skus
    n_nodes, n_skus, horizon = len(nodes), len(skus), scenario.horizon_days
    is_store = (nodes["kind"] == "store").to_numpy()
    stores, dcs = np.flatnonzero(is_store), np.flatnonzero(~is_store)
    node_pos = {int(i): k for k, i in enumerate(nodes["id"])}
    sku_pos = {int(i): k for k, i in enumerate(skus["id"])}
    st = demo.stock
    rows, cols = st["node_id"].map(node_pos).to_numpy(), st["sku_id"].map(sku_pos).to_numpy()
    on_hand = np.zeros((n_nodes, n_skus), np.int64)
    safety = np.zeros((n_nodes, n_skus), np.int64)
    on_hand[rows, cols] = st["on_hand"].to_numpy()
    safety[rows, cols] = st["safety_stock"].to_numpy()
    ranged = np.zeros((n_nodes, n_skus), bool)
    ranged[rows, cols] = is_store[rows]

    scale = nodes["demand_scale"].to_numpy(float) * scenario.demand.walk_in_scale
    rate = skus["daily_rate"].to_numpy(float)
    walk = np.where(ranged, scale[:, None] * rate[None, :], 0.0)
    shape = m5_demand_shape()
    factor = day_factors(scenario.start, horizon, shape) if scenario.demand.calendar \
        else np.ones(horizon)

    sfs = nodes["ship_from_store"].astype(bool).to_numpy().copy()
    cap_day = nodes["pick_capacity_per_day"].astype("float").fillna(-1).to_numpy()
    cap_day = np.where(cap_day < 0, UNLIMITED,
                       np.floor(cap_day * scenario.stores.pick_capacity_scale)).astype(np.int64)
    pick_cap = np.tile(cap_day, (horizon, 1))
    dc_open = np.tile(~is_store, (horizon, 1))
    walk_surges: list[tuple[WhatIf, np.ndarray, np.ndarray]] = []
    edits_loc: list[WhatIf] = []
    for w in scenario.what_if:
        days = np.array([w.active(d) for d in range(horizon)])
        if w.kind == "ship_from_store":
            # Static: the flag is a property of the network the policy decides on.
            sfs[_select_nodes(w.where, nodes)] = w.enabled
        elif w.kind == "dc_closed":
            i = _dc_index(w, nodes, dcs)
            pick_cap[days, i] = 0
            dc_open[days, i] = False
        elif w.kind == "capacity_cut":
            mask = _select_nodes(w.where, nodes)
            cut = np.floor(cap_day * (1.0 - w.percent / 100.0)).astype(np.int64)
            pick_cap[np.ix_(days, mask)] = cut[mask]
        elif w.kind == "safety_stock":
            mask = _select_nodes(w.where, nodes)
            safety[mask] = np.round(safety[mask] * w.factor).astype(np.int64)
        elif w.kind == "demand_surge":
            smask = np.ones(n_skus, bool) if w.category is None \
                else (skus["category"] == w.category).to_numpy()
            if w.category is not None and not smask.any():
                raise ScenarioError(f"unknown category {w.category!r}; expected one of "
                                    f"{sorted(skus['category'].unique())}")
            if w.channel in ("walk_in", "both"):
                walk_surges.append((w, _select_nodes(w.where, nodes), smask))
            if w.channel in ("online", "both"):
                edits_loc.append(w)

    # Customers: the populous ZIPs near the network, each with its nearest pickup store.
    zips = load_zips()
    s_lat, s_lon = nodes["lat"].to_numpy()[stores], nodes["lon"].to_numpy()[stores]
    dist = haversine_miles(zips["lat"].to_numpy()[:, None], zips["lon"].to_numpy()[:, None],
                           s_lat[None, :], s_lon[None, :])
    near = (dist.min(axis=1) <= CUSTOMER_MILES) & (zips["population"].to_numpy() > 0)
    locs = zips[near].nlargest(scenario.demand.locations, "population")
    loc_dist = dist[locs.index.to_numpy()]
    loc_lat, loc_lon = locs["lat"].to_numpy(), locs["lon"].to_numpy()
    nearest_store = stores[loc_dist.argmin(axis=1)]
    cc = nodes["click_and_collect"].astype(bool).to_numpy()[stores]
    loc_pickup = stores[np.where(cc[None, :], loc_dist, np.inf).argmin(axis=1)] if cc.any() \
        else -np.ones(len(locs), np.int64)
    loc_w = locs["population"].to_numpy(float)
    loc_w /= loc_w.sum()
    online_surge = []
    for w in edits_loc:
        lmask = _select_locations(w.where, loc_lat, loc_lon, nodes, nearest_store)
        smask = np.ones(n_skus, bool) if w.category is None \
            else (skus["category"] == w.category).to_numpy()
        online_surge.append((w, lmask, smask))

    if scenario.demand.popularity == "history":
        if demo.sales.empty:
            raise ScenarioError("expected [network] history_days > 0 for popularity 'history'")
        sold = demo.sales.groupby("sku_id")["qty"].sum()
        pop = sold.reindex(skus["id"]).fillna(0).to_numpy(float) + 1e-3
    else:
        pop = rate.copy()
    pop /= pop.sum()

    # Replenishment: every store from its nearest open DC; DCs from the vendor.
    rep = scenario.replenishment
    d_lat, d_lon = nodes["lat"].to_numpy(), nodes["lon"].to_numpy()
    dd = haversine_miles(d_lat[:, None], d_lon[:, None], d_lat[dcs][None, :], d_lon[dcs][None, :])
    supplier = np.full((horizon, n_nodes), -1, np.int64)
    for day in range(horizon):
        open_dd = np.where(dc_open[day][dcs][None, :], dd, np.inf)
        best = open_dd.argmin(axis=1)
        has = np.isfinite(open_dd.min(axis=1))
        supplier[day] = np.where(has & is_store, dcs[best], -1)
    k = shape.dispersion
    store_span = rep.dc_lead_days + rep.review_days
    if rep.source == "forecast":
        s_levels = _forecast_levels(demo, stores, ranged, store_span, rep.service_level,
                                    rep.review_days)
    else:
        s_levels = _nb_quantile(walk, store_span, k, rep.service_level)
    s_levels = np.where(ranged, np.maximum(s_levels, safety + 1), 0)
    mean_lines = float(np.dot(np.arange(1, len(scenario.demand.lines_mix) + 1),
                              scenario.demand.lines_mix))
    online_units = scenario.demand.orders_per_day * mean_lines * pop
    share = nodes.get("population_share", pd.Series(0.0, index=nodes.index)).to_numpy(float)
    share = np.where(is_store, 0.0, share)
    dc_rate = np.zeros((n_nodes, n_skus))
    for i in dcs:
        served = (supplier[0] == i)
        dc_rate[i] = walk[served].sum(axis=0) + online_units * share[i] / max(share.sum(), 1e-9)
    dc_levels = _nb_quantile(dc_rate, rep.vendor_lead_days + rep.review_days, k,
                             rep.service_level)
    order_up_to = np.where(is_store[:, None], s_levels, dc_levels)

    network = Network(
        codes=tuple(nodes["code"]), is_store=is_store, lat=d_lat, lon=d_lon,
        ship_from_store=sfs & is_store, click_and_collect=nodes["click_and_collect"].astype(bool),
        pick_capacity=cap_day, zip3=nodes["zip"].astype(str).str[:3].astype(int),
        pick_cost=nodes["pick_cost_per_unit"].to_numpy(float))
    world = World(
        scenario=scenario, demo=demo, network=network, sku_codes=list(skus["code"]),
        sku_index={c: j for j, c in enumerate(skus["code"])},
        sku_weight=dict(zip(skus["code"], skus["weight_lb"].astype(float), strict=True)),
        is_store=is_store, stores=stores, dcs=dcs, on_hand0=on_hand, safety=safety,
        ranged=ranged, walk_rate=walk, day_factor=factor, pick_cap=pick_cap, dc_open=dc_open,
        supplier=supplier, order_up_to=order_up_to, loc_lat=loc_lat, loc_lon=loc_lon,
        loc_zip3=locs["zip"].astype(str).str[:3].astype(int).to_numpy(),
        loc_pickup=loc_pickup, loc_weight=loc_w, sku_pop=pop, online_surge=online_surge,
        walk_surges=walk_surges, cost=CostModel(), zone_matrix=load_zone_matrix(),
        dispersion=float(k))
    return world

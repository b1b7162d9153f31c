"""Stock prices for the live service: forecast walk-ins and recent online demand, LP-priced.

Behind `Settings.forecast_prices`: a `ServicePricing` holds a PriceBook that a PriceRefresher
recomputes on a background thread every N allocations or T seconds; a request only reads the
current table (one reference), so it never waits for a solve. The demand that remains until
the next replenishment is read from the database at each refresh:

- walk-ins: the stored daily forecast means per store and SKU (data.models.Forecast) over
  the next `horizon_days`, earning the SKU's margin (price - cost) per unit served;
- online: units ordered in the last `lookback_days` per region (a lat/lon grid cell) and
  SKU, scaled to the horizon, as single-SKU order types; the LP of one-SKU types is a
  transportation problem (regions x SKUs against nodes x SKUs, walk-ins on the same stock
  rows), solved by HiGHS in seconds on the 1,000-node x 10,000-SKU network.

Only `forecast_aware` requests use the prices; `optimal` and the rest never see them.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from allocation.costs import CostModel, OpportunityCosts
from allocation.errors import PricesUnavailable
from allocation.forecast_aware import ForecastParams, ForecastPricer, PriceBook, PriceRefresher
from allocation.network import Network
from data.db import Database
from data.models import Forecast, Node, Order, OrderLine, Sku, StockPosition
from data.stock_ledger import node_records
from optimizer.pattern import WalkInDemand

__all__ = ["PricesUnavailable", "PricingParams", "ServicePricing", "demand_inputs",
           "price_table", "prices_for"]

log = logging.getLogger("omni.pricing")


@dataclass(frozen=True)
class PricingParams:
    """Which demand the prices are computed from, and how often they are refreshed."""

    horizon_days: int = 7  # demand that remains until the next replenishment
    lookback_days: float = 7.0  # recent orders that stand for online demand
    region_degrees: float = 1.0  # online demand is grouped on a lat/lon grid of this size
    # Largest (region, SKU) online types kept in the LP. One-SKU types make the pricing LP a
    # transportation problem (`allocation.forecast_aware.single_line_transport`, HiGHS), so
    # every one of them fits: 1,000 nodes x 10,000 SKUs price in about a second.
    max_types: int = 1_000_000
    # Solve in a worker process: the LP build is Python and holds the GIL, which a refresh
    # thread shares with requests (measured: decide p95 0.5 -> 4.5 ms while refreshing).
    worker_process: bool = True
    refresh: ForecastParams = field(default_factory=lambda: ForecastParams(
        resolve_every=200, refresh_seconds=60.0, max_iterations=50))

    def __post_init__(self) -> None:
        if self.horizon_days < 1:
            raise ValueError(f"expected horizon_days >= 1, got {self.horizon_days}")
        if not self.lookback_days > 0:
            raise ValueError(f"expected lookback_days > 0, got {self.lookback_days}")
        if not self.region_degrees > 0:
            raise ValueError(f"expected region_degrees > 0, got {self.region_degrees}")
        if self.max_types < 1:
            raise ValueError(f"expected max_types >= 1, got {self.max_types}")


def _walkins(s: Session, today: dt.date, p: PricingParams) -> dict[tuple[str, str], float]:
    """Forecast walk-in units per (node code, SKU code) over the horizon."""
    first = s.scalar(select(func.min(Forecast.day)).where(Forecast.day >= today))
    if first is None:  # a forecast made before today still says what a coming week holds
        first = s.scalar(select(func.min(Forecast.day)))
    if first is None:
        return {}
    rows = s.execute(
        select(Node.code, Sku.code, func.sum(Forecast.mean))
        .join(Node, Node.id == Forecast.node_id).join(Sku, Sku.id == Forecast.sku_id)
        .where(Forecast.day >= first, Forecast.day < first + dt.timedelta(days=p.horizon_days))
        .group_by(Node.code, Sku.code)).all()
    return {(n, k): float(q) for n, k, q in rows if q and q > 0}


def _online(s: Session, now: dt.datetime, p: PricingParams) -> list[dict[str, Any]]:
    """Expected online units per (grid cell, SKU) over the horizon, largest first."""
    since = now - dt.timedelta(days=p.lookback_days)
    rows = s.execute(
        select(Order.ship_lat, Order.ship_lon, Sku.code, OrderLine.qty)
        .join(OrderLine, OrderLine.order_id == Order.id).join(Sku, Sku.id == OrderLine.sku_id)
        .where(Order.created_at >= since, Order.method == "ship",
               Order.ship_lat.is_not(None))).all()
    cells: dict[tuple[float, float, str], float] = {}
    where: dict[tuple[float, float], list[float]] = {}
    deg = p.region_degrees
    for lat, lon, sku, qty in rows:
        cell = (round(lat / deg) * deg, round(lon / deg) * deg)
        cells[(*cell, sku)] = cells.get((*cell, sku), 0.0) + qty
        acc = where.setdefault(cell, [0.0, 0.0, 0.0])
        acc[0] += qty
        acc[1] += lat * qty
        acc[2] += lon * qty
    scale = p.horizon_days / p.lookback_days
    # Every SKU of a cell ships to the cell's unit-weighted centre: one region per cell, so
    # the transportation LP prices its arcs once per cell (fulfilment cost differences
    # within a 1-degree cell are a few cents).
    centre = {c: (a[1] / a[0], a[2] / a[0]) for c, a in where.items()}
    types = [{"skus": [sku], "lat": centre[(la, lo)][0], "lon": centre[(la, lo)][1],
              "count": q * scale} for (la, lo, sku), q in cells.items()]
    types.sort(key=lambda t: -t["count"])
    return types[: p.max_types]


def demand_inputs(s: Session, network: Network, p: PricingParams,
                  now: dt.datetime | None = None) -> dict[str, Any]:
    """SKUs, ATP and safety stock (nodes, SKUs), online types and walk-ins, from the database."""
    now = now or dt.datetime.now(dt.UTC)
    walk = _walkins(s, now.date(), p)
    online = _online(s, now, p)
    skus = sorted({k for _, k in walk} | {t["skus"][0] for t in online})
    col = {c: j for j, c in enumerate(skus)}
    atp = np.zeros((len(network), len(skus)), np.int64)
    safety = np.zeros_like(atp)
    sp = StockPosition
    for k in range(0, len(skus), 500):
        for node, sku, on_hand, reserved, safe in s.execute(
                select(Node.code, Sku.code, sp.on_hand, sp.reserved, sp.safety_stock)
                .join(Node, Node.id == sp.node_id).join(Sku, Sku.id == sp.sku_id)
                .where(Sku.code.in_(skus[k:k + 500]))).all():
            i = network.index.get(node)
            if i is not None:
                atp[i, col[sku]] = max(on_hand - reserved - safe, 0)
                safety[i, col[sku]] = safe
    # The whole catalogue's margins: one small read, no IN list of thousands of codes.
    margin = dict(s.execute(select(Sku.code, Sku.unit_price - Sku.unit_cost)).all())
    stores = [(network.index[n], col[k], q, max(float(margin.get(k, 0.0)), 0.0))
              for (n, k), q in walk.items() if n in network.index
              and network.is_store[network.index[n]]]
    arr = np.array(stores, np.float64).reshape(-1, 4)
    walkins = WalkInDemand(arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2],
                           arr[:, 3])
    return {"skus": skus, "atp": atp, "safety": safety, "online": online, "walkins": walkins}


def price_table(db: Database, network: Network, cost: CostModel,
                p: PricingParams) -> tuple[OpportunityCosts, dict[str, float]]:
    """Read demand and stock, solve the pricing LP: the table and what went into it."""
    start = time.perf_counter()
    with db.read_session() as s:
        d = demand_inputs(s, network, p)
    skus = d["skus"]
    if not skus:
        return OpportunityCosts((), np.zeros((len(network), 0))), {"skus": 0.0}
    pricer = ForecastPricer(network, skus, cost, d["online"], d["atp"], walkins=d["walkins"],
                            params=p.refresh, safety=d["safety"])
    # Both demands are read fresh for the horizon ahead: nothing of them is used up yet.
    table = pricer.prices(d["atp"], 0, walkin_share=1.0)
    return table, {"seconds": time.perf_counter() - start, "skus": float(len(skus)),
                   "online_types": float(len(d["online"])),
                   "walkin_rows": float(len(d["walkins"].qty)), "lp_value": pricer.last_value,
                   "transport": float(pricer.form == "transport")}


def _price_in_worker(url: str, codes: tuple[str, ...], cost: CostModel,
                     p: PricingParams) -> tuple[tuple[str, ...], np.ndarray, dict[str, float]]:
    """Worker-process side of a refresh: its own engine and network, plain arrays back."""
    db = Database.from_url(url)
    try:
        with db.read_session() as s:
            network = Network.from_records(node_records(s))
        if network.codes != codes:
            raise RuntimeError("the network changed during a price refresh")
        table, stats = price_table(db, network, cost, p)
    finally:
        db.dispose()
    return table.sku_codes, np.array(table.values), stats


class ServicePricing:
    """The service's price table and its background refresher."""

    def __init__(self, db: Database, ctx: Any, params: PricingParams | None = None,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        self.db = db
        self.ctx = ctx  # AllocationContext: network and cost model
        self.params = params or PricingParams()
        self.book = PriceBook()
        self.refresher = PriceRefresher(self.book, self.compute, self.params.refresh,
                                        on_error=on_error)
        self.last: Mapping[str, float] = {}
        # An in-memory SQLite database cannot be opened from another process.
        shared = not (db.sqlite and make_url(db.url).database in (None, "", ":memory:"))
        self._pool = (ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
                      if self.params.worker_process and shared else None)

    def compute(self) -> OpportunityCosts:
        """Read the demand and stock, solve the LP, return the new table (off the request path)."""
        network, _ = self.ctx.network()
        if self._pool is None:
            table, stats = price_table(self.db, network, self.ctx.cost, self.params)
        else:  # waiting on the future releases the GIL: requests keep the interpreter
            skus, values, stats = self._pool.submit(
                _price_in_worker, self.db.url, network.codes, self.ctx.cost,
                self.params).result()
            table = OpportunityCosts(skus, values)
        self.last = stats
        log.info("stock prices refreshed: %s", dict(stats))
        return table

    def start(self) -> None:
        """Compute the first table in the background."""
        self.refresher.start()

    def order_seen(self) -> None:
        """Count an allocation; a due refresh starts on its thread (never waits)."""
        self.refresher.order_seen()

    def stop(self, timeout: float = 5.0) -> None:
        """Wait briefly for a running refresh, then stop the worker process (shutdown)."""
        self.refresher.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def prices_for(pricing: ServicePricing | None, policy: str) -> OpportunityCosts | None:
    """The table to price a `policy` request with: forecast_aware only, else None."""
    if policy != "forecast_aware":
        return None
    table = None if pricing is None else pricing.book.current
    if table is None:
        raise PricesUnavailable(
            "policy forecast_aware needs stock prices: enable OMNI_FORECAST_PRICES and wait "
            "for the first refresh" if pricing is None else
            "the first stock-price refresh has not finished yet; retry shortly")
    return table

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
  rows), solved by HiGHS.

On the 1,000-node x 10,000-SKU benchmark network (3.4 million stock positions, a 7-day
forecast of each store position, 150,000 orders in the lookback week) a refresh takes ~5 s
(reads ~4 s, LP ~1.5 s), and ~18 s right after a forecast run, when the walk-in sums are
read again (tests/benchmarks/test_bench_service_prices.py).

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
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from allocation.costs import CostModel, OpportunityCosts
from allocation.errors import PricesUnavailable
from allocation.forecast_aware import ForecastParams, ForecastPricer, PriceBook, PriceRefresher
from allocation.network import Network
from data.db import Database, RawCursor
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


# Walk-in demand of the latest forecast run, by (database, run, day, horizon): forecasts
# change only by a new run (data.forecast_store replaces them with their run in one
# transaction), so only the first refresh after a run sums the forecast rows (millions at
# 1,000 stores x 10,000 SKUs); the ones after it read three arrays from here.
_WALKINS: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
_EMPTY = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))


def _cursor(s: Session) -> RawCursor:
    """A DB-API cursor on the session's connection (bulk reads without ORM rows)."""
    return RawCursor(s.connection().connection.cursor(), s.get_bind().dialect.name == "sqlite")


def _day(v: Any) -> dt.date:
    return v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v)[:10])


def _walkins(cur: RawCursor, url: str, today: dt.date,
             p: PricingParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forecast walk-in units per (node id, SKU id) over the horizon (latest run, cached)."""
    run = cur.execute("SELECT id, created_at FROM forecast_runs ORDER BY id DESC "
                      "LIMIT 1").fetchone()
    if run is None:
        return _EMPTY
    key = (url, run[0], str(run[1]), today, p.horizon_days)
    hit = _WALKINS.get(key)
    if hit is not None:
        return hit
    first = cur.execute("SELECT min(day) FROM forecasts WHERE day >= ?",
                        [cur.day(today)]).fetchone()[0]
    if first is None:  # a forecast made before today still says what a coming week holds
        first = cur.execute("SELECT min(day) FROM forecasts").fetchone()[0]
    out = _EMPTY
    if first is not None:
        start = _day(first)
        rows = cur.execute(
            "SELECT node_id, sku_id, SUM(mean) FROM forecasts WHERE day >= ? AND day < ? "
            "GROUP BY node_id, sku_id",
            [cur.day(start), cur.day(start + dt.timedelta(days=p.horizon_days))]).fetchall()
        a = np.array(rows, np.float64).reshape(-1, 3)
        keep = a[:, 2] > 0
        out = (a[keep, 0].astype(np.int64), a[keep, 1].astype(np.int64), a[keep, 2])
    _WALKINS.clear()
    _WALKINS[key] = out
    return out


def _online(cur: RawCursor, now: dt.datetime,
            p: PricingParams) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Expected online units per (grid cell, SKU id) over the horizon, largest first, and
    the cell's unit-weighted centre: (lat, lon, SKU id, units)."""
    rows = cur.execute(
        "SELECT o.ship_lat, o.ship_lon, l.sku_id, l.qty FROM orders o "
        "JOIN order_lines l ON l.order_id = o.id "
        "WHERE o.created_at >= ? AND o.method = 'ship' AND o.ship_lat IS NOT NULL",
        [cur.time(now - dt.timedelta(days=p.lookback_days))]).fetchall()
    a = np.array(rows, np.float64).reshape(-1, 4)
    lat, lon, sku, qty = a[:, 0], a[:, 1], a[:, 2].astype(np.int64), a[:, 3]
    deg = p.region_degrees
    cells = np.column_stack([np.round(lat / deg) * deg, np.round(lon / deg) * deg])
    _, cell = np.unique(cells, axis=0, return_inverse=True)
    cell = cell.reshape(-1)
    n_cells = int(cell.max()) + 1 if len(cell) else 0
    units = np.bincount(cell, qty, n_cells)
    # Every SKU of a cell ships to the cell's unit-weighted centre: one region per cell, so
    # the transportation LP prices its arcs once per cell (fulfilment cost differences
    # within a 1-degree cell are a few cents).
    c_lat = np.bincount(cell, lat * qty, n_cells) / np.where(units > 0, units, 1.0)
    c_lon = np.bincount(cell, lon * qty, n_cells) / np.where(units > 0, units, 1.0)
    width = int(sku.max()) + 1 if len(sku) else 1
    pairs, pair = np.unique(cell * width + sku, return_inverse=True)
    count = np.bincount(pair.reshape(-1), qty, len(pairs)) * (p.horizon_days / p.lookback_days)
    order = np.argsort(-count, kind="stable")[: p.max_types]
    pc, ps = pairs[order] // width, pairs[order] % width
    return c_lat[pc], c_lon[pc], ps, count[order]


def _stock(cur: RawCursor, sku_ids: np.ndarray) -> np.ndarray:
    """(node id, SKU id, on_hand, reserved, safety_stock) of the SKUs' stock positions."""
    sql = "SELECT node_id, sku_id, on_hand, reserved, safety_stock FROM stock_positions"
    if len(sku_ids) > 2_000:  # most of the catalogue: one scan beats IN lists
        rows = cur.execute(sql).fetchall()
    else:
        rows = []
        for k in range(0, len(sku_ids), 500):
            part = sku_ids[k:k + 500].tolist()
            rows += cur.execute(f"{sql} WHERE sku_id IN ({', '.join('?' * len(part))})",
                                part).fetchall()
    return np.array(rows, np.int64).reshape(-1, 5)


def demand_inputs(s: Session, network: Network, p: PricingParams,
                  now: dt.datetime | None = None) -> dict[str, Any]:
    """SKUs, ATP and safety stock (nodes, SKUs), online types and walk-ins, from the database.

    Bulk reads on the session's connection, grouped with numpy: at 1,000 nodes x 10,000
    SKUs that is millions of stock and forecast rows, which ORM rows and Python loops
    took ~50 s to read; the forecast's walk-ins are kept per forecast run (`_walkins`).
    """
    now = now or dt.datetime.now(dt.UTC)
    cur = _cursor(s)
    node_row = np.full(1, -1, np.int64)
    ids = cur.execute("SELECT id, code FROM nodes").fetchall()
    if ids:
        node_row = np.full(max(i for i, _ in ids) + 1, -1, np.int64)
        for i, code in ids:
            node_row[i] = network.index.get(code, -1)
    catalogue = cur.execute("SELECT id, code, unit_price - unit_cost FROM skus").fetchall()
    code_of = {int(i): str(c) for i, c, _ in catalogue}
    margin_of = {int(i): max(float(m or 0.0), 0.0) for i, _, m in catalogue}
    w_node, w_sku, w_qty = _walkins(cur, str(s.get_bind().url), now.date(), p)
    o_lat, o_lon, o_sku, o_count = _online(cur, now, p)
    sku_ids = np.union1d(w_sku, o_sku).astype(np.int64)
    skus = sorted(code_of[int(k)] for k in sku_ids)
    col_of = {c: j for j, c in enumerate(skus)}
    sku_col = np.full(int(sku_ids.max()) + 1 if len(sku_ids) else 1, -1, np.int64)
    for k in sku_ids.tolist():
        sku_col[k] = col_of[code_of[k]]
    online = [{"skus": [code_of[k]], "lat": la, "lon": lo, "count": c} for la, lo, k, c in
              zip(o_lat.tolist(), o_lon.tolist(), o_sku.tolist(), o_count.tolist(),
                  strict=True)]
    atp = np.zeros((len(network), len(skus)), np.int64)
    safety = np.zeros_like(atp)
    pos = _stock(cur, sku_ids)
    pos = pos[(pos[:, 0] < len(node_row)) & (pos[:, 1] < len(sku_col))]
    row, col = node_row[pos[:, 0]], sku_col[pos[:, 1]]
    ok = (row >= 0) & (col >= 0)
    row, col, pos = row[ok], col[ok], pos[ok]
    atp[row, col] = np.maximum(pos[:, 2] - pos[:, 3] - pos[:, 4], 0)
    safety[row, col] = pos[:, 4]
    # Walk-ins at stores of the network only, earning the SKU's margin (price - cost).
    n = node_row[np.minimum(w_node, len(node_row) - 1)] if len(w_node) else w_node
    at = (w_node < len(node_row)) & (n >= 0)
    at[at] = network.is_store[n[at]]
    margin = np.array([margin_of[k] for k in w_sku[at].tolist()], np.float64)
    walkins = WalkInDemand(n[at], sku_col[w_sku[at]], w_qty[at], margin)
    return {"skus": skus, "atp": atp, "safety": safety, "online": online, "walkins": walkins}


def price_table(db: Database, network: Network, cost: CostModel, p: PricingParams,
                now: dt.datetime | None = None) -> tuple[OpportunityCosts, dict[str, float]]:
    """Read demand and stock, solve the pricing LP: the table and what went into it."""
    start = time.perf_counter()
    with db.read_session() as s:
        d = demand_inputs(s, network, p, now)
    read = time.perf_counter()
    skus = d["skus"]
    if not skus:
        return OpportunityCosts((), np.zeros((len(network), 0))), {"skus": 0.0}
    pricer = ForecastPricer(network, skus, cost, d["online"], d["atp"], walkins=d["walkins"],
                            params=p.refresh, safety=d["safety"])
    # Both demands are read fresh for the horizon ahead: nothing of them is used up yet.
    table = pricer.prices(d["atp"], 0, walkin_share=1.0)
    return table, {"seconds": time.perf_counter() - start, "read_seconds": read - start,
                   "skus": float(len(skus)),
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

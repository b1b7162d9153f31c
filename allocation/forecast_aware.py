"""Forecast-aware sourcing: the exact per-order optimum with stock priced by an LP's duals.

The myopic optimum takes the cheapest stock for this order even when the next hundred orders
need it more. A pattern LP over the expected demand that remains (online order types, walk-ins
at stores) against the remaining stock prices every (node, SKU) by its inventory dual; the
per-order optimum adds that price to the unit cost (Acimovic & Graves 2015, re-solved).

- `ForecastAwarePolicy`: the per-order model (the prices arrive through OpportunityCosts).
- `ForecastPricer`: builds the LP once, re-solves it warm on the remaining demand and stock.
- `PriceBook` / `PriceRefresher`: the service side, an atomically swapped price table
  refreshed every N orders or T seconds, optionally on a background thread, so a request
  never waits for a solve.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from allocation.candidates import Candidates, build_candidates
from allocation.costs import CostModel, OpportunityCosts
from allocation.network import Network, Order, OrderLine
from optimizer.dlp import DLPType
from optimizer.pattern import PatternLP, WalkInDemand
from optimizer.problem import Plan, SolveParams
from optimizer.solve import solve

log = logging.getLogger("omni.pricing")

__all__ = ["ForecastAwarePolicy", "ForecastParams", "ForecastPricer", "PriceBook",
           "PriceRefresher", "order_types"]


@dataclass(frozen=True)
class ForecastParams:
    """How often prices are refreshed and how hard the LP is solved."""

    # Orders between LP re-solves. Prices move slowly (demand left shrinks by 1/N_total per
    # order), so every ~100 orders (a few % of a replenishment cycle) keeps them current,
    # while a warm re-solve (~15 ms on 300 types) amortises to a fraction of a decision.
    resolve_every: int = 100
    # Also re-solve right after an order empties a (node, SKU): the basis changed there.
    resolve_on_stockout: bool = False
    refresh_seconds: float = 60.0  # service: also refresh after this long without one
    max_iterations: int = 100  # column-generation rounds per re-solve
    background: bool = True  # service: solve on a thread; replay always solves inline

    def __post_init__(self) -> None:
        if self.resolve_every < 1:
            raise ValueError(f"expected resolve_every >= 1, got {self.resolve_every}")
        if not self.refresh_seconds > 0:
            raise ValueError(f"expected refresh_seconds > 0, got {self.refresh_seconds}")
        if self.max_iterations < 1:
            raise ValueError(f"expected max_iterations >= 1, got {self.max_iterations}")


@dataclass(frozen=True)
class ForecastAwarePolicy:
    """Exact least cost with unit cost + shadow price (prices come with the candidates)."""

    name: str = "forecast_aware"
    params: ForecastParams = field(default_factory=ForecastParams)
    solve_params: SolveParams = field(default_factory=SolveParams)

    def plan(self, cands: Candidates) -> tuple[Plan, dict[str, object]]:
        """Solve the per-order problem whose unit costs already include the stock prices."""
        result = solve(cands.data, self.solve_params)
        return result.plan, {"method": result.method, "optimal": result.optimal,
                             "solve_seconds": result.seconds}


def order_types(
    network: Network, sku_codes: Sequence[str], cost: CostModel,
    expected: Sequence[Mapping[str, Any]], stock: np.ndarray,
) -> tuple[list[DLPType], np.ndarray]:
    """LP order types of expected orders (location + SKU set, one unit each) and their counts.

    A node may serve a type's SKU when the order's method allows it and the node held that
    SKU at the start; depletion later is the stock rows' business, not the pattern's.
    """
    col = {s: j for j, s in enumerate(sku_codes)}
    types, counts = [], []
    held = np.asarray(stock) > 0
    for k, e in enumerate(expected):
        skus = list(dict.fromkeys(str(s) for s in e["skus"]))
        order = Order(id=f"type-{k}", lines=tuple(OrderLine(s, 1) for s in skus),
                      lat=float(e["lat"]), lon=float(e["lon"]),
                      method=str(e.get("method", "ship")), pickup_node=e.get("pickup_node"))
        cols = np.array([col[s] for s in skus], np.int64)
        cands = build_candidates(network, order, held[:, cols].astype(np.int64), cost)
        d = cands.data
        types.append(DLPType(cols, float(e["count"]), cands.nodes, d.unit_cost, d.parcel_cost,
                             d.avail > 0, d.unfilled_unit_cost, d.unfilled_parcel_cost))
        counts.append(float(e["count"]))
    return types, np.array(counts, np.float64)


class ForecastPricer:
    """Stock prices from the LP of the demand that remains until the next replenishment."""

    def __init__(
        self, network: Network, sku_codes: Sequence[str], cost: CostModel,
        expected: Sequence[Mapping[str, Any]], stock: np.ndarray,
        *, capacity: np.ndarray | None = None, walkins: WalkInDemand | None = None,
        params: ForecastParams | None = None, safety: np.ndarray | None = None,
    ) -> None:
        self.params = params or ForecastParams()
        # Safety stock serves walk-ins first (online never sees it): only walk-in demand
        # beyond it competes with online orders for ATP in the LP.
        self.safety = safety
        self.sku_codes = tuple(sku_codes)
        types, self.counts = order_types(network, sku_codes, cost, expected, stock)
        self.total = float(self.counts.sum())
        self.walkins = walkins or WalkInDemand.empty()
        self.lp = PatternLP(types, (len(network), len(sku_codes)), capacity)
        self.solves = 0
        self.seconds = 0.0
        self.last_value = float("nan")

    def remaining_share(self, orders_seen: int) -> float:
        """Share of the forecast still to come: expected orders left over expected in total.

        Counting orders (not clock time) needs no horizon and follows the demand actually
        seen; past the forecast's total nothing is expected and the prices fall to zero.
        """
        if self.total <= 0:
            return 0.0
        return max(self.total - orders_seen, 0.0) / self.total

    def prices(self, stock: np.ndarray, orders_seen: int,
               capacity: np.ndarray | None = None,
               walkin_share: float | None = None) -> OpportunityCosts:
        """Re-solve on remaining stock and the scaled forecast; return the inventory duals."""
        start = time.perf_counter()
        share = self.remaining_share(orders_seen)
        wshare = share if walkin_share is None else walkin_share
        walk = self.walkins.scaled(wshare)
        if self.safety is not None and len(walk.qty):
            floor = np.asarray(self.safety)[walk.node, walk.sku]
            walk = WalkInDemand(walk.node, walk.sku, np.maximum(walk.qty - floor, 0.0),
                                walk.margin)
        self.lp.update(self.counts * share, stock, capacity, walk)
        res = self.lp.solve(max_iterations=self.params.max_iterations)
        self.solves += 1
        self.seconds += time.perf_counter() - start
        self.last_value = res.value
        return OpportunityCosts(self.sku_codes, np.maximum(res.stock_prices, 0.0))


class PriceBook:
    """The current price table; readers take one reference (atomic), writers swap whole."""

    def __init__(self, initial: OpportunityCosts | None = None) -> None:
        self._state: tuple[int, OpportunityCosts | None] = (0, initial)
        self._lock = threading.Lock()

    @property
    def current(self) -> OpportunityCosts | None:
        """The table to price the next request with (never blocks)."""
        return self._state[1]

    @property
    def version(self) -> int:
        """How many swaps have happened."""
        return self._state[0]

    def swap(self, table: OpportunityCosts) -> int:
        """Install a new table in one reference assignment; return its version."""
        with self._lock:  # only writers serialise; a reader sees the old or the new tuple
            version = self._state[0] + 1
            self._state = (version, table)
        return version


class PriceRefresher:
    """Recompute the price table every N orders or T seconds, inline or on a thread."""

    def __init__(self, book: PriceBook, compute: Callable[[], OpportunityCosts],
                 params: ForecastParams | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        self.book = book
        self.compute = compute
        self.params = params or ForecastParams()
        self.clock = clock
        # Told of every failed refresh (the service counts them in /metrics); does nothing
        # by default.
        self.on_error = on_error or (lambda exc: None)
        self._orders = 0
        self._last = clock()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.failures = 0
        self.last_error: BaseException | None = None

    def due(self) -> bool:
        """True when N orders or T seconds have passed since the last refresh started."""
        return (self._orders >= self.params.resolve_every
                or self.clock() - self._last >= self.params.refresh_seconds)

    def order_seen(self) -> None:
        """Count one order; start a refresh when one is due (never waits for it)."""
        with self._lock:
            self._orders += 1
            if not self.due():
                return
            if self._thread is not None and self._thread.is_alive():
                return  # one refresh at a time; the next due check starts another
            self._orders = 0
            self._last = self.clock()
            if not self.params.background:
                thread = None
            else:
                thread = threading.Thread(target=self._run, name="price-refresh", daemon=True)
                self._thread = thread
        if thread is None:
            self._run()
        else:
            thread.start()

    def start(self) -> bool:
        """Start a background refresh now unless one is running; True when one started."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False
            self._orders = 0
            self._last = self.clock()
            thread = threading.Thread(target=self._run, name="price-refresh", daemon=True)
            self._thread = thread
        thread.start()
        return True

    def refresh_now(self) -> int:
        """Solve and swap on the calling thread; return the new version."""
        self._run()
        return self.book.version

    def _run(self) -> None:
        try:
            self.book.swap(self.compute())
        except Exception as exc:  # keep serving the old prices, and say so
            self.failures += 1
            self.last_error = exc
            log.exception("stock price refresh failed (%d so far); serving the prices of "
                          "version %d", self.failures, self.book.version)
            self.on_error(exc)

    def join(self, timeout: float | None = None) -> None:
        """Wait for a running background refresh (tests, shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

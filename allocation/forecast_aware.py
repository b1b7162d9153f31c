"""Forecast-aware sourcing: the exact per-order optimum with stock priced by an LP's duals.

The myopic optimum takes the cheapest stock for this order even when the next hundred orders
need it more. A pattern LP over the expected demand that remains (online order types, walk-ins
at stores) against the remaining stock prices every (node, SKU) by its inventory dual; the
per-order optimum adds that price to the unit cost (Acimovic & Graves 2015, re-solved).

- `ForecastAwarePolicy`: the per-order model (the prices arrive through OpportunityCosts).
- `ForecastPricer`: builds the LP once, re-solves it warm on the remaining demand and stock:
  the exact pattern LP (column generation, GLOP dual simplex) up to 2,000 order types, whose
  primal also says which pattern an order of a planned type takes (`pattern_for`); the
  Lagrangian dual ascent of `optimizer.lagrange` beyond (6,336 types of up to 8 lines:
  first solve ~1.3 s, re-solve ~0.1 s CPU; 32,000 types: ~17 s and ~1.3 s); and the
  transportation form for one-SKU types (the service's online demand), where it is exact.
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
from allocation.network import Network, Order, OrderLine, unique_skus
from optimizer.colgen import nearest_candidates
from optimizer.dlp import DLPType
from optimizer.lagrange import LagrangeLP, LagrangeParams
from optimizer.pattern import PatternLP, PatternParams, WalkInDemand
from optimizer.problem import Plan, ProblemData, SolveParams
from optimizer.solve import solve
from optimizer.transport import TransportLP

log = logging.getLogger("omni.pricing")

__all__ = ["ForecastAwarePolicy", "ForecastParams", "ForecastPricer", "PriceBook",
           "PriceRefresher", "follow_pattern", "order_types", "single_line_transport",
           "type_regions"]


_FORMS = ("auto", "pattern", "hybrid", "lagrange", "transport")


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
    # A re-solve stops once the LP is provably within this share of its optimum (Lagrangian
    # bound): the last few columns a warm re-solve finds move the value by less, and each
    # costs a simplex pass.
    gap: float = 1e-5
    # How the LP is solved. "pattern": the exact pattern LP every time (column generation,
    # GLOP warm dual simplex). "lagrange": Lagrangian dual ascent (`optimizer.lagrange`), a
    # fixed number of compiled pricing passes per solve, no simplex pivots. "hybrid": exact
    # first solve, then the ascent from its duals. "transport": order types aggregated to
    # (region, SKU) units (blind to parcel consolidation: measured 4-7% worse). "auto":
    # pattern up to `exact_max_types` order types (a warm re-solve is then milliseconds),
    # lagrange beyond (the simplex pivots of thousands of types cost seconds per re-solve).
    form: str = "auto"
    exact_max_types: int = 2_000
    lagrange_rounds: int = 10  # pricing passes per Lagrangian re-solve
    lagrange_first_rounds: int = 150  # ... of a first solve without an exact start
    candidates: int = 0  # "lagrange": price each type over its nearest this many nodes (0: all)
    # Re-solve every max(resolve_every, order types / types_per_order) orders: a re-solve
    # costs about in proportion to the order types, so the LP time per order stays flat as
    # instances grow (6,336 types: every 100 orders; 32,000: every 500).
    types_per_order: int = 64
    # "pattern": an order of a planned type takes the pattern the LP plans most of it on
    # (among those its stock still allows), not any pattern the prices make as cheap: at a
    # degenerate optimum several tie, and the prices alone cannot say how to split them.
    follow_plan: bool = True
    background: bool = True  # service: solve on a thread; replay always solves inline

    def __post_init__(self) -> None:
        if self.resolve_every < 1:
            raise ValueError(f"expected resolve_every >= 1, got {self.resolve_every}")
        if not self.refresh_seconds > 0:
            raise ValueError(f"expected refresh_seconds > 0, got {self.refresh_seconds}")
        if self.max_iterations < 1:
            raise ValueError(f"expected max_iterations >= 1, got {self.max_iterations}")
        if not 0.0 <= self.gap < 1.0:
            raise ValueError(f"expected 0 <= gap < 1, got {self.gap}")
        if self.form not in _FORMS:
            raise ValueError(f"expected form {' | '.join(_FORMS)}, got {self.form!r}")
        if self.lagrange_rounds < 1 or self.lagrange_first_rounds < 1:
            raise ValueError("expected lagrange_rounds >= 1 and lagrange_first_rounds >= 1")
        if self.candidates < 0 or self.types_per_order < 1:
            raise ValueError("expected candidates >= 0 and types_per_order >= 1")


@dataclass(frozen=True)
class ForecastAwarePolicy:
    """Exact least cost with unit cost + shadow price (prices come with the candidates)."""

    name: str = "forecast_aware"
    params: ForecastParams = field(default_factory=ForecastParams)
    solve_params: SolveParams = field(default_factory=SolveParams)
    # The LP's pattern for this order (SKU -> network row, -1 unfilled), from
    # `ForecastPricer.pattern_for`; empty: the per-order optimum at the priced costs.
    pattern: tuple[tuple[str, int], ...] = ()

    def plan(self, cands: Candidates) -> tuple[Plan, dict[str, object]]:
        """The LP's pattern when it is given and fits, else the per-order optimum whose
        unit costs already include the stock prices."""
        if self.pattern:
            fixed = follow_pattern(cands, dict(self.pattern))
            if fixed is not None:
                return fixed, {"method": "lp-pattern", "optimal": False, "solve_seconds": 0.0}
        result = solve(cands.data, self.solve_params)
        return result.plan, {"method": result.method, "optimal": result.optimal,
                             "solve_seconds": result.seconds}


def follow_pattern(cands: Candidates, pattern: Mapping[str, int]) -> Plan | None:
    """The plan that sources every SKU as `pattern` says (network row, -1 unfilled), or None
    when a SKU is missing from it or its node is no candidate, short of ATP or of capacity."""
    d: ProblemData = cands.data
    pos = {int(n): i for i, n in enumerate(cands.nodes.tolist())}
    x = np.zeros((d.n_nodes, d.n_lines), np.int64)
    unfilled = np.zeros(d.n_lines, np.int64)
    for s, sku in enumerate(cands.skus):
        row = pattern.get(sku)
        if row is None:
            return None
        q = int(d.qty[s])
        if row < 0:
            unfilled[s] = q
            continue
        i = pos.get(row)
        if i is None or d.avail[i, s] < q:
            return None
        x[i, s] = q
    per_node = x.sum(axis=1)
    if (per_node > d.capacity).any() or (
            d.max_parcels is not None and int((per_node > 0).sum()) > d.max_parcels):
        return None
    return Plan(x, unfilled)


def _type_key(lat: float, lon: float, method: str, pickup: Any,
              skus: Sequence[str]) -> tuple[Any, ...]:
    return (round(float(lat), 6), round(float(lon), 6), str(method), pickup or None,
            frozenset(map(str, skus)))


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


def type_regions(expected: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Region of each expected order type: one per demand location and method."""
    ids: dict[tuple[Any, ...], int] = {}
    return np.array([ids.setdefault((round(float(e["lat"]), 6), round(float(e["lon"]), 6),
                                     str(e.get("method", "ship")), e.get("pickup_node")),
                                    len(ids)) for e in expected], np.int64)


def single_line_transport(
    network: Network, sku_codes: Sequence[str], cost: CostModel,
    expected: Sequence[Mapping[str, Any]], capacity: np.ndarray | None = None,
) -> TransportLP:
    """The transportation LP of one-SKU, one-unit order types: their pattern LP itself (on
    networks of more than 16 nodes each (region, SKU) keeps arcs to its 4 cheapest holders
    among the region's 64 cheapest nodes, `optimizer.transport`).

    Arc costs come from one priced single-line order per region (location and method):
    parcel + unit cost of every eligible node, so a 1,000-node network with demand in a
    few hundred regions prices its arcs in a few hundred candidate builds, not one per
    (region, SKU) type.
    """
    col = {s: j for j, s in enumerate(sku_codes)}
    region = type_regions(expected)
    n_regions = int(region.max()) + 1 if len(region) else 0
    n = len(network)
    unit = np.full((n, n_regions), np.inf)
    unfilled = np.zeros(n_regions)
    first: dict[int, int] = {}
    for k, r in enumerate(region.tolist()):
        first.setdefault(r, k)
    ones = np.ones((n, 1), np.int64)
    for r, k in first.items():
        e = expected[k]
        order = Order(id=f"region-{r}", lines=(OrderLine(str(e["skus"][0]), 1),),
                      lat=float(e["lat"]), lon=float(e["lon"]),
                      method=str(e.get("method", "ship")), pickup_node=e.get("pickup_node"))
        d = build_candidates(network, order, ones, cost)
        unit[d.nodes, r] = d.data.unit_cost[:, 0] + d.data.parcel_cost
        unfilled[r] = d.data.unfilled_parcel_cost + float(d.data.unfilled_unit_cost[0])
    sku = np.array([col[str(e["skus"][0])] for e in expected], np.int64)
    return TransportLP(unit, np.arange(len(expected)), region, sku, np.zeros(len(expected)),
                       unfilled[region], len(expected), (n, len(sku_codes)), capacity)


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
        self.walkins = walkins or WalkInDemand.empty()
        shape = (len(network), len(sku_codes))
        p = self.params
        form = p.form
        self.exact: PatternLP | None = None
        self.dual: LagrangeLP | TransportLP | None = None
        self.last_solve_seconds = 0.0
        self.solve_seconds: list[float] = []  # every solve's wall time, first included
        self.solve_cpu_seconds: list[float] = []  # ... and its CPU time (a shared machine)
        self.solves = 0
        self.seconds = 0.0
        self.last_value = float("nan")
        self._scale = 0.0  # the first solve's value: re-solves' tolerance is money, not share
        self.follows = False
        self._plan: dict[int, list[list[Any]]] = {}  # type -> [[planned orders left, rows]]
        if form in ("auto", "transport") and all(
                len(set(map(str, e["skus"]))) == 1 for e in expected):
            # One-SKU order types (the service's online demand): the transportation form is
            # the pattern LP itself, built per region instead of per type.
            self.form = "transport"
            self.dual = single_line_transport(network, sku_codes, cost, expected, capacity)
            self.counts = np.array([float(e["count"]) for e in expected], np.float64)
            self.total = float(self.counts.sum())
            self.resolve_every = p.resolve_every
            return
        types, self.counts = order_types(network, sku_codes, cost, expected, stock)
        self.total = float(self.counts.sum())
        if form == "auto":
            form = "pattern" if len(types) <= p.exact_max_types else "lagrange"
        self.form = form
        # Orders between re-solves (the replay's cadence; the service refreshes by its own).
        self.resolve_every = max(p.resolve_every, -(-len(types) // p.types_per_order))
        # Orders of a planned type follow the LP's primal (`pattern_for`): exact form only.
        self.follows = form == "pattern" and p.follow_plan
        if self.follows:
            self._keys: dict[tuple[Any, ...], int] = {}
            self._lines: list[dict[str, int]] = []
            for k, e in enumerate(expected):
                skus = list(dict.fromkeys(map(str, e["skus"])))
                self._keys.setdefault(_type_key(e["lat"], e["lon"], e.get("method", "ship"),
                                                e.get("pickup_node"), skus), k)
                self._lines.append({c: j for j, c in enumerate(skus)})
            self._nodes = [np.asarray(t.nodes, np.int64) for t in types]
        if form in ("pattern", "hybrid"):
            self.exact = PatternLP(types, shape, capacity, PatternParams(
                warm_up_rounds=30, primal=self.follows))
        if form in ("hybrid", "lagrange"):
            lp_types = (nearest_candidates(types, p.candidates, always=~network.is_store)
                        if form == "lagrange" and p.candidates else types)
            self.dual = LagrangeLP(lp_types, shape, capacity, LagrangeParams(
                first_rounds=p.lagrange_first_rounds, rounds=p.lagrange_rounds))
        if form == "transport":
            self.dual = TransportLP.from_types(types, type_regions(expected), shape, capacity)

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
        start, cpu = time.perf_counter(), time.process_time()
        share = self.remaining_share(orders_seen)
        wshare = share if walkin_share is None else walkin_share
        walk = self.walkins.scaled(wshare)
        if self.safety is not None and len(walk.qty):
            floor = np.asarray(self.safety)[walk.node, walk.sku]
            walk = WalkInDemand(walk.node, walk.sku, np.maximum(walk.qty - floor, 0.0),
                                walk.margin)
        counts = self.counts * share
        if self.exact is not None and (self.form == "pattern" or self.solves == 0):
            self.exact.update(counts, stock, capacity, walk)
            res = self.exact.solve(max_iterations=self.params.max_iterations,
                                   gap=self.params.gap, scale=self._scale)
            if isinstance(self.dual, LagrangeLP):  # hybrid: the ascent goes on from here
                self.dual.update(counts, stock, capacity, walk)
                self.dual.start_from(res.stock_prices, self.exact.cap_prices)
            if self.follows:
                self._plan = {}
                for k, value, lines in self.exact.plan():
                    rows = np.where(lines >= 0, self._nodes[k][np.maximum(lines, 0)], -1)
                    self._plan.setdefault(k, []).append([value, rows])
        else:
            assert self.dual is not None
            self.dual.update(counts, stock, capacity, walk)
            res = self.dual.solve()
        if self.solves == 0:
            self._scale = abs(res.value)
        self.solves += 1
        self.last_solve_seconds = time.perf_counter() - start
        self.solve_seconds.append(self.last_solve_seconds)
        self.solve_cpu_seconds.append(time.process_time() - cpu)
        self.seconds += self.last_solve_seconds
        self.last_value = res.value
        return OpportunityCosts(self.sku_codes, np.maximum(res.stock_prices, 0.0))


    def pattern_for(self, order: Order, atp: np.ndarray) -> tuple[tuple[str, int], ...]:
        """The LP's pattern for an order of a planned type: of the patterns the last solve
        planned for its type, the one with the most planned orders left whose nodes hold
        the order's units (`atp`: nodes x the order's distinct SKUs, `unique_skus` order);
        counted as used. Empty for an unplanned order or when none fits."""
        if not self._plan:
            return ()
        skus, qty, _ = unique_skus(order.lines)
        k = self._keys.get(_type_key(order.lat, order.lon, order.method, order.pickup_node,
                                     skus))
        opts = self._plan.get(k, ()) if k is not None else ()
        cols = [self._lines[k][s] for s in skus] if opts else []
        best: list[Any] | None = None
        for opt in opts:
            if best is not None and opt[0] <= best[0]:
                continue
            rows = opt[1][cols]
            if all(r < 0 or atp[r, j] >= q for j, (r, q) in enumerate(
                    zip(rows.tolist(), qty.tolist(), strict=True))):
                best, chosen = opt, rows
        if best is None:
            return ()
        best[0] -= 1.0
        return tuple(zip(skus, chosen.tolist(), strict=True))


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

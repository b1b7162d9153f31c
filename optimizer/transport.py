"""The aggregated DLP for large catalogues: a per-SKU, per-region transportation LP (HiGHS).

When order types are too many to enumerate (10,000 SKUs), demand is aggregated to units of a
SKU per region and the LP ships units from (node, SKU) stock to (region, SKU) demand, or
leaves them unfilled; walk-ins at stores take the same stock rows for their margin, and pick
capacity caps each node's online units. Parcel consolidation is lost in the aggregation (the
caller folds a parcel share into the unit costs), but the inventory duals per (node, SKU) are
what pricing needs. Arcs are limited to the `k_nearest` cheapest eligible holders of the SKU
among the `scan` cheapest nodes of the region: farther stock is only used when nearer stock
runs short, and the unfilled arc bounds what it could be worth. Construction is vectorised
(no Python loop over variables) and the LP is solved by HiGHS through scipy.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from optimizer.pattern import WalkInDemand

__all__ = ["RegionDemand", "TransportLP", "TransportParams", "TransportResult", "solve_transport"]


@dataclass(frozen=True, eq=False)
class RegionDemand:
    """Expected online units per (region, SKU) (COO) and the per-unit unfilled cost by region.

    `pair_cost` (optional) is added to every arc of a pair (the share of a parcel a unit of
    that pair carries when its order ships whole), and `pair_unfilled` (optional) replaces
    the region's unfilled cost for that pair: aggregated multi-line order types keep their
    per-unit parcel share this way.
    """

    region: np.ndarray  # (P,)
    sku: np.ndarray  # (P,)
    qty: np.ndarray  # (P,) >= 0
    unfilled_cost: np.ndarray  # (R,)
    pair_cost: np.ndarray | None = None  # (P,)
    pair_unfilled: np.ndarray | None = None  # (P,)

    def __post_init__(self) -> None:
        if not (len(self.region) == len(self.sku) == len(self.qty)):
            raise ValueError("expected region, sku and qty of one common length")
        if (np.asarray(self.qty) < 0).any():
            raise ValueError("expected demand qty >= 0")
        for extra in (self.pair_cost, self.pair_unfilled):
            if extra is not None and len(extra) != len(self.qty):
                raise ValueError("expected pair_cost / pair_unfilled of the pairs' length")

    def unfilled(self) -> np.ndarray:
        """(P,) cost of leaving one unit of each pair unfilled."""
        if self.pair_unfilled is not None:
            return np.asarray(self.pair_unfilled, np.float64)
        return np.asarray(self.unfilled_cost, np.float64)[np.asarray(self.region, np.int64)]

    def scaled(self, factor: float) -> RegionDemand:
        """The same demand times `factor` (what remains of the horizon)."""
        return RegionDemand(self.region, self.sku, np.asarray(self.qty) * factor,
                            self.unfilled_cost, self.pair_cost, self.pair_unfilled)


@dataclass(frozen=True)
class TransportParams:
    """Arc generation and solver settings."""

    k_nearest: int = 4  # eligible holders per (region, SKU)
    scan: int = 64  # cheapest nodes of a region searched for holders
    method: str = "highs"  # scipy linprog method: highs-ds | highs-ipm | highs
    presolve: bool = True  # fix pairs whose cheapest stock can never run short (exact)

    def __post_init__(self) -> None:
        if self.k_nearest < 1:
            raise ValueError(f"expected k_nearest >= 1, got {self.k_nearest}")
        if self.scan < self.k_nearest:
            raise ValueError(f"expected scan >= k_nearest, got {self.scan}")
        if self.method not in ("highs-ds", "highs-ipm", "highs"):
            raise ValueError(f"expected method highs-ds | highs-ipm | highs, got {self.method}")


@dataclass(frozen=True, eq=False)
class TransportResult:
    """LP value (online cost + lost walk-in margin), stock prices and size/timing."""

    value: float
    stock_prices: np.ndarray  # (nodes, SKUs) >= 0
    arcs: int
    rows: int
    build_seconds: float
    solve_seconds: float


def _arcs(stock: np.ndarray, unit_cost: np.ndarray, demand: RegionDemand,
          params: TransportParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pair, node, cost - unfilled) of every useful arc, vectorised over demand pairs."""
    n_nodes, _ = unit_cost.shape
    scan = min(params.scan, n_nodes)
    cost = np.where(np.isfinite(unit_cost), unit_cost, np.inf)
    near = np.argsort(cost, axis=0, kind="stable")[:scan].T  # (R, scan) cheapest nodes
    region = np.asarray(demand.region, np.int64)
    sku = np.asarray(demand.sku, np.int64)
    cand = near[region]  # (P, scan)
    ok = (stock[cand, sku[:, None]] > 0) & np.isfinite(cost[cand, region[:, None]])
    ok &= np.cumsum(ok, axis=1) <= params.k_nearest
    pair, slot = np.nonzero(ok)
    node = cand[pair, slot]
    gain = cost[node, region[pair]] - demand.unfilled()[pair]
    if demand.pair_cost is not None:
        gain = gain + np.asarray(demand.pair_cost, np.float64)[pair]
    useful = gain < 0  # an arc dearer than leaving the unit unfilled is never used
    return pair[useful], node[useful], gain[useful]


def _presolve(pair: np.ndarray, row: np.ndarray, gain: np.ndarray, qty: np.ndarray,
              stock_row: np.ndarray, walk_load: np.ndarray, capped_row: np.ndarray,
              rounds: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Pairs whose cheapest arc ends at a row that can never bind: fixed there (exact).

    A row whose stock covers every unit that could ever reach it (all demand of the pairs
    with an arc to it, plus its walk-ins) is redundant and has dual 0; a pair whose
    cheapest arc ends there sends everything down that arc in some optimum (moving flow to
    it is feasible and no dearer). Fixing such pairs removes their other arcs, which can
    free more rows, so the rule repeats. Capacity-capped nodes are never freed.
    """
    fixed = np.zeros(len(qty), bool)
    active = np.ones(len(pair), bool)
    chosen: list[np.ndarray] = []
    # Arcs are in pair order; the first arc of each pair in cost order is its cheapest.
    order = np.lexsort((gain, pair))
    for _ in range(rounds):
        load = walk_load + np.bincount(row[active], weights=qty[pair[active]],
                                       minlength=len(stock_row))
        free = (load <= stock_row + 1e-9) & ~capped_row
        live = order[active[order]]
        first = np.ones(len(live), bool)
        first[1:] = pair[live][1:] != pair[live][:-1]
        best = live[first]
        newly = best[free[row[best]]]
        if len(newly) == 0:
            break
        fixed[pair[newly]] = True
        chosen.append(newly)
        active &= ~fixed[pair]
    return fixed, (np.concatenate(chosen) if chosen else np.zeros(0, np.int64))


def solve_transport(
    stock: np.ndarray, unit_cost: np.ndarray, demand: RegionDemand,
    *, capacity: np.ndarray | None = None, walkins: WalkInDemand | None = None,
    params: TransportParams | None = None,
) -> TransportResult:
    """Solve the aggregated LP; prices are the duals of the (node, SKU) stock rows."""
    params = params or TransportParams()
    start = time.perf_counter()
    stock = np.asarray(stock)
    n_nodes, n_skus = stock.shape
    unit_cost = np.asarray(unit_cost, np.float64)
    if unit_cost.shape[0] != n_nodes:
        raise ValueError(f"expected unit_cost with {n_nodes} rows, got {unit_cost.shape[0]}")
    walkins = walkins or WalkInDemand.empty()
    pair, node, gain = _arcs(stock, unit_cost, demand, params)
    sku = np.asarray(demand.sku, np.int64)[pair]
    w_node, w_sku = np.asarray(walkins.node, np.int64), np.asarray(walkins.sku, np.int64)
    # Stock rows only for (node, SKU) an arc or a walk-in touches.
    keys = np.concatenate([node * n_skus + sku, w_node * n_skus + w_sku])
    row_keys, row_of = np.unique(keys, return_inverse=True)
    stock_all = np.maximum(stock.reshape(-1)[row_keys].astype(np.float64), 0.0)
    qty = np.asarray(demand.qty, np.float64)
    w_qty = np.asarray(walkins.qty, np.float64)
    w_margin = np.asarray(walkins.margin, np.float64)
    n_a = len(pair)
    walk_load = np.bincount(row_of[n_a:], weights=w_qty, minlength=len(row_keys))
    capped_row = np.zeros(len(row_keys), bool)
    if capacity is not None:
        capped_row = np.asarray(capacity, np.float64)[row_keys // n_skus] < 1e12
    if params.presolve:
        fixed, chosen = _presolve(pair, row_of[:n_a], gain, qty, stock_all, walk_load,
                                  capped_row)
    else:
        fixed, chosen = np.zeros(len(qty), bool), np.zeros(0, np.int64)
    fixed_value = float(gain[chosen] @ qty[pair[chosen]])
    used = np.bincount(row_of[:n_a][chosen], weights=qty[pair[chosen]],
                       minlength=len(row_keys))
    keep = ~fixed[pair]
    arc_rows = row_of[:n_a][keep]
    # Walk-ins on rows no remaining arc touches: alone on their row, solved in closed form.
    touched = np.zeros(len(row_keys), bool)
    touched[arc_rows] = True
    w_rows = row_of[n_a:]
    w_in = touched[w_rows]
    left = np.maximum(stock_all - used, 0.0)
    w_alone = ~w_in
    alone_served = np.minimum(w_qty[w_alone], left[w_rows[w_alone]])
    alone_value = -float(w_margin[w_alone] @ alone_served)
    alone_price = np.where(w_qty[w_alone] >= left[w_rows[w_alone]], w_margin[w_alone], 0.0)
    # Renumber what goes to HiGHS: remaining pairs, arcs, touched rows, their walk-ins.
    pair_ids, pair = np.unique(pair[keep], return_inverse=True)
    node, gain = node[keep], gain[keep]
    lp_rows, arc_rows = np.unique(np.concatenate([arc_rows, w_rows[w_in]]),
                                  return_inverse=True)
    row_of = arc_rows
    w_margin_lp, w_qty_lp = w_margin[w_in], w_qty[w_in]
    n_arcs, n_walk, n_pairs = len(pair), int(w_in.sum()), len(pair_ids)
    n_stock = len(lp_rows)
    cols = np.arange(n_arcs + n_walk)
    rows = [pair, n_pairs + row_of]
    col_idx = [cols[:n_arcs], cols]
    b = [qty[pair_ids], left[lp_rows]]
    n_rows = n_pairs + n_stock
    if capacity is not None:
        cap = np.asarray(capacity, np.float64)
        capped = np.flatnonzero(cap < 1e12)
        cap_row = np.full(n_nodes, -1)
        cap_row[capped] = np.arange(len(capped))
        on = cap_row[node] >= 0
        rows.append(n_rows + cap_row[node[on]])
        col_idx.append(cols[:n_arcs][on])
        b.append(cap[capped])
        n_rows += len(capped)
    a_ub = sp.csr_matrix((np.ones(sum(len(r) for r in rows)),
                          (np.concatenate(rows), np.concatenate(col_idx))),
                         shape=(n_rows, n_arcs + n_walk))
    c = np.concatenate([gain, -w_margin_lp])
    ub = np.concatenate([np.full(n_arcs, np.inf), w_qty_lp])
    bounds = np.column_stack([np.zeros(n_arcs + n_walk), ub])
    built = time.perf_counter()
    prices = np.zeros(n_nodes * n_skus)
    prices[row_keys[w_rows[w_alone]]] = alone_price
    fun = 0.0
    if len(c):  # else everything was fixed by the presolve, or nothing is asked
        res = linprog(c, A_ub=a_ub, b_ub=np.concatenate(b), bounds=bounds,
                      method=params.method)
        if res.status != 0:
            raise RuntimeError(f"transport LP failed: {res.message}")
        fun = float(res.fun)
        prices[row_keys[lp_rows]] = np.maximum(
            -res.ineqlin.marginals[n_pairs:n_pairs + n_stock], 0.0)
    solved = time.perf_counter()
    # Undo the shift: every demanded unit was first charged as unfilled, every walk-in as lost.
    value = (fun + fixed_value + alone_value
             + float(qty @ demand.unfilled())
             + float(w_qty @ w_margin))
    return TransportResult(value, prices.reshape(n_nodes, n_skus), n_arcs, n_rows,
                           built - start, solved - built)


class TransportLP:
    """Order types aggregated to (region, SKU) units: the transportation form of the pattern
    LP, with `PatternLP`'s update/solve interface so a pricer can use either.

    Every line of a type is one unit of its (region, SKU) pair; a unit carries its share of
    a parcel on every arc (`line_parcel`: parcel / lines, as if its order shipped whole) and
    costs `line_unfilled` when left unfilled. Split parcels are what the aggregation cannot
    see; for one-unit single-line types (the service's online demand) it is the pattern LP
    (up to the arc restriction of `TransportParams` on networks over 16 nodes). Every
    solve is cold (HiGHS, vectorised build), so its time does not depend on how far the
    state moved.
    """

    def __init__(self, unit_cost: np.ndarray, line_type: np.ndarray, line_region: np.ndarray,
                 line_sku: np.ndarray, line_parcel: np.ndarray, line_unfilled: np.ndarray,
                 n_types: int, shape: tuple[int, int], capacity: np.ndarray | None = None,
                 params: TransportParams | None = None) -> None:
        self.shape = shape
        n_nodes, n_skus = shape
        # Small networks: every holder is an arc (exact). Large ones: the 4 cheapest holders
        # among a region's 64 cheapest nodes (TransportParams' defaults).
        self.params = params or (TransportParams(k_nearest=n_nodes, scan=n_nodes)
                                 if n_nodes <= 16 else TransportParams())
        self.capacity = None if capacity is None else np.asarray(capacity, np.float64)
        self.unit_cost = np.asarray(unit_cost, np.float64)  # (nodes, regions)
        keys = np.asarray(line_region, np.int64) * n_skus + np.asarray(line_sku, np.int64)
        self.pair_keys, self._line_pair = np.unique(keys, return_inverse=True)
        self._line_type = np.asarray(line_type, np.int64)
        self._line_parcel = np.asarray(line_parcel, np.float64)
        self._line_unfilled = np.asarray(line_unfilled, np.float64)
        self.n_types = n_types
        self._counts = np.zeros(n_types)
        self._inv = np.zeros(shape)
        self._cap = self.capacity
        self._walk: WalkInDemand | None = None
        self.columns = 0
        self.last_stats: dict[str, float] = {}

    @staticmethod
    def from_types(types: Sequence[Any], region: np.ndarray, shape: tuple[int, int],
                   capacity: np.ndarray | None = None,
                   params: TransportParams | None = None) -> TransportLP:
        """Aggregate pattern-LP order types (`optimizer.dlp.DLPType`) by their region."""
        region = np.asarray(region, np.int64)
        n_regions = int(region.max()) + 1 if len(region) else 0
        cost = np.full((shape[0], n_regions), np.inf)
        lt, lr, ls, lp, lu = [], [], [], [], []
        for k, t in enumerate(types):
            r = int(region[k])
            unit = np.where(np.asarray(t.allowed, bool), np.asarray(t.unit_cost, np.float64),
                            np.inf)
            best = unit.min(axis=1)
            ok = np.isfinite(best)
            nodes = np.asarray(t.nodes, np.int64)
            cost[nodes[ok], r] = np.minimum(cost[nodes[ok], r], best[ok])
            n_l = len(t.skus)
            lt.append(np.full(n_l, k))
            lr.append(np.full(n_l, r))
            ls.append(np.asarray(t.skus, np.int64))
            share = float(np.min(t.parcel_cost)) / n_l if len(t.parcel_cost) else 0.0
            lp.append(np.full(n_l, share))
            lu.append(np.asarray(t.unfilled_unit_cost, np.float64)
                      + float(t.unfilled_parcel_cost) / n_l)

        def cat(parts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0)

        return TransportLP(cost, cat(lt).astype(np.int64), cat(lr).astype(np.int64),
                           cat(ls).astype(np.int64), cat(lp), cat(lu), len(types), shape,
                           capacity, params)

    def demand(self, counts: np.ndarray) -> RegionDemand:
        """Units per (region, SKU) for these type counts, with count-weighted parcel shares."""
        n_skus = self.shape[1]
        w = np.asarray(counts, np.float64)[self._line_type]
        n_p = len(self.pair_keys)
        qty = np.bincount(self._line_pair, weights=w, minlength=n_p)
        safe = np.where(qty > 0, qty, 1.0)
        parcel = np.bincount(self._line_pair, weights=w * self._line_parcel, minlength=n_p)
        unfilled = np.bincount(self._line_pair, weights=w * self._line_unfilled,
                               minlength=n_p)
        region = self.pair_keys // n_skus
        return RegionDemand(region, self.pair_keys % n_skus, qty,
                            np.zeros(int(region.max()) + 1 if n_p else 0),
                            pair_cost=parcel / safe, pair_unfilled=unfilled / safe)

    def update(self, counts: np.ndarray, inventory: np.ndarray,
               capacity: np.ndarray | None = None,
               walkins: WalkInDemand | None = None) -> None:
        """New right-hand sides, as `PatternLP.update`."""
        counts = np.asarray(counts, np.float64)
        if counts.shape != (self.n_types,) or (counts < 0).any():
            raise ValueError(f"expected {self.n_types} counts >= 0")
        inv = np.asarray(inventory, np.float64)
        if inv.shape != self.shape:
            raise ValueError(f"expected inventory of shape {self.shape}, got {inv.shape}")
        self._counts = counts
        self._inv = np.maximum(inv, 0.0)
        if capacity is not None and self.capacity is not None:
            self._cap = np.maximum(np.asarray(capacity, np.float64), 0.0)
        self._walk = walkins

    def solve(self, **_: Any) -> Any:
        """Solve cold; a DLPResult-like (value, stock_prices, iterations, columns, converged).

        The value is `PatternLP`'s (online cost minus the walk-in margin earned), not
        `solve_transport`'s (online cost plus the margin lost): they differ by the margin
        at stake, which no decision changes.
        """
        from optimizer.dlp import DLPResult

        dem = self.demand(self._counts)
        live = dem.qty > 0
        dem = RegionDemand(dem.region[live], dem.sku[live], dem.qty[live], dem.unfilled_cost,
                           dem.pair_cost[live], dem.pair_unfilled[live])  # type: ignore[index]
        res = solve_transport(self._inv, self.unit_cost, dem, capacity=self._cap,
                              walkins=self._walk, params=self.params)
        self.columns = res.arcs
        self.last_stats = {"iterations": 1.0, "lp_seconds": res.solve_seconds,
                           "build_seconds": res.build_seconds, "arcs": float(res.arcs),
                           "rows": float(res.rows)}
        walk = self._walk or WalkInDemand.empty()
        stake = float(np.asarray(walk.qty, np.float64) @ np.asarray(walk.margin, np.float64))
        return DLPResult(res.value - stake, res.stock_prices, 1, res.arcs, True)

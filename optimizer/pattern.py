"""The pattern (configuration) LP over order types, kept warm between re-solves.

The same LP as `optimizer.dlp` (every order type chooses a mix of fulfilment patterns, stock
and pick capacity bound the expected use), but as an object that keeps its generated
columns: re-solving with less stock and less remaining demand only changes right-hand
sides, so the old columns are a near-optimal start and column generation converges in one
or two pricing rounds. Walk-in shoppers at stores compete for the same stock rows: a walk-in
unit served earns its margin (objective -margin), so a store unit goes online only when
that is worth more than the shelf sale it displaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ortools.linear_solver import pywraplp

from optimizer.dlp import DLPResult, DLPType, _price

__all__ = ["PatternLP", "WalkInDemand", "price_type"]

_UNCAPPED = 1 << 40
_ENUM_NODES = 8  # up to 2^(8+1) node subsets per type: enumerate; beyond, the exact solver


def _subsets(k: int) -> np.ndarray:
    """Every subset of k items as a (2^k, k) bool matrix."""
    ids = np.arange(1 << k)
    return ((ids[:, None] >> np.arange(k)[None, :]) & 1).astype(bool)


_SUBSETS = [_subsets(k) for k in range(_ENUM_NODES + 2)]


def price_type(t: DLPType, prices: np.ndarray,
               cap_prices: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Cheapest pattern of a type under stock prices: (cost at true prices, x, unfilled).

    With one unit per SKU and no capacity in the pricing problem, a pattern is a set of
    nodes (the unfilled option is one more) and every SKU goes to its cheapest member, so
    enumerating node sets is exact; it replaces a solver call per type and round.
    """
    k = len(t.nodes)
    if k > _ENUM_NODES:
        return _price(t, prices, cap_prices)
    n_lines = len(t.skus)
    adj = t.unit_cost + prices[np.ix_(t.nodes, t.skus)] + cap_prices[t.nodes][:, None]
    unit = np.vstack([np.where(t.allowed, adj, np.inf), t.unfilled_unit_cost[None, :]])
    parcel = np.append(t.parcel_cost, t.unfilled_parcel_cost)
    masks = _SUBSETS[k + 1][1:]  # (M, K+1), the empty set cannot serve anything
    per = np.where(masks[:, :, None], unit[None, :, :], np.inf)  # (M, K+1, L)
    best = per.argmin(axis=1)  # (M, L)
    unit_sum = np.take_along_axis(per, best[:, None, :], axis=1)[:, 0, :].sum(axis=1)
    total = masks @ parcel + unit_sum
    m = int(np.argmin(total))
    choice = best[m]
    # Only nodes actually used pay a parcel; a subset with an idle member is never cheaper.
    x = np.zeros((k, n_lines), np.int64)
    real = choice < k
    x[choice[real], np.flatnonzero(real)] = 1
    u = (~real).astype(np.int64)
    used = x.sum(axis=1) > 0
    true_cost = float(t.parcel_cost[used].sum() + (t.unit_cost * x).sum())
    if u.sum():
        true_cost += t.unfilled_parcel_cost + float(t.unfilled_unit_cost @ u)
    return true_cost, x, u


@dataclass(frozen=True, eq=False)
class WalkInDemand:
    """Expected walk-in units per (store, SKU) and the margin a served unit earns."""

    node: np.ndarray  # (W,) row indices into the inventory
    sku: np.ndarray  # (W,) column indices
    qty: np.ndarray  # (W,) expected units (>= 0)
    margin: np.ndarray  # (W,) per unit (>= 0)

    def __post_init__(self) -> None:
        arrays = [np.asarray(a) for a in (self.node, self.sku, self.qty, self.margin)]
        if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1:
            raise ValueError("expected node, sku, qty and margin of one common length")
        if (arrays[2] < 0).any() or (arrays[3] < 0).any():
            raise ValueError("expected walk-in qty >= 0 and margin >= 0")

    @staticmethod
    def empty() -> WalkInDemand:
        """No walk-in demand."""
        z = np.zeros(0)
        return WalkInDemand(z.astype(np.int64), z.astype(np.int64), z, z)

    def scaled(self, factor: float) -> WalkInDemand:
        """The same demand times `factor` (what remains of the horizon)."""
        return WalkInDemand(self.node, self.sku, np.asarray(self.qty) * factor, self.margin)


class PatternLP:
    """Column-generation LP of order types and walk-ins; re-solvable with new demand/stock."""

    def __init__(self, types: Sequence[DLPType], shape: tuple[int, int],
                 capacity: np.ndarray | None = None) -> None:
        self.types = list(types)
        self.shape = shape
        self.capacity = None if capacity is None else np.asarray(capacity, np.int64)
        self._inv = np.zeros(shape)
        self._cap = None if self.capacity is None else self.capacity.astype(np.float64)
        s = pywraplp.Solver.CreateSolver("GLOP")
        if s is None:  # pragma: no cover - GLOP ships with every OR-Tools wheel
            raise RuntimeError("GLOP is not available")
        self.solver = s
        self.objective = s.Objective()
        self.objective.SetMinimization()
        self.demand = [s.Constraint(0.0, 0.0) for _ in self.types]
        self.stock: dict[tuple[int, int], pywraplp.Constraint] = {}
        self.caps: dict[int, pywraplp.Constraint] = {}
        self.walkin: dict[tuple[int, int], pywraplp.Variable] = {}
        self.columns = 0
        for k, t in enumerate(self.types):
            # Everything unfilled: always feasible, so the master LP always has a solution.
            x0 = np.zeros((len(t.nodes), len(t.skus)), np.int64)
            self._add_column(k, t.unfilled_parcel_cost + float(t.unfilled_unit_cost.sum()), x0)

    def _row(self, key: tuple[int, int]) -> pywraplp.Constraint:
        con = self.stock.get(key)
        if con is None:
            con = self.solver.Constraint(-self.solver.infinity(), float(self._inv[key]))
            self.stock[key] = con
        return con

    def _add_column(self, k: int, cost: float, x: np.ndarray) -> None:
        t = self.types[k]
        var = self.solver.NumVar(0.0, self.solver.infinity(), f"c{self.columns}")
        self.columns += 1
        self.objective.SetCoefficient(var, cost)
        self.demand[k].SetCoefficient(var, 1.0)
        for a, b in zip(*np.nonzero(x), strict=True):
            key = (int(t.nodes[a]), int(t.skus[b]))
            self._row(key).SetCoefficient(var, float(x[a, b]))
            n = key[0]
            if self._cap is not None and self.capacity is not None \
                    and self.capacity[n] < _UNCAPPED:
                con = self.caps.get(n)
                if con is None:
                    con = self.solver.Constraint(-self.solver.infinity(), float(self._cap[n]))
                    self.caps[n] = con
                con.SetCoefficient(var, con.GetCoefficient(var) + float(x[a, b]))

    def update(self, counts: np.ndarray, inventory: np.ndarray,
               capacity: np.ndarray | None = None,
               walkins: WalkInDemand | None = None) -> None:
        """New right-hand sides: expected count per type, stock, capacity left, walk-ins."""
        counts = np.asarray(counts, np.float64)
        if counts.shape != (len(self.types),) or (counts < 0).any():
            raise ValueError(f"expected {len(self.types)} counts >= 0")
        inv = np.asarray(inventory, np.float64)
        if inv.shape != self.shape:
            raise ValueError(f"expected inventory of shape {self.shape}, got {inv.shape}")
        self._inv = np.maximum(inv, 0.0)
        for con, c in zip(self.demand, counts, strict=True):
            con.SetBounds(float(c), float(c))
        for key, con in self.stock.items():
            con.SetUb(float(self._inv[key]))
        if capacity is not None and self.capacity is not None:
            self._cap = np.maximum(np.asarray(capacity, np.float64), 0.0)
            for n, con in self.caps.items():
                con.SetUb(float(self._cap[n]))
        for var in self.walkin.values():
            var.SetUb(0.0)
        if walkins is not None:
            for n, s, q, m in zip(walkins.node, walkins.sku, walkins.qty, walkins.margin,
                                  strict=True):
                key = (int(n), int(s))
                var = self.walkin.get(key)
                if var is None:
                    var = self.solver.NumVar(0.0, 0.0, f"w{n}_{s}")
                    self.walkin[key] = var
                    self._row(key).SetCoefficient(var, 1.0)
                var.SetUb(var.ub() + float(q))
                # A served walk-in unit earns its margin: the LP keeps it unless online pays more.
                self.objective.SetCoefficient(var, -float(m))

    def solve(self, *, max_iterations: int = 200, tol: float = 1e-7) -> DLPResult:
        """Column generation from the current pool; value is cost minus walk-in margin earned."""
        solver = self.solver
        prices = np.zeros(self.shape)
        cap_prices = np.zeros(self.shape[0])
        converged = False
        iterations = 0
        for iterations in range(1, max_iterations + 1):  # noqa: B007 - reported afterwards
            if solver.Solve() != pywraplp.Solver.OPTIMAL:
                raise RuntimeError("pattern LP was not solved to optimality")
            prices[:] = 0.0
            for (n, s), con in self.stock.items():
                prices[n, s] = max(-con.dual_value(), 0.0)  # <= rows of a min LP: duals <= 0
            cap_prices[:] = 0.0
            for n, con in self.caps.items():
                cap_prices[n] = max(-con.dual_value(), 0.0)
            # Read every dual before adding columns: adding invalidates the solution.
            duals = [con.dual_value() for con in self.demand]
            new = []
            for k, t in enumerate(self.types):
                if self.demand[k].ub() <= 0:
                    continue
                cost, x, _ = price_type(t, prices, cap_prices)
                reduced = (cost + float((prices[np.ix_(t.nodes, t.skus)] * x).sum())
                           + float(cap_prices[t.nodes] @ x.sum(axis=1)) - duals[k])
                if reduced < -tol * max(1.0, abs(cost)):
                    new.append((k, cost, x))
            for k, cost, x in new:
                self._add_column(k, cost, x)
            if not new:
                converged = True
                break
        value = self.objective.Value()
        return DLPResult(value, prices.copy(), iterations, self.columns, converged)

    def walkin_margin_at_stake(self) -> float:
        """Total margin of the walk-in demand currently in the LP (value + this = cost + lost)."""
        return float(sum(var.ub() * -self.objective.GetCoefficient(var)
                         for var in self.walkin.values()))

"""The deterministic LP bound (DLP) of an order stream, by column generation with GLOP.

Jasin & Sinha (2015) / Ma (2023): for every order type k (a location and a set of SKUs, one
unit each) with expected count lambda_k, choose a mix of fulfilment options (each SKU from
one node, or unfilled) meeting lambda_k, with expected use of each (node, SKU) at most its
stock and of each node at most its pick capacity. Options are exponentially many, so they
are generated: given the LP duals, the cheapest option of a type is an uncapacitated per-order
problem with unit costs raised by the stock prices, solved exactly by `optimizer.solve`.
The inventory duals are the shadow prices of stock (the opportunity costs of DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ortools.linear_solver import pywraplp

from optimizer.problem import ProblemData, SolveParams
from optimizer.solve import solve

__all__ = ["DLPResult", "DLPType", "dlp_bound"]

_UNCAPPED = 1 << 40


@dataclass(frozen=True, eq=False)
class DLPType:
    """One order type: its SKU columns, expected count and prices over its candidate nodes."""

    skus: np.ndarray  # (L,) column indices into the inventory
    count: float
    nodes: np.ndarray  # (K,) row indices into the inventory
    unit_cost: np.ndarray  # (K, L)
    parcel_cost: np.ndarray  # (K,)
    allowed: np.ndarray  # (K, L) bool: node may supply the SKU
    unfilled_unit_cost: np.ndarray  # (L,)
    unfilled_parcel_cost: float

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError(f"expected count >= 0, got {self.count}")
        if len(set(np.asarray(self.skus).tolist())) != len(self.skus):
            raise ValueError("expected distinct SKUs in an order type")


@dataclass(frozen=True, eq=False)
class DLPResult:
    """Bound value, the price of each unit of stock, and how the generation went."""

    value: float
    stock_prices: np.ndarray  # (nodes, SKUs) >= 0: the LP's inventory duals
    iterations: int
    columns: int
    converged: bool


def _price(t: DLPType, prices: np.ndarray, cap_prices: np.ndarray) -> tuple[float, np.ndarray,
                                                                             np.ndarray]:
    """Cheapest option of type t under stock prices: (cost at true prices, x, unfilled)."""
    adj = t.unit_cost + prices[np.ix_(t.nodes, t.skus)] + cap_prices[t.nodes][:, None]
    data = ProblemData(
        qty=np.ones(len(t.skus), np.int64), avail=t.allowed.astype(np.int64), unit_cost=adj,
        parcel_cost=t.parcel_cost, capacity=np.full(len(t.nodes), _UNCAPPED),
        unfilled_unit_cost=t.unfilled_unit_cost, unfilled_parcel_cost=t.unfilled_parcel_cost)
    res = solve(data, SolveParams(time_limit=10.0))
    x, u = res.plan.x, res.plan.unfilled
    used = x.sum(axis=1) > 0
    true_cost = float(t.parcel_cost[used].sum() + (t.unit_cost * x).sum())
    if u.sum():
        true_cost += t.unfilled_parcel_cost + float(t.unfilled_unit_cost @ u)
    return true_cost, x, u


def dlp_bound(
    types: Sequence[DLPType],
    inventory: np.ndarray,
    capacity: np.ndarray | None = None,
    *,
    max_iterations: int = 500,
    tol: float = 1e-7,
) -> DLPResult:
    """Solve the DLP to optimality (or to `max_iterations` rounds of column generation)."""
    inv = np.asarray(inventory, dtype=np.float64)
    n_nodes, n_skus = inv.shape
    solver = pywraplp.Solver.CreateSolver("GLOP")
    demand = [solver.Constraint(t.count, t.count) for t in types]
    stock: dict[tuple[int, int], pywraplp.Constraint] = {}
    caps: dict[int, pywraplp.Constraint] = {}
    objective = solver.Objective()
    n_cols = 0

    def add_column(k: int, cost: float, x: np.ndarray) -> None:
        nonlocal n_cols
        t = types[k]
        var = solver.NumVar(0.0, solver.infinity(), f"c{n_cols}")
        n_cols += 1
        objective.SetCoefficient(var, cost)
        demand[k].SetCoefficient(var, 1.0)
        for a, b in zip(*np.nonzero(x), strict=True):
            key = (int(t.nodes[a]), int(t.skus[b]))
            if key not in stock:
                stock[key] = solver.Constraint(-solver.infinity(), float(inv[key]))
            stock[key].SetCoefficient(var, float(x[a, b]))
            n = key[0]
            if capacity is not None and capacity[n] < _UNCAPPED:
                if n not in caps:
                    caps[n] = solver.Constraint(-solver.infinity(), float(capacity[n]))
                caps[n].SetCoefficient(var, caps[n].GetCoefficient(var) + float(x[a, b]))

    for k, t in enumerate(types):
        # Everything unfilled: always feasible, so the master LP always has a solution.
        x0 = np.zeros((len(t.nodes), len(t.skus)), np.int64)
        add_column(k, t.unfilled_parcel_cost + float(t.unfilled_unit_cost.sum()), x0)
    objective.SetMinimization()
    converged = False
    iterations = 0
    prices = np.zeros((n_nodes, n_skus))
    cap_prices = np.zeros(n_nodes)
    for iterations in range(1, max_iterations + 1):  # noqa: B007 - reported afterwards
        if solver.Solve() != pywraplp.Solver.OPTIMAL:
            raise RuntimeError("DLP master problem was not solved to optimality")
        prices[:] = 0.0
        for (n, s), con in stock.items():
            prices[n, s] = max(-con.dual_value(), 0.0)  # <= rows of a min LP: duals <= 0
        cap_prices[:] = 0.0
        for n, con in caps.items():
            cap_prices[n] = max(-con.dual_value(), 0.0)
        # Read every dual before adding columns: adding invalidates the solution.
        duals = [con.dual_value() for con in demand]
        new = []
        for k, t in enumerate(types):
            if t.count <= 0:
                continue
            cost, x, _ = _price(t, prices, cap_prices)
            reduced = (cost + float((prices[np.ix_(t.nodes, t.skus)] * x).sum())
                       + float(cap_prices[t.nodes] @ x.sum(axis=1)) - duals[k])
            if reduced < -tol * max(1.0, abs(cost)):
                new.append((k, cost, x))
        for k, cost, x in new:
            add_column(k, cost, x)
        if not new:
            converged = True
            break
    return DLPResult(objective.Value(), prices.copy(), iterations, n_cols, converged)

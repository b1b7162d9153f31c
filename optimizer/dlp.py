"""The deterministic LP bound (DLP) of an order stream, by column generation with GLOP.

Jasin & Sinha (2015) / Ma (2023): for every order type k (a location and a set of SKUs, one
unit each) with expected count lambda_k, choose a mix of fulfilment options (each SKU from
one node, or unfilled) meeting lambda_k, with expected use of each (node, SKU) at most its
stock and of each node at most its pick capacity. Options are exponentially many, so they
are generated: given the LP duals, the cheapest option of a type is an uncapacitated per-order
problem with unit costs raised by the stock prices, solved exactly for every type at once by
`optimizer.colgen` (`_price` here, the per-order solver, prices what that cannot). The
inventory duals are the shadow prices of stock (the opportunity costs of DESIGN.md).
`dlp_bound` solves it with `optimizer.pattern.PatternLP`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

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
    """Solve the DLP to optimality (or to `max_iterations` rounds of column generation).

    The same master and exact pricing as `optimizer.pattern.PatternLP` (every type priced
    in one compiled pass, `optimizer.colgen`), solved once.
    """
    from optimizer.pattern import PatternLP  # pattern builds on this module's types

    inv = np.asarray(inventory, dtype=np.float64)
    lp = PatternLP(types, inv.shape, capacity)
    lp.update(np.array([t.count for t in types], np.float64), inv)
    return lp.solve(max_iterations=max_iterations, tol=tol)

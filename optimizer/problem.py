"""The frozen per-order sourcing problem, its plans and its solve parameters (PyVRP style).

One order is L lines over N candidate nodes. A plan puts an integer quantity of every line
on nodes (x, shape (N, L)) and leaves the rest unfilled. Its cost is

    sum_n parcel_cost[n] * [node n supplies anything]
  + sum_{n,i} unit_cost[n, i] * x[n, i]
  + unfilled_parcel_cost * [anything unfilled] + sum_i unfilled_unit_cost[i] * unfilled[i].

Everything the cost model knows (zones, distance, pick labour, opportunity cost of store
stock, transfers for pickups) is already folded into these arrays by `allocation/`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Plan", "ProblemData", "Result", "SolveParams", "plan_cost"]


def _frozen(a: np.ndarray, dtype: type) -> np.ndarray:
    out = np.array(a, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class ProblemData:
    """Immutable arrays of one order's sourcing problem (see the module docstring)."""

    qty: np.ndarray  # (L,) units ordered per line
    avail: np.ndarray  # (N, L) units node n may supply of line i (0 = not allowed / no ATP)
    unit_cost: np.ndarray  # (N, L) cost per unit of line i from node n
    parcel_cost: np.ndarray  # (N,) fixed cost when node n supplies anything
    capacity: np.ndarray  # (N,) pick capacity left at node n (units over all lines)
    unfilled_unit_cost: np.ndarray  # (L,)
    unfilled_parcel_cost: float = 0.0
    max_parcels: int | None = None  # real nodes allowed to supply (None: no limit)

    def __post_init__(self) -> None:
        qty = _frozen(self.qty, np.int64).reshape(-1)
        n_lines = qty.shape[0]
        avail = _frozen(self.avail, np.int64).reshape(-1, n_lines)
        n_nodes = avail.shape[0]
        unit = _frozen(self.unit_cost, np.float64).reshape(n_nodes, n_lines)
        parcel = _frozen(self.parcel_cost, np.float64).reshape(n_nodes)
        cap = _frozen(self.capacity, np.int64).reshape(n_nodes)
        unf = _frozen(self.unfilled_unit_cost, np.float64).reshape(n_lines)
        if (qty <= 0).any():
            raise ValueError("expected qty > 0")
        if (avail < 0).any():
            raise ValueError("expected avail >= 0")
        if (cap < 0).any():
            raise ValueError("expected capacity >= 0")
        if (parcel < 0).any() or self.unfilled_parcel_cost < 0:
            raise ValueError("expected parcel costs >= 0")
        if not (np.isfinite(unit).all() and np.isfinite(unf).all()):
            raise ValueError("expected finite unit costs")
        if self.max_parcels is not None and self.max_parcels < 0:
            raise ValueError("expected max_parcels >= 0")
        # A node can never usefully supply more of a line than the line asks for.
        avail = _frozen(np.minimum(avail, qty[None, :]), np.int64)
        for name, value in (("qty", qty), ("avail", avail), ("unit_cost", unit),
                            ("parcel_cost", parcel), ("capacity", cap),
                            ("unfilled_unit_cost", unf)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "unfilled_parcel_cost", float(self.unfilled_parcel_cost))

    @classmethod
    def trusted(cls, qty: np.ndarray, avail: np.ndarray, unit_cost: np.ndarray,
                parcel_cost: np.ndarray, capacity: np.ndarray, unfilled_unit_cost: np.ndarray,
                unfilled_parcel_cost: float, max_parcels: int | None) -> ProblemData:
        """Wrap arrays that already are what `__post_init__` would make of them, unchecked.

        For producers that build valid arrays themselves (candidates, `solve.restrict`):
        int64/float64, shapes (L,), (N, L), (N, L), (N,), (N,), (L,), avail <= qty, values
        valid. The arrays are frozen in place (not copied), so the caller hands them over.
        """
        self = object.__new__(cls)
        for name, value in (("qty", qty), ("avail", avail), ("unit_cost", unit_cost),
                            ("parcel_cost", parcel_cost), ("capacity", capacity),
                            ("unfilled_unit_cost", unfilled_unit_cost)):
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "unfilled_parcel_cost", float(unfilled_parcel_cost))
        object.__setattr__(self, "max_parcels", max_parcels)
        return self

    @property
    def n_nodes(self) -> int:
        """Number of candidate nodes N."""
        return int(self.avail.shape[0])

    @property
    def n_lines(self) -> int:
        """Number of order lines L."""
        return int(self.qty.shape[0])

    @property
    def parcel_limit(self) -> int:
        """max_parcels, or N when there is no limit."""
        return self.n_nodes if self.max_parcels is None else min(self.max_parcels, self.n_nodes)


@dataclass(frozen=True, eq=False)
class Plan:
    """Integer units per (node, line) and unfilled units per line."""

    x: np.ndarray  # (N, L) int64
    unfilled: np.ndarray  # (L,) int64

    @staticmethod
    def all_unfilled(data: ProblemData) -> Plan:
        """The plan that supplies nothing: always feasible."""
        return Plan(np.zeros((data.n_nodes, data.n_lines), np.int64), data.qty.copy())

    def nodes_used(self) -> np.ndarray:
        """Indices of the nodes that supply at least one unit."""
        return np.flatnonzero(self.x.sum(axis=1) > 0)


def memo_of(data: ProblemData) -> dict[str, object]:
    """Scratch space for values derived from the (immutable) problem, e.g. its bounds."""
    return data.__dict__


def plan_cost(data: ProblemData, plan: Plan) -> float:
    """Cost of a plan under the problem's cost arrays (float dollars)."""
    used = plan.x.sum(axis=1) > 0
    cost = float(data.parcel_cost[used].sum()) + float((data.unit_cost * plan.x).sum())
    if plan.unfilled.sum() > 0:
        cost += data.unfilled_parcel_cost + float(data.unfilled_unit_cost @ plan.unfilled)
    return cost


def is_feasible(data: ProblemData, plan: Plan) -> bool:
    """True when the plan meets demand, ATP, capacity and the parcel limit."""
    x, u = plan.x, plan.unfilled
    if x.shape != data.avail.shape or u.shape != data.qty.shape:
        return False
    if (x < 0).any() or (u < 0).any() or (x > data.avail).any():
        return False
    if not np.array_equal(x.sum(axis=0) + u, data.qty):
        return False
    if (x.sum(axis=1) > data.capacity).any():
        return False
    return int((x.sum(axis=1) > 0).sum()) <= data.parcel_limit


@dataclass(frozen=True)
class SolveParams:
    """Solver settings: time limit, CP-SAT scale and which exact shortcuts may be taken."""

    time_limit: float = 1.0  # seconds for CP-SAT; the best feasible plan is kept at the limit
    scale: int = 1_000_000  # CP-SAT objective units per dollar (micro-dollars: exact to a cent)
    num_workers: int = 1  # one search worker: tiny models, and the machine is shared
    fast_paths: bool = True  # trivial and subset-DP paths when provably exact
    prune: bool = True  # bound-based pruning of candidate nodes before CP-SAT

    def __post_init__(self) -> None:
        if self.time_limit <= 0:
            raise ValueError(f"expected time_limit > 0, got {self.time_limit}")
        if self.scale < 100:
            raise ValueError(f"expected scale >= 100 (cents), got {self.scale}")
        if self.num_workers < 1:
            raise ValueError(f"expected num_workers >= 1, got {self.num_workers}")


@dataclass(frozen=True, eq=False)
class Result:
    """A solve's plan, its cost, how it was found and whether it is proven optimal."""

    plan: Plan
    cost: float
    method: str  # "trivial" | "subset-dp" | "cp-sat" | "heuristic"
    optimal: bool
    seconds: float = 0.0
    stats: dict[str, float] = field(default_factory=dict)

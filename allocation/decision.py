"""The decision returned to callers: allocations per line, parcels, costs, and why this node."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from allocation.candidates import Candidates
from allocation.network import Network, Order
from optimizer.problem import Plan

__all__ = ["Allocation", "CostBreakdown", "Decision", "LineDecision", "Parcel", "RunnerUp",
           "build_decision"]


def _money(x: float) -> float:
    return round(float(x), 6)


@dataclass(frozen=True)
class CostBreakdown:
    """Cost by component; `total` is their sum."""

    parcels: float = 0.0
    shipping: float = 0.0
    pick: float = 0.0
    opportunity: float = 0.0
    unfilled: float = 0.0

    @property
    def total(self) -> float:
        """Sum of the components."""
        return self.parcels + self.shipping + self.pick + self.opportunity + self.unfilled

    def to_dict(self) -> dict[str, float]:
        """JSON-ready components and total."""
        return {"parcels": _money(self.parcels), "shipping": _money(self.shipping),
                "pick": _money(self.pick), "opportunity": _money(self.opportunity),
                "unfilled": _money(self.unfilled), "total": _money(self.total)}


@dataclass(frozen=True)
class Allocation:
    """Units of one line from one node, and how they reach the customer."""

    node: str
    qty: int
    method: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"node": self.node, "qty": self.qty, "method": self.method}


@dataclass(frozen=True)
class RunnerUp:
    """The best other node for the whole line, its cost there and the extra over the plan."""

    node: str
    method: str
    cost: float  # units at that node (+ its parcel if it is not already in the plan)
    extra: float  # how much the order's total would rise by moving the line there

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"node": self.node, "method": self.method, "cost": _money(self.cost),
                "extra": _money(self.extra)}


@dataclass(frozen=True)
class LineDecision:
    """One order line: where its units come from, what is unfilled and why."""

    line: int
    sku: str
    qty: int
    allocations: tuple[Allocation, ...]
    unfilled: int
    unfilled_reason: str | None
    unit_cost: float  # the line's variable cost (units, pick, opportunity, unfilled units)
    runner_up: RunnerUp | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"line": self.line, "sku": self.sku, "qty": self.qty,
                "allocations": [a.to_dict() for a in self.allocations],
                "unfilled": self.unfilled, "unfilled_reason": self.unfilled_reason,
                "cost": _money(self.unit_cost),
                "runner_up": None if self.runner_up is None else self.runner_up.to_dict()}


@dataclass(frozen=True)
class Parcel:
    """Everything one node supplies to the order (a parcel, a transfer, or a shelf pick)."""

    node: str
    method: str
    units: int
    skus: tuple[str, ...]
    cost: CostBreakdown
    promise_date: dt.date | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"node": self.node, "method": self.method, "units": self.units,
                "skus": list(self.skus), "cost": self.cost.to_dict(),
                "promise_date": None if self.promise_date is None else
                self.promise_date.isoformat()}


@dataclass(frozen=True)
class Decision:
    """A policy's sourcing of one order, JSON-serialisable with `to_dict()`."""

    order: str
    policy: str
    lines: tuple[LineDecision, ...]
    parcels: tuple[Parcel, ...]
    cost: CostBreakdown
    promise_date: dt.date | None
    solver: dict[str, Any] = field(default_factory=dict)
    reservations: tuple[int, ...] = ()
    attempts: int = 1

    @property
    def unfilled_units(self) -> int:
        """Units of the order left unfilled."""
        return sum(line.unfilled for line in self.lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (the API returns this)."""
        return {
            "order": self.order, "policy": self.policy,
            "lines": [line.to_dict() for line in self.lines],
            "parcels": [p.to_dict() for p in self.parcels],
            "cost": self.cost.to_dict(),
            "promise_date": None if self.promise_date is None else self.promise_date.isoformat(),
            "solver": {k: (v if isinstance(v, str | bool | int) else _money(v))
                       for k, v in self.solver.items()},
            "reservations": list(self.reservations), "attempts": self.attempts,
        }


def _reason(cands: Candidates, plan: Plan, s: int) -> str:
    d = cands.data
    if cands.reasons[s] is not None:
        return str(cands.reasons[s])
    if d.avail[:, s].sum() < d.qty[s]:
        return "insufficient_stock"
    used = plan.x.sum(axis=1) > 0
    if used.sum() >= d.parcel_limit:
        return "parcel_limit"
    if (plan.x.sum(axis=1)[d.avail[:, s] > 0] >= d.capacity[d.avail[:, s] > 0]).any():
        return "pick_capacity"
    return "penalty_cheaper_than_supply"


def _runner_up(cands: Candidates, plan: Plan, s: int, codes: tuple[str, ...],
               load: np.ndarray | None = None) -> RunnerUp | None:
    d = cands.data
    q = int(d.qty[s])
    col = plan.x[:, s]
    if load is None:
        load = plan.x.sum(axis=1)
    others = load - col
    ok = (d.avail[:, s] >= q) & (d.capacity - others >= q) & (col == 0)
    if not np.count_nonzero(ok):
        return None
    used_after = others > 0
    # Taking the line out of the plan saves its units and any parcel it alone needed.
    saved = float(d.unit_cost[:, s] @ col) + float(
        d.parcel_cost[(col > 0) & ~used_after].sum())
    if plan.unfilled[s] > 0:
        saved += float(d.unfilled_unit_cost[s] * plan.unfilled[s])
        if plan.unfilled.sum() == plan.unfilled[s]:
            saved += d.unfilled_parcel_cost
    cost = d.unit_cost[:, s] * q + np.where(used_after, 0.0, d.parcel_cost)
    if d.max_parcels is not None:
        ok &= used_after | (np.count_nonzero(used_after) < d.parcel_limit)
        if not np.count_nonzero(ok):
            return None
    m = int(np.where(ok, cost, np.inf).argmin())
    return RunnerUp(codes[int(cands.nodes[m])], cands.methods[m], float(cost[m]),
                    float(cost[m]) - saved)


def build_decision(order: Order, network: Network, cands: Candidates, plan: Plan,
                   policy: str, solver: dict[str, Any] | None = None,
                   explain: bool = True) -> Decision:
    """Turn a plan over the candidates into a Decision with costs and (if asked) runner-ups."""
    d = cands.data
    codes = network.codes
    x = plan.x
    nodes = cands.nodes.tolist()
    methods = cands.methods
    skus = cands.skus
    promise_of = cands.promise
    rows, cols = x.nonzero()
    # Units per used node (ascending) as [(column, units)], and per column as {node: units}.
    per_node: dict[int, list[tuple[int, int]]] = {}
    per_col: list[dict[int, int]] = [{} for _ in range(d.n_lines)]
    for n, c, v in zip(rows.tolist(), cols.tolist(), x[rows, cols].tolist(), strict=True):
        per_node.setdefault(n, []).append((c, v))
        per_col[c][n] = v
    parcels = []
    for n, items in per_node.items():
        comp = CostBreakdown(parcels=cands.parcel.item(n),
                             shipping=float(cands.ship_unit[n] @ x[n]),
                             pick=float(cands.pick_unit[n] @ x[n]),
                             opportunity=float(cands.opp_unit[n] @ x[n]))
        parcels.append(Parcel(codes[nodes[n]], methods[n], sum(v for _, v in items),
                              tuple(skus[c] for c, _ in items), comp,
                              None if promise_of is None else promise_of[n]))
    unfilled_cost = 0.0
    if plan.unfilled.sum() > 0:
        unfilled_cost = d.unfilled_parcel_cost + float(d.unfilled_unit_cost @ plan.unfilled)
    total = CostBreakdown(
        parcels=sum(p.cost.parcels for p in parcels),
        shipping=sum(p.cost.shipping for p in parcels), pick=sum(p.cost.pick for p in parcels),
        opportunity=sum(p.cost.opportunity for p in parcels), unfilled=unfilled_cost)

    load = x.sum(axis=1) if explain else None
    # Hand each distinct SKU's units to its order lines in line order (duplicates share).
    remaining = {s: sorted(col.items()) for s, col in enumerate(per_col)}
    unit_cost = d.unit_cost
    unf_unit = d.unfilled_unit_cost.tolist()
    lines = []
    for k, (line, s) in enumerate(zip(order.lines, cands.line_sku.tolist(), strict=True)):
        need, allocs, line_cost = line.qty, [], 0.0
        pool = remaining[s]
        while need and pool:
            n, q = pool[0]
            t = min(q, need)
            allocs.append(Allocation(codes[nodes[n]], t, methods[n]))
            line_cost += unit_cost.item(n, s) * t
            need -= t
            pool[0] = (n, q - t)
            if pool[0][1] == 0:
                pool.pop(0)
        line_cost += need * unf_unit[s]
        runner = _runner_up(cands, plan, s, codes, load) if explain else None
        lines.append(LineDecision(
            k, line.sku, line.qty, tuple(allocs), need,
            _reason(cands, plan, s) if need else None, line_cost, runner))
    promise = None
    if promise_of is not None and per_node:
        promise = max(promise_of[n] for n in per_node)
    return Decision(order.id, policy, tuple(lines), tuple(parcels), total, promise,
                    dict(solver or {}))

"""The decision returned to callers: allocations per line, parcels, costs, and why this node."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from allocation.candidates import Candidates
from allocation.network import Network, Order
from optimizer.problem import Lists, Plan, small

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
    if load is None:
        load = plan.x.sum(axis=1)
    others = load - plan.x[:, s]
    ok = (d.avail[:, s] >= q) & (d.capacity - others >= q) & (plan.x[:, s] == 0)
    if not ok.any():
        return None
    used_after = others > 0
    # Taking the line out of the plan saves its units and any parcel it alone needed.
    saved = float(d.unit_cost[:, s] @ plan.x[:, s]) + float(
        d.parcel_cost[(plan.x[:, s] > 0) & ~used_after].sum())
    if plan.unfilled[s] > 0:
        saved += float(d.unfilled_unit_cost[s] * plan.unfilled[s])
        if plan.unfilled.sum() == plan.unfilled[s]:
            saved += d.unfilled_parcel_cost
    cost = d.unit_cost[:, s] * q + np.where(used_after, 0.0, d.parcel_cost)
    if d.max_parcels is not None:
        ok &= used_after | (used_after.sum() < d.parcel_limit)
        if not ok.any():
            return None
    m = int(np.where(ok, cost, np.inf).argmin())
    return RunnerUp(codes[int(cands.nodes[m])], cands.methods[m], float(cost[m]),
                    float(cost[m]) - saved)


# Up to this many candidates the runner-up is found in plain Python (numpy's per-call cost
# dominates on a handful of nodes); above it, vectorised. Both give the same floats: every
# value is one IEEE product or sum of the same operands, and a sum of several terms (a line
# split over nodes, or several parcels only it needed) is left to numpy as before.
_PY_NODES = 48


def _runner_up_py(cands: Candidates, plan: Plan, s: int, codes: tuple[str, ...],
                  py: Lists, columns: tuple[list[tuple[int, ...]], list[tuple[float, ...]]],
                  load: list[int], n_used: int, col: dict[int, int],
                  unfilled: list[int]) -> RunnerUp | None:
    """`_runner_up` on Python lists: `load` per node, `n_used` nodes with a load, `col` =
    {node: units of column s}. The same candidates, costs and first-of-equals choice."""
    if not load:
        return None  # no candidates
    d = cands.data
    q = py.qty[s]
    avail, unit = columns[0][s], columns[1][s]
    parcel, cap = py.parcel, py.cap
    # Nodes that supply only this line: taking it away closes their parcel.
    alone = [n for n, v in col.items() if load[n] == v]
    # Without the line, the plan uses n_used - len(alone) nodes; a node outside it can take
    # the line only while the parcel limit leaves room.
    room = d.max_parcels is None or n_used - len(alone) < d.parcel_limit
    m, best = -1, np.inf
    for n, (a, u, p, c, ld) in enumerate(zip(avail, unit, parcel, cap, load, strict=True)):
        # others = load (the node does not hold the line: n not in col)
        if a >= q and c - ld >= q and n not in col and (ld > 0 or room):
            cost = u * q + (0.0 if ld > 0 else p)
            if cost < best:
                m, best = n, cost
    if m < 0:
        return None
    if len(col) == 1:
        ((n0, q0),) = col.items()
        saved = unit[n0] * q0
    else:  # zero or several terms: numpy's own sum, as ever
        saved = float(d.unit_cost[:, s] @ plan.x[:, s])
    if len(alone) <= 1:
        saved += parcel[alone[0]] if alone else 0.0
    else:
        saved += float(d.parcel_cost[np.array(sorted(alone))].sum())
    if unfilled[s] > 0:
        saved += py.unf[s] * unfilled[s]
        if sum(unfilled) == unfilled[s]:
            saved += d.unfilled_parcel_cost
    return RunnerUp(codes[int(cands.nodes[m])], cands.methods[m], best, best - saved)


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
    rl, cl = rows.tolist(), cols.tolist()
    if x.size <= 256:  # a short list beats numpy's two-array indexing
        flat, width = x.ravel().tolist(), x.shape[1]
        values = [flat[n * width + c] for n, c in zip(rl, cl, strict=True)]
    else:
        values = x[rows, cols].tolist()
    for n, c, v in zip(rl, cl, values, strict=True):
        per_node.setdefault(n, []).append((c, v))
        per_col[c][n] = v
    parcels = []
    for n, items in per_node.items():
        if len(items) == 1:
            # One column: each dot product below is a single IEEE product (exactly numpy's).
            ((c, v),) = items
            comp = CostBreakdown(parcels=cands.parcel.item(n),
                                 shipping=cands.ship_unit.item(n, c) * v,
                                 pick=cands.pick_unit.item(n, c) * v,
                                 opportunity=cands.opp_unit.item(n, c) * v)
            units = v
        else:
            comp = CostBreakdown(parcels=cands.parcel.item(n),
                                 shipping=float(cands.ship_unit[n] @ x[n]),
                                 pick=float(cands.pick_unit[n] @ x[n]),
                                 opportunity=float(cands.opp_unit[n] @ x[n]))
            units = sum(v for _, v in items)
        parcels.append(Parcel(codes[nodes[n]], methods[n], units,
                              tuple(skus[c] for c, _ in items), comp,
                              None if promise_of is None else promise_of[n]))
    unfilled = plan.unfilled.tolist()
    unfilled_cost = 0.0
    if sum(unfilled) > 0:
        left = [s for s, u in enumerate(unfilled) if u]
        if len(left) == 1:
            dot = d.unfilled_unit_cost.item(left[0]) * unfilled[left[0]]
        else:
            dot = float(d.unfilled_unit_cost @ plan.unfilled)
        unfilled_cost = d.unfilled_parcel_cost + dot
    total = CostBreakdown(
        parcels=sum(p.cost.parcels for p in parcels),
        shipping=sum(p.cost.shipping for p in parcels), pick=sum(p.cost.pick for p in parcels),
        opportunity=sum(p.cost.opportunity for p in parcels), unfilled=unfilled_cost)

    py = small(d) if explain and len(nodes) <= _PY_NODES else None
    if explain:
        load_py = [0] * len(nodes)
        for n, items in per_node.items():
            load_py[n] = sum(v for _, v in items)
        n_used = len(per_node)
        load = np.array(load_py, np.int64) if py is None else None
        if py is not None:
            columns = (list(zip(*py.avail, strict=True)), list(zip(*py.unit, strict=True)))
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
        runner = None
        if explain:
            runner = (_runner_up(cands, plan, s, codes, load) if py is None else
                      _runner_up_py(cands, plan, s, codes, py, columns, load_py, n_used,
                                    per_col[s], unfilled))
        lines.append(LineDecision(
            k, line.sku, line.qty, tuple(allocs), need,
            _reason(cands, plan, s) if need else None, line_cost, runner))
    promise = None
    if promise_of is not None and per_node:
        promise = max(promise_of[n] for n in per_node)
    return Decision(order.id, policy, tuple(lines), tuple(parcels), total, promise,
                    dict(solver or {}))

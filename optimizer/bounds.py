"""Feasible plans (upper bounds), lower bounds, and candidate pruning that keeps the optimum."""

from __future__ import annotations

import numpy as np

from optimizer.problem import Lists, Plan, ProblemData, is_feasible, memo_of, plan_cost, small
from optimizer.subsets import MAX_DP_LINES, solve_by_partitions

__all__ = ["best_single_node", "greedy_plan", "lower_bound", "prune_nodes", "upper_bound_plan"]


def cheapest_unit(data: ProblemData) -> np.ndarray:
    """Per line, the least unit cost over nodes holding it and the unfilled option."""
    py = small(data)
    if py is not None:
        return np.array(_cheapest_py(data, py), dtype=np.float64)
    unit = np.where(data.avail > 0, data.unit_cost, np.inf)
    if data.n_nodes == 0:
        return data.unfilled_unit_cost.copy()
    return np.minimum(unit.min(axis=0), data.unfilled_unit_cost)


def _cheapest_py(data: ProblemData, py: Lists) -> list[float]:
    memo = memo_of(data)
    cheap = memo.get("cheapest")
    if cheap is None and not py.n_nodes:
        cheap = memo["cheapest"] = list(py.unf)
    if cheap is None:
        cheap = []
        for acol, ucol, m in zip(zip(*py.avail, strict=True), zip(*py.unit, strict=True),
                                 py.unf, strict=True):
            for a, u in zip(acol, ucol, strict=True):
                if a > 0 and u < m:
                    m = u
            cheap.append(m)
        memo["cheapest"] = cheap
    return cheap  # type: ignore[return-value]


def _dot_qty(data: ProblemData, values: list[float]) -> float:
    """float(np.array(values) @ data.qty): one product, or numpy's dot for several lines."""
    if len(values) == 1:
        return values[0] * int(data.qty[0])
    return float(np.array(values, dtype=np.float64) @ data.qty)


def _units_base(data: ProblemData) -> float:
    """float(cheapest_unit(data) @ data.qty), memoised (the bound and the pruning share it)."""
    memo = memo_of(data)
    base = memo.get("units_base")
    if base is None:
        py = small(data)
        if py is not None:
            base = _dot_qty(data, _cheapest_py(data, py))
        else:
            base = float(cheapest_unit(data) @ data.qty)
        memo["units_base"] = base
    return base  # type: ignore[return-value]


def lower_bound(data: ProblemData) -> float:
    """Every plan costs at least one (cheapest) parcel plus every unit at its cheapest."""
    parcels = [data.unfilled_parcel_cost]
    if data.n_nodes and data.parcel_limit > 0:
        py = small(data)
        parcels.append(min(py.parcel) if py is not None else float(data.parcel_cost.min()))
    return min(parcels) + _units_base(data)


def _single_costs(data: ProblemData) -> list[float] | np.ndarray:
    """data.unit_cost @ data.qty per node (as a list for small problems), memoised."""
    memo = memo_of(data)
    su = memo.get("single_units")
    if su is None:
        py = small(data)
        if py is not None and py.n_lines == 1:
            q = py.qty[0]
            su = [row[0] * q for row in py.unit]  # one line: a single product per node
        elif py is not None:
            su = (data.unit_cost @ data.qty).tolist()
        else:
            su = data.unit_cost @ data.qty
        memo["single_units"] = su
    return su  # type: ignore[return-value]


def best_single_node(data: ProblemData) -> tuple[int, float]:
    """The node that alone supplies the whole order at least cost (-1, inf when none)."""
    memo = memo_of(data)
    best = memo.get("best_single")
    if best is None:
        best = memo["best_single"] = _best_single_node(data)
    return best  # type: ignore[return-value]


def _best_single_node(data: ProblemData) -> tuple[int, float]:
    if data.n_nodes == 0 or data.parcel_limit < 1:
        return -1, float("inf")
    py = small(data)
    if py is not None:
        su = _single_costs(data)
        qty, total = py.qty, py.total
        node, best = -1, float("inf")
        for n, (arow, cap, parcel, units) in enumerate(zip(py.avail, py.cap, py.parcel, su,
                                                            strict=True)):
            if arow == qty and cap >= total:
                cost = parcel + units
                if cost < best:
                    node, best = n, cost
        return node, best
    covers = (data.avail == data.qty[None, :]).all(axis=1)
    covers &= data.capacity >= data.qty.sum()
    cost = np.where(covers, data.parcel_cost + _single_costs(data), np.inf)
    n = int(cost.argmin())
    return (n, float(cost[n])) if np.isfinite(cost[n]) else (-1, float("inf"))


def greedy_plan(data: ProblemData) -> Plan:
    """A quick feasible plan: each line from its cheapest nodes (amortising new parcels)."""
    py = small(data)
    if py is not None:
        return _greedy_py(data, py)
    x = np.zeros((data.n_nodes, data.n_lines), np.int64)
    unfilled = data.qty.copy()
    cap = data.capacity.copy()
    opened = np.zeros(data.n_nodes, bool)
    for i in np.argsort(-data.qty, kind="stable"):
        while unfilled[i] > 0:
            take = np.minimum(data.avail[:, i] - x[:, i], cap)
            ok = take > 0
            if opened.sum() >= data.parcel_limit:
                ok &= opened
            if not ok.any():
                break
            score = data.unit_cost[:, i] + np.where(opened, 0.0, data.parcel_cost) / unfilled[i]
            n = int(np.where(ok, score, np.inf).argmin())
            if score[n] >= data.unfilled_unit_cost[i] + data.unfilled_parcel_cost / data.qty.sum():
                break  # the penalty is cheaper than any node: leave the rest unfilled
            q = int(min(take[n], unfilled[i]))
            x[n, i] += q
            cap[n] -= q
            unfilled[i] -= q
            opened[n] = True
    return Plan(x, unfilled)


def _greedy_py(data: ProblemData, py: Lists) -> Plan:
    """greedy_plan on lists (the same choices: every score is one IEEE division and sum)."""
    n_nodes, n_lines = py.n_nodes, py.n_lines
    x = [[0] * n_lines for _ in range(n_nodes)]
    unfilled = list(py.qty)
    cap = list(py.cap)
    opened = [False] * n_nodes
    n_open = 0
    limit = data.parcel_limit
    stop_parcel = data.unfilled_parcel_cost / py.total
    for i in sorted(range(n_lines), key=lambda k: -py.qty[k]):  # argsort(-qty), stable
        stop = py.unf[i] + stop_parcel
        while unfilled[i] > 0:
            full = n_open >= limit
            node, best, take_n = -1, float("inf"), 0
            for n in range(n_nodes):
                take = min(py.avail[n][i] - x[n][i], cap[n])
                if take <= 0 or (full and not opened[n]):
                    continue
                score = py.unit[n][i] + (0.0 if opened[n] else py.parcel[n]) / unfilled[i]
                if score < best:
                    node, best, take_n = n, score, take
            if node < 0 or best >= stop:
                break  # no node can add units, or the penalty is cheaper than any node
            q = min(take_n, unfilled[i])
            x[node][i] += q
            cap[node] -= q
            unfilled[i] -= q
            if not opened[node]:
                opened[node] = True
                n_open += 1
    return Plan(np.array(x, dtype=np.int64).reshape(n_nodes, n_lines),
                np.array(unfilled, dtype=np.int64))


def _unfilled_cost(data: ProblemData) -> float:
    """plan_cost of Plan.all_unfilled(data), without building it."""
    py = small(data)
    if py is None:
        return plan_cost(data, Plan.all_unfilled(data))
    return 0.0 + (data.unfilled_parcel_cost + _dot_qty(data, py.unf))


def upper_bound_plan(data: ProblemData, partitions: bool = True) -> tuple[Plan, float]:
    """Best of: all unfilled, the best single node, greedy, and (optionally) whole-line
    partitions when that plan is feasible."""
    greedy = greedy_plan(data)
    plans = [None, greedy]
    costs = [_unfilled_cost(data), plan_cost(data, greedy)]
    node, _ = best_single_node(data)
    if node >= 0:
        x = np.zeros((data.n_nodes, data.n_lines), np.int64)
        x[node] = data.qty
        single = Plan(x, np.zeros(data.n_lines, np.int64))
        plans.append(single)
        costs.append(plan_cost(data, single))
    if partitions and data.n_lines <= MAX_DP_LINES:
        candidate = solve_by_partitions(data)
        if is_feasible(data, candidate):
            plans.append(candidate)
            costs.append(plan_cost(data, candidate))
    k = min(range(len(costs)), key=costs.__getitem__)  # np.argmin: the first least
    best = plans[k]
    return (Plan.all_unfilled(data) if best is None else best), costs[k]


def prune_nodes(data: ProblemData, upper: float, keep: np.ndarray | None = None) -> np.ndarray:
    """Indices of nodes that can appear in a plan cheaper than `upper` (never the optimum's).

    A plan using node n either ships everything from n alone (its cost is exact), or uses at
    least one more parcel (real or the unfilled one) and puts at least one unit on n:
    cost >= parcel[n] + cheapest other parcel + sum_i q_i c_min(i) + min_i (c[n,i] - c_min(i)).
    Nodes whose bound exceeds a known feasible cost cannot be in any optimum.
    """
    n_nodes = data.n_nodes
    if n_nodes == 0:
        return np.zeros(0, np.int64)
    py = small(data)
    if py is not None:
        return _prune_py(data, py, upper, keep)
    has = data.avail > 0
    cmin = cheapest_unit(data)
    base = _units_base(data)
    excess = np.where(has, data.unit_cost - cmin[None, :], np.inf).min(axis=1)
    order = np.argsort(data.parcel_cost, kind="stable")
    cheapest, second = data.parcel_cost[order[0]], (
        data.parcel_cost[order[1]] if n_nodes > 1 else np.inf)
    other = np.where(np.arange(n_nodes) == order[0], second, cheapest)
    other = np.minimum(other, data.unfilled_parcel_cost)
    multi = data.parcel_cost + other + base + excess
    alone_ok = (data.avail == data.qty[None, :]).all(axis=1) & (data.capacity >= data.qty.sum())
    alone = np.where(alone_ok, data.parcel_cost + _single_costs(data), np.inf)
    bound = np.minimum(multi, alone)
    useful = has.any(axis=1) & (data.capacity > 0)
    kept = useful & (bound <= upper + 1e-9)
    if keep is not None:
        kept[keep] = True
    return np.flatnonzero(kept)


def _prune_py(data: ProblemData, py: Lists, upper: float,
              keep: np.ndarray | None) -> np.ndarray:
    """prune_nodes on lists: the same bound per node, term by term in the same order."""
    inf = float("inf")
    cmin = _cheapest_py(data, py)
    base = _units_base(data)
    su = _single_costs(data)
    parcel = py.parcel
    order = sorted(range(py.n_nodes), key=parcel.__getitem__)  # argsort, stable
    cheapest = parcel[order[0]]
    second = parcel[order[1]] if py.n_nodes > 1 else inf
    limit = upper + 1e-9
    forced: set[int] = set()
    if keep is not None:
        keep_list = np.asarray(keep).tolist()
        if all(type(k) is int and 0 <= k < py.n_nodes for k in keep_list):
            forced = set(keep_list)
        else:  # a mask, negative indices...: exactly what `kept[keep] = True` would mark
            marked = np.zeros(py.n_nodes, bool)
            marked[keep] = True
            forced = set(marked.nonzero()[0].tolist())
    other_first, other = min(second, data.unfilled_parcel_cost), \
        min(cheapest, data.unfilled_parcel_cost)
    qty, total, first = py.qty, py.total, order[0]
    kept = []
    for n, (arow, urow, cap, p) in enumerate(zip(py.avail, py.unit, py.cap, parcel,
                                                strict=True)):
        if n in forced:
            kept.append(n)
            continue
        if cap <= 0:
            continue
        excess = inf  # least extra over the cheapest unit among the lines node n holds
        for a, u, c in zip(arow, urow, cmin, strict=True):
            if a > 0 and u - c < excess:
                excess = u - c
        if excess == inf:
            continue  # holds nothing (u - c is finite): never useful
        bound = p + (other_first if n == first else other) + base + excess
        if arow == qty and cap >= total:
            bound = min(bound, p + su[n])
        if bound <= limit:
            kept.append(n)
    return np.array(kept, dtype=np.int64)

"""Feasible plans (upper bounds), lower bounds, and candidate pruning that keeps the optimum."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from optimizer.problem import Plan, ProblemData, is_feasible, memo_of, plan_cost
from optimizer.subsets import MAX_DP_LINES, solve_by_partitions

__all__ = ["best_single_node", "greedy_plan", "lower_bound", "prune_nodes", "upper_bound_plan"]

T = TypeVar("T")


# Orders are small: on a few candidates numpy's cost is its per-call overhead, so each array is
# derived once per problem (memoised) and cheap calls (argmin, nonzero, count_nonzero) stand
# in for the reductions (min, any, all) where they give the same values.


def _memo(data: ProblemData, key: str, make: Callable[[ProblemData], T]) -> T:
    memo = memo_of(data)
    value = memo.get(key)
    if value is None:
        value = memo[key] = make(data)
    return value  # type: ignore[return-value]


def _cheapest_unit(data: ProblemData) -> np.ndarray:
    if data.n_nodes == 0:
        return data.unfilled_unit_cost  # (read-only)
    unit = np.where(data.avail > 0, data.unit_cost, np.inf)
    out = np.minimum(unit.min(axis=0), data.unfilled_unit_cost)
    out.setflags(write=False)
    return out


def cheapest_unit(data: ProblemData) -> np.ndarray:
    """Per line, the least unit cost over nodes holding it and the unfilled option (memoised)."""
    return _memo(data, "cheapest", _cheapest_unit)


def _units_base(data: ProblemData) -> float:
    """float(cheapest_unit(data) @ data.qty), memoised (the bound and the pruning share it)."""
    return _memo(data, "units_base", lambda d: float(cheapest_unit(d) @ d.qty))


def lower_bound(data: ProblemData) -> float:
    """Every plan costs at least one (cheapest) parcel plus every unit at its cheapest."""
    parcel = data.unfilled_parcel_cost
    if data.n_nodes and data.parcel_limit > 0:
        parcel = min(parcel, float(data.parcel_cost[data.parcel_cost.argmin()]))
    return parcel + _units_base(data)


def _alone_costs(data: ProblemData) -> np.ndarray:
    """Per node, the cost of shipping the whole order from it alone (inf where it cannot)."""
    covers = np.logical_and.reduce(data.avail == data.qty[None, :], 1)
    covers &= data.capacity >= int(data.qty.sum())
    out = np.where(covers, data.parcel_cost + data.unit_cost @ data.qty, np.inf)
    out.setflags(write=False)
    return out


def best_single_node(data: ProblemData) -> tuple[int, float]:
    """The node that alone supplies the whole order at least cost (-1, inf when none)."""
    return _memo(data, "best_single", _best_single_node)


def _best_single_node(data: ProblemData) -> tuple[int, float]:
    if data.n_nodes == 0 or data.parcel_limit < 1:
        return -1, float("inf")
    cost = _memo(data, "alone", _alone_costs)
    n = int(cost.argmin())
    best = float(cost[n])
    return (n, best) if best != np.inf else (-1, best)


def greedy_plan(data: ProblemData) -> Plan:
    """A quick feasible plan: each line from its cheapest nodes (amortising new parcels)."""
    x = np.zeros((data.n_nodes, data.n_lines), np.int64)
    unfilled = data.qty.copy()
    cap = data.capacity.copy()
    opened = np.zeros(data.n_nodes, bool)
    if data.n_nodes == 0:
        return Plan(x, unfilled)
    n_open, limit = 0, data.parcel_limit
    stop_parcel = data.unfilled_parcel_cost / data.qty.sum()
    for i in np.argsort(-data.qty, kind="stable").tolist():
        stop = data.unfilled_unit_cost[i] + stop_parcel
        avail, unit = data.avail[:, i], data.unit_cost[:, i]
        while unfilled[i] > 0:
            take = np.minimum(avail - x[:, i], cap)
            ok = take > 0
            if n_open >= limit:
                ok &= opened
            score = unit + np.where(opened, 0.0, data.parcel_cost) / unfilled[i]
            n = int(np.where(ok, score, np.inf).argmin())
            if not ok[n]:
                break  # no node can add units
            if score[n] >= stop:
                break  # the penalty is cheaper than any node: leave the rest unfilled
            q = int(min(take[n], unfilled[i]))
            x[n, i] += q
            cap[n] -= q
            unfilled[i] -= q
            if not opened[n]:
                opened[n] = True
                n_open += 1
    return Plan(x, unfilled)


def upper_bound_plan(data: ProblemData, partitions: bool = True) -> tuple[Plan, float]:
    """Best of: all unfilled, the best single node, greedy, and (optionally) whole-line
    partitions when that plan is feasible."""
    greedy = greedy_plan(data)
    plans = [Plan.all_unfilled(data), greedy]
    # plan_cost of the all-unfilled plan: no parcel, no unit, the penalty.
    costs = [data.unfilled_parcel_cost + float(data.unfilled_unit_cost @ data.qty),
             plan_cost(data, greedy)]
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
    return plans[k], costs[k]


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
    has = data.avail > 0
    excess = np.where(has, data.unit_cost - cheapest_unit(data)[None, :], np.inf).min(axis=1)
    parcel = data.parcel_cost
    order = np.argsort(parcel, kind="stable")
    # The cheapest parcel other than n's own: the second cheapest for the cheapest node.
    other = np.full(n_nodes, parcel[order[0]])
    other[order[0]] = parcel[order[1]] if n_nodes > 1 else np.inf
    other = np.minimum(other, data.unfilled_parcel_cost)
    multi = parcel + other + _units_base(data) + excess
    bound = np.minimum(multi, _memo(data, "alone", _alone_costs))
    kept = np.logical_or.reduce(has, 1) & (data.capacity > 0) & (bound <= upper + 1e-9)
    if keep is not None:
        kept[keep] = True
    return kept.nonzero()[0]

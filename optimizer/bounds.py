"""Feasible plans (upper bounds), lower bounds, and candidate pruning that keeps the optimum."""

from __future__ import annotations

import numpy as np

from optimizer.problem import Plan, ProblemData, is_feasible, plan_cost
from optimizer.subsets import MAX_DP_LINES, solve_by_partitions

__all__ = ["best_single_node", "greedy_plan", "lower_bound", "prune_nodes", "upper_bound_plan"]


def cheapest_unit(data: ProblemData) -> np.ndarray:
    """Per line, the least unit cost over nodes holding it and the unfilled option."""
    unit = np.where(data.avail > 0, data.unit_cost, np.inf)
    if data.n_nodes == 0:
        return data.unfilled_unit_cost.copy()
    return np.minimum(unit.min(axis=0), data.unfilled_unit_cost)


def lower_bound(data: ProblemData) -> float:
    """Every plan costs at least one (cheapest) parcel plus every unit at its cheapest."""
    parcels = [data.unfilled_parcel_cost]
    if data.n_nodes and data.parcel_limit > 0:
        parcels.append(float(data.parcel_cost.min()))
    return min(parcels) + float(cheapest_unit(data) @ data.qty)


def best_single_node(data: ProblemData) -> tuple[int, float]:
    """The node that alone supplies the whole order at least cost (-1, inf when none)."""
    if data.n_nodes == 0 or data.parcel_limit < 1:
        return -1, float("inf")
    covers = (data.avail == data.qty[None, :]).all(axis=1)
    covers &= data.capacity >= data.qty.sum()
    cost = np.where(covers, data.parcel_cost + data.unit_cost @ data.qty, np.inf)
    n = int(cost.argmin())
    return (n, float(cost[n])) if np.isfinite(cost[n]) else (-1, float("inf"))


def greedy_plan(data: ProblemData) -> Plan:
    """A quick feasible plan: each line from its cheapest nodes (amortising new parcels)."""
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


def upper_bound_plan(data: ProblemData, partitions: bool = True) -> tuple[Plan, float]:
    """Best of: all unfilled, the best single node, greedy, and (optionally) whole-line
    partitions when that plan is feasible."""
    plans = [Plan.all_unfilled(data), greedy_plan(data)]
    node, _ = best_single_node(data)
    if node >= 0:
        x = np.zeros((data.n_nodes, data.n_lines), np.int64)
        x[node] = data.qty
        plans.append(Plan(x, np.zeros(data.n_lines, np.int64)))
    if partitions and data.n_lines <= MAX_DP_LINES:
        candidate = solve_by_partitions(data)
        if is_feasible(data, candidate):
            plans.append(candidate)
    costs = [plan_cost(data, p) for p in plans]
    k = int(np.argmin(costs))
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
    cmin = cheapest_unit(data)
    base = float(cmin @ data.qty)
    excess = np.where(has, data.unit_cost - cmin[None, :], np.inf).min(axis=1)
    order = np.argsort(data.parcel_cost, kind="stable")
    cheapest, second = data.parcel_cost[order[0]], (
        data.parcel_cost[order[1]] if n_nodes > 1 else np.inf)
    other = np.where(np.arange(n_nodes) == order[0], second, cheapest)
    other = np.minimum(other, data.unfilled_parcel_cost)
    multi = data.parcel_cost + other + base + excess
    alone_ok = (data.avail == data.qty[None, :]).all(axis=1) & (data.capacity >= data.qty.sum())
    alone = np.where(alone_ok, data.parcel_cost + data.unit_cost @ data.qty, np.inf)
    bound = np.minimum(multi, alone)
    useful = has.any(axis=1) & (data.capacity > 0)
    kept = useful & (bound <= upper + 1e-9)
    if keep is not None:
        kept[keep] = True
    return np.flatnonzero(kept)

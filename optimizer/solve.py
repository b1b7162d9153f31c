"""`solve(data, params) -> Result`: the exact per-order optimum, with provably exact shortcuts."""

from __future__ import annotations

import time

import numpy as np

from optimizer.bounds import best_single_node, lower_bound, prune_nodes, upper_bound_plan
from optimizer.cpsat import solve_cpsat
from optimizer.problem import (
    Lists,
    Plan,
    ProblemData,
    Result,
    SolveParams,
    plan_cost,
    small,
)
from optimizer.subsets import dp_exact, solve_by_partitions

__all__ = ["restrict", "solve"]

_EPS = 1e-9


def restrict(data: ProblemData, nodes: np.ndarray) -> ProblemData:
    """The same problem over a subset of the candidate nodes."""
    # Rows of a valid problem are valid: no checks, and the shared read-only arrays as they are.
    idx = np.asarray(nodes)
    if idx.dtype == bool:
        idx = idx.nonzero()[0]
    return ProblemData.trusted(  # take(): the rows data[idx] would give, without its overhead
        qty=data.qty, avail=data.avail.take(idx, 0), unit_cost=data.unit_cost.take(idx, 0),
        parcel_cost=data.parcel_cost[idx], capacity=data.capacity[idx],
        unfilled_unit_cost=data.unfilled_unit_cost,
        unfilled_parcel_cost=data.unfilled_parcel_cost, max_parcels=data.max_parcels,
    )


_DEFAULT = SolveParams()


def _single(data: ProblemData, node: int) -> Plan:
    x = np.zeros((data.n_nodes, data.n_lines), np.int64)
    x[node] = data.qty
    return Plan(x, np.zeros(data.n_lines, np.int64))


def _expand(data: ProblemData, nodes: np.ndarray, plan: Plan) -> Plan:
    x = np.zeros((data.n_nodes, data.n_lines), np.int64)
    x[nodes] = plan.x
    return Plan(x, plan.unfilled)


def _one_line_plan(n_nodes: int, node: int, q: int) -> Plan:
    """x = q units at `node` (or all unfilled when node < 0) for a one-line problem."""
    x = np.zeros((n_nodes, 1), np.int64)
    unfilled = np.zeros(1, np.int64)
    if node >= 0:
        x[node, 0] = q
    else:
        unfilled[0] = q
    return Plan(x, unfilled)


def _solve_one_line(data: ProblemData, py: Lists, start: float) -> Result | None:
    """`solve` with the default parameters for a small one-line problem, step by step the
    same (bound, single node, upper bound, pruning, partitions), on scalars. With one line
    every value is a single IEEE product or sum, except the cost of a plan split over
    several nodes, which is left to `plan_cost` (numpy) as before. Returns None where the
    general path goes on to CP-SAT."""
    inf = float("inf")
    n_nodes, q = py.n_nodes, py.qty[0]
    avail = [row[0] for row in py.avail]
    unit = [row[0] for row in py.unit]
    parcel, cap = py.parcel, py.cap
    pen_unit, pen_parcel = py.unf[0], data.unfilled_parcel_cost
    limit = data.parcel_limit
    # lower_bound: the cheapest parcel (real or the penalty's) and every unit at its cheapest.
    cheap = pen_unit
    for a, u in zip(avail, unit, strict=True):
        if a > 0 and u < cheap:
            cheap = u
    base = cheap * q
    lb = min(pen_parcel, min(parcel)) if n_nodes and limit > 0 else pen_parcel
    lb = lb + base
    # best_single_node: the node holding the whole line at least cost, first of equals.
    node, single = -1, inf
    if n_nodes and limit >= 1:
        for n, (a, u, p, c) in enumerate(zip(avail, unit, parcel, cap, strict=True)):
            if a == q and c >= q:
                cost = p + u * q
                if cost < single:
                    node, single = n, cost
    if node >= 0 and single <= lb + _EPS:
        return Result(_one_line_plan(n_nodes, node, q), single, "trivial", True,
                      time.perf_counter() - start, {"lower_bound": lb})
    # upper_bound_plan(partitions=False): all unfilled, greedy, the best single node.
    costs = [0.0 + (pen_parcel + pen_unit * q)]
    plans: list[Plan | None] = [None]
    greedy = _greedy_one_line(data, py, avail, unit, limit)
    plans.append(greedy)
    costs.append(plan_cost(data, greedy))
    if node >= 0:
        plans.append(None)
        costs.append(single)
    k = min(range(len(costs)), key=costs.__getitem__)
    ub = costs[k]
    ub_plan = greedy if k == 1 else _one_line_plan(n_nodes, node if k == 2 else -1, q)
    if ub <= lb + _EPS:
        return Result(ub_plan, ub, "trivial", True, time.perf_counter() - start,
                      {"lower_bound": lb})
    if n_nodes == 0:
        return None  # (unreachable: with no node the bound plan is all unfilled, at the bound)
    # prune_nodes, keeping the nodes of the upper-bound plan.
    forced = set(ub_plan.x[:, 0].nonzero()[0].tolist())
    first = min(range(n_nodes), key=parcel.__getitem__)  # argsort(parcel)[0], stable
    cheapest = parcel[first]
    second = min((p for n, p in enumerate(parcel) if n != first), default=inf)
    other_first, other = min(second, pen_parcel), min(cheapest, pen_parcel)
    bound_at = ub + 1e-9
    kept = []
    for n, (a, u, p, c) in enumerate(zip(avail, unit, parcel, cap, strict=True)):
        if n in forced:
            kept.append(n)
        elif a > 0 and c > 0:
            bound = p + (other_first if n == first else other) + base + (u - cheap)
            if a == q and c >= q:
                bound = min(bound, p + u * q)
            if bound <= bound_at:
                kept.append(n)
    # dp_exact on the kept nodes, then the one-line partition: the cheapest whole holder
    # against the penalty (solve_by_partitions / _one_line), the node winning ties.
    for n in kept:
        if avail[n] > 0 and (avail[n] != q or cap[n] < q):
            return None  # a line may need splitting: CP-SAT (the general path)
    sub_limit = len(kept) if data.max_parcels is None else min(data.max_parcels, len(kept))
    best, g = -1, inf
    for n in kept:
        if avail[n] == q and cap[n] >= q:
            cost = unit[n] * q + parcel[n]
            if cost < g:
                best, g = n, cost
    penalty = pen_parcel + pen_unit * q
    chosen = best if best >= 0 and sub_limit >= 1 and g <= penalty else -1
    plan = _one_line_plan(n_nodes, chosen, q)
    return Result(plan, plan_cost(data, plan), "subset-dp", True, time.perf_counter() - start,
                  {"kept_nodes": float(len(kept)), "lower_bound": lb})


def _greedy_one_line(data: ProblemData, py: Lists, avail: list[int], unit: list[float],
                     limit: int) -> Plan:
    """greedy_plan for one line (the same choices as bounds.greedy_plan)."""
    n_nodes, q = py.n_nodes, py.qty[0]
    x = [0] * n_nodes
    cap = list(py.cap)
    opened = [False] * n_nodes
    n_open = 0
    left = q
    stop = py.unf[0] + data.unfilled_parcel_cost / q
    parcel = py.parcel
    while left > 0:
        full = n_open >= limit
        node, best, take_n = -1, float("inf"), 0
        for n in range(n_nodes):
            take = min(avail[n] - x[n], cap[n])
            if take <= 0 or (full and not opened[n]):
                continue
            score = unit[n] + (0.0 if opened[n] else parcel[n]) / left
            if score < best:
                node, best, take_n = n, score, take
        if node < 0 or best >= stop:
            break
        t = min(take_n, left)
        x[node] += t
        cap[node] -= t
        left -= t
        if not opened[node]:
            opened[node] = True
            n_open += 1
    return Plan(np.array(x, dtype=np.int64).reshape(n_nodes, 1), np.array([left], np.int64))


def solve(data: ProblemData, params: SolveParams | None = None) -> Result:
    """Least-cost plan; at the time limit the best feasible one (never an infeasible plan)."""
    params = params or _DEFAULT
    start = time.perf_counter()
    if data.n_lines == 1 and params.fast_paths and params.prune:
        py = small(data)
        if py is not None:
            result = _solve_one_line(data, py, start)
            if result is not None:
                return result
    lb = lower_bound(data)

    def done(plan: Plan, method: str, optimal: bool, **stats: float) -> Result:
        return Result(plan, plan_cost(data, plan), method, optimal,
                      time.perf_counter() - start, dict(stats, lower_bound=lb))

    if params.fast_paths:
        node, cost = best_single_node(data)
        # One node ships everything at the cost of the global lower bound: nothing beats it.
        if node >= 0 and cost <= lb + _EPS:
            return done(_single(data, node), "trivial", True)
    # A cheap feasible plan bounds the optimum; nodes that cannot beat it are pruned first,
    # so the exact work below runs on a handful of nodes rather than the whole network.
    ub_plan, ub = upper_bound_plan(data, partitions=False)
    if params.fast_paths and ub <= lb + _EPS:
        return done(ub_plan, "trivial", True)
    if params.prune:
        used = (np.array([n for n, row in enumerate(ub_plan.x.tolist()) if sum(row) > 0],
                         dtype=np.int64) if small(data) is not None else ub_plan.nodes_used())
        nodes = prune_nodes(data, ub, keep=used)
    else:
        nodes = np.arange(data.n_nodes)
    sub = restrict(data, nodes)
    sub_ub_plan = Plan(ub_plan.x.take(nodes, 0), ub_plan.unfilled)
    if params.fast_paths and dp_exact(sub):
        # Every node left holds whole lines and has room: partitions are exact (see subsets).
        return done(_expand(data, nodes, solve_by_partitions(sub)), "subset-dp", True,
                    kept_nodes=float(len(nodes)))
    better, better_cost = upper_bound_plan(sub)
    if better_cost < ub:
        sub_ub_plan, ub = better, better_cost
        ub_plan = _expand(data, nodes, better)
    plan, optimal, stats = solve_cpsat(sub, params, sub_ub_plan)
    stats["kept_nodes"] = float(len(nodes))
    if plan is None:
        # Nothing found within the time limit: the bound plan is feasible by construction.
        return done(ub_plan, "heuristic", False, **stats)
    if plan_cost(sub, plan) > ub + _EPS:
        # Only when rounding to micro-dollars hides a sub-cent difference: keep the cheaper.
        return done(ub_plan, "cp-sat", optimal, **stats)
    return done(_expand(data, nodes, plan), "cp-sat", optimal, **stats)

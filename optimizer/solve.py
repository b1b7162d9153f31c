"""`solve(data, params) -> Result`: the exact per-order optimum, with provably exact shortcuts."""

from __future__ import annotations

import time

import numpy as np

from optimizer.bounds import best_single_node, lower_bound, prune_nodes, upper_bound_plan
from optimizer.cpsat import solve_cpsat
from optimizer.problem import Plan, ProblemData, Result, SolveParams, plan_cost
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


def solve(data: ProblemData, params: SolveParams | None = None) -> Result:
    """Least-cost plan; at the time limit the best feasible one (never an infeasible plan)."""
    params = params or _DEFAULT
    start = time.perf_counter()
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
    nodes = (prune_nodes(data, ub, keep=ub_plan.nodes_used()) if params.prune
             else np.arange(data.n_nodes))
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

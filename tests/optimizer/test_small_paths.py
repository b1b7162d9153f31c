"""The plain-Python paths for small problems give exactly what the vectorised paths give.

Problems of at most `PY_CELLS` cells take list-based paths (bounds, greedy, pruning, the
partition DP, plan costs, the one-line solve). Here every function is run twice on the same
random problems, once as is and once with the Python paths switched off, and the results
must be equal bit for bit: the same floats, plans, methods and first-of-equals choices. Costs
come from small grids so that exact ties are common.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import optimizer.problem as problem
from optimizer import Plan, ProblemData, plan_cost, solve
from optimizer.bounds import (
    best_single_node,
    cheapest_unit,
    greedy_plan,
    lower_bound,
    prune_nodes,
    upper_bound_plan,
)
from optimizer.subsets import dp_exact, solve_by_partitions

UNCAPPED = 1 << 40


def _problems(seed: int, count: int) -> Iterator[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n_lines = int(rng.integers(1, 5))
        n_nodes = int(rng.integers(0, 12))
        qty = rng.integers(1, 4, n_lines)
        avail = rng.integers(0, 4, (n_nodes, n_lines)) * (rng.random((n_nodes, n_lines)) < 0.6)
        if rng.random() < 0.5:  # whole lines only: the partition DP is exact
            avail = np.where(avail > 0, qty[None, :], 0)
        grid = np.array([0.35, 0.5, 1.1, 1.25, 2.0, -0.25 if rng.random() < 0.1 else 0.75])
        unit = rng.choice(grid, (n_nodes, n_lines))
        if rng.random() < 0.5:
            unit = unit + rng.uniform(0, 1e-3, unit.shape) * (rng.random(unit.shape) < 0.3)
        parcel = rng.choice([4.75, 4.85, 5.15, 6.6], n_nodes)
        capacity = np.where(rng.random(n_nodes) < 0.3, rng.integers(0, 6, n_nodes), UNCAPPED)
        yield {
            "qty": qty, "avail": avail, "unit_cost": unit, "parcel_cost": parcel,
            "capacity": capacity,
            "unfilled_unit_cost": rng.choice([1.5, 3.0, 20.7], n_lines),
            "unfilled_parcel_cost": float(rng.choice([0.0, 9.5, 13.2])),
            "max_parcels": None if rng.random() < 0.7 else int(rng.integers(0, 3)),
        }


def _both(args: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
          fn: Any) -> tuple[Any, Any]:
    """fn(data) with the small paths (as shipped), then with them off (a fresh problem)."""
    fast = fn(ProblemData(**args))
    with monkeypatch.context() as m:
        m.setattr(problem, "PY_CELLS", -1)
        slow = fn(ProblemData(**args))
    return fast, slow


def _plan(p: Plan) -> tuple[list[list[int]], list[int]]:
    return p.x.tolist(), p.unfilled.tolist()


def test_problems_are_small_enough_for_the_python_paths() -> None:
    sizes = [ProblemData(**a).avail.size for a in _problems(1, 300)]
    assert max(sizes) <= problem.PY_CELLS


def test_bounds_greedy_and_pruning_match_the_vectorised_versions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for args in _problems(2, 400):
        def run(data: ProblemData) -> tuple[Any, ...]:
            ub_plan, ub = upper_bound_plan(data, partitions=False)
            full_plan, full = upper_bound_plan(data)
            kept = prune_nodes(data, ub, keep=ub_plan.nodes_used())
            return (cheapest_unit(data).tolist(), lower_bound(data), best_single_node(data),
                    _plan(greedy_plan(data)), _plan(ub_plan), ub, _plan(full_plan), full,
                    kept.tolist(), prune_nodes(data, ub).tolist(), dp_exact(data))
        fast, slow = _both(args, monkeypatch, run)
        assert fast == slow, args


def test_partitions_and_plan_costs_match_the_vectorised_versions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(3)
    for args in _problems(3, 400):
        data = ProblemData(**args)
        # A random feasible plan: some units of each line on nodes that hold them.
        x = np.zeros(data.avail.shape, np.int64)
        left = data.qty.copy()
        for n, i in zip(*np.nonzero(data.avail), strict=True):
            t = int(min(rng.integers(0, data.avail[n, i] + 1), left[i]))
            x[n, i], left[i] = t, left[i] - t
        plans = [Plan(x, left), Plan.all_unfilled(data)]

        def run(data: ProblemData, plans: list[Plan] = plans) -> tuple[Any, ...]:
            return (_plan(solve_by_partitions(data)), [plan_cost(data, p) for p in plans])
        fast, slow = _both(args, monkeypatch, run)
        assert fast == slow, args


def test_solve_matches_the_vectorised_path_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    methods: dict[str, int] = {}
    for args in _problems(4, 300):
        def run(data: ProblemData) -> tuple[Any, ...]:
            r = solve(data)
            stats = {k: v for k, v in r.stats.items() if k != "wall_time"}
            return _plan(r.plan), r.cost, r.method, r.optimal, stats
        fast, slow = _both(args, monkeypatch, run)
        assert fast == slow, args
        methods[fast[2]] = methods.get(fast[2], 0) + 1
    assert {"trivial", "subset-dp", "cp-sat"} <= set(methods), methods


def test_one_line_problems_reach_every_step_of_the_one_line_solve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = set()
    for args in _problems(5, 600):
        if len(args["qty"]) != 1:
            continue
        def run(data: ProblemData) -> tuple[Any, ...]:
            r = solve(data)
            return _plan(r.plan), r.cost, r.method, r.stats.get("kept_nodes")
        fast, slow = _both(args, monkeypatch, run)
        assert fast == slow, args
        seen.add(fast[2])
    assert {"trivial", "subset-dp", "cp-sat"} <= seen


def test_trusted_problem_data_is_frozen_like_the_checked_one() -> None:
    args = next(_problems(6, 1))
    checked = ProblemData(**args)
    trusted = ProblemData.trusted(
        checked.qty.copy(), checked.avail.copy(), checked.unit_cost.copy(),
        checked.parcel_cost.copy(), checked.capacity.copy(), checked.unfilled_unit_cost.copy(),
        checked.unfilled_parcel_cost, checked.max_parcels)
    for name in ("qty", "avail", "unit_cost", "parcel_cost", "capacity", "unfilled_unit_cost"):
        assert not getattr(trusted, name).flags.writeable
        assert np.array_equal(getattr(trusted, name), getattr(checked, name))
    assert solve(trusted).cost == solve(checked).cost

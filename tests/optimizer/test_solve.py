"""Problem validation, trusted problems, fast paths, time limits and the subset-DP claim of
exactness."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from optimizer import Plan, ProblemData, SolveParams, is_feasible, plan_cost, solve
from optimizer.bounds import lower_bound, prune_nodes, upper_bound_plan
from optimizer.subsets import dp_exact, solve_by_partitions
from tests.optimizer.bruteforce import brute_force_cost


def _two_node_problem(**kw: object) -> ProblemData:
    args = dict(qty=[1, 1], avail=[[1, 1], [1, 0]], unit_cost=[[1.0, 1.0], [0.5, 0.5]],
                parcel_cost=[8.0, 8.0], capacity=[10, 10], unfilled_unit_cost=[20.0, 20.0],
                unfilled_parcel_cost=16.0)
    args.update(kw)
    return ProblemData(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("qty", [0, 1], "expected qty > 0"),
    ("avail", [[-1, 1], [1, 0]], "expected avail >= 0"),
    ("capacity", [-1, 3], "expected capacity >= 0"),
    ("parcel_cost", [-8.0, 8.0], "expected parcel costs >= 0"),
    ("max_parcels", -1, "expected max_parcels >= 0"),
])
def test_problem_rejects_bad_input(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _two_node_problem(**{field: value})


def test_solve_params_validate() -> None:
    with pytest.raises(ValueError, match="expected time_limit > 0"):
        SolveParams(time_limit=0)


def test_problem_arrays_are_frozen() -> None:
    data = _two_node_problem()
    with pytest.raises(ValueError):
        data.unit_cost[0, 0] = 0.0


def test_one_node_covering_everything_at_the_bound_is_the_trivial_path() -> None:
    data = _two_node_problem(avail=[[1, 1], [0, 0]])
    result = solve(data)
    assert result.method == "trivial" and result.optimal
    assert result.plan.x.tolist() == [[1, 1], [0, 0]]
    assert result.cost == pytest.approx(10.0)


def test_split_beats_single_node_when_cheaper() -> None:
    # Node 1 is so much cheaper for line 0 that two parcels win: 8 + 0.5 + 8 + 1 = 17.5 < 19.
    data = _two_node_problem(unit_cost=[[10.0, 1.0], [0.5, 0.5]])
    result = solve(data)
    assert result.cost == pytest.approx(min(8 + 10 + 1, 8 + 0.5 + 8 + 1))
    assert result.cost == pytest.approx(brute_force_cost(data))


def test_parcel_limit_is_respected() -> None:
    data = _two_node_problem(unit_cost=[[10.0, 1.0], [0.5, 0.5]], max_parcels=1)
    result = solve(data)
    assert len(result.plan.nodes_used()) == 1
    assert result.cost == pytest.approx(19.0)


def test_all_unfilled_when_nothing_available() -> None:
    data = _two_node_problem(avail=[[0, 0], [0, 0]])
    result = solve(data)
    assert result.plan.unfilled.tolist() == [1, 1]
    assert result.cost == pytest.approx(16.0 + 40.0)
    none = ProblemData([2], np.zeros((0, 1)), np.zeros((0, 1)), [], [], [3.0], 5.0)
    result = solve(none)
    assert result.plan.x.shape == (0, 1) and result.plan.unfilled.tolist() == [2]
    assert result.cost == 5.0 + 6.0 and result.optimal


def test_time_limit_still_returns_a_feasible_plan() -> None:
    rng = np.random.default_rng(3)
    n, lines = 400, 12
    data = ProblemData(
        qty=rng.integers(1, 6, lines), avail=rng.integers(0, 4, (n, lines)),
        unit_cost=rng.uniform(0.4, 3.0, (n, lines)), parcel_cost=rng.uniform(5, 10, n),
        capacity=rng.integers(1, 6, n), unfilled_unit_cost=np.full(lines, 30.0),
        unfilled_parcel_cost=20.0)
    result = solve(data, SolveParams(time_limit=0.01))
    assert is_feasible(data, result.plan)
    assert result.cost <= plan_cost(data, Plan.all_unfilled(data)) + 1e-9


def test_subset_dp_is_exact_whenever_it_claims_to_be() -> None:
    rng = np.random.default_rng(11)
    checked = 0
    for _ in range(300):
        lines, n = int(rng.integers(1, 5)), int(rng.integers(1, 7))
        qty = rng.integers(1, 3, lines)
        avail = np.where(rng.random((n, lines)) < 0.6, qty[None, :], 0)
        data = ProblemData(qty, avail, rng.uniform(0, 3, (n, lines)), rng.uniform(0, 10, n),
                           np.full(n, 100), rng.uniform(1, 8, lines), float(rng.uniform(0, 15)),
                           max_parcels=int(rng.integers(1, 4)) if rng.random() < 0.3 else None)
        assert dp_exact(data)
        plan = solve_by_partitions(data)
        assert is_feasible(data, plan)
        assert plan_cost(data, plan) == pytest.approx(brute_force_cost(data), abs=1e-9)
        checked += 1
    assert checked == 300


def test_pruned_nodes_have_a_bound_above_a_feasible_cost() -> None:
    rng = np.random.default_rng(5)
    n, lines = 60, 3
    data = ProblemData(rng.integers(1, 3, lines), rng.integers(0, 3, (n, lines)),
                       rng.uniform(0.4, 2.0, (n, lines)), np.full(n, 8.759), np.full(n, 4),
                       np.full(lines, 5.0), 17.5)
    _plan, ub = upper_bound_plan(data)
    kept = prune_nodes(data, ub)
    assert len(kept) < n  # it prunes something on this instance...
    assert lower_bound(data) <= solve(data).cost <= ub + 1e-9
    # ...and every optimum over all nodes only uses kept nodes (or costs the same).
    full = solve(data, SolveParams(prune=False, fast_paths=False))
    assert set(full.plan.nodes_used()) <= set(kept) or full.cost == pytest.approx(ub)


def test_partitions_enumerate_bell_numbers() -> None:
    from optimizer.subsets import _partitions

    bell = [1, 1, 2, 5, 15, 52, 203, 877, 4140]
    for lines in range(1, 9):
        parts = _partitions(lines)
        assert len(parts) == bell[lines]
        full = (1 << lines) - 1
        assert all(int(np.bitwise_or.reduce(p)) == full for p in parts)
        assert len({tuple(sorted(p)) for p in parts}) == len(parts)
        assert all(sum(bin(int(m)).count("1") for m in p) == lines for p in itertools.islice(
            parts, 50))


def test_trusted_problem_data_is_frozen_like_the_checked_one() -> None:
    checked = _two_node_problem(unit_cost=[[10.0, 1.0], [0.5, 0.5]], max_parcels=2)
    trusted = ProblemData.trusted(
        checked.qty.copy(), checked.avail.copy(), checked.unit_cost.copy(),
        checked.parcel_cost.copy(), checked.capacity.copy(), checked.unfilled_unit_cost.copy(),
        checked.unfilled_parcel_cost, checked.max_parcels)
    for name in ("qty", "avail", "unit_cost", "parcel_cost", "capacity", "unfilled_unit_cost"):
        assert not getattr(trusted, name).flags.writeable
        assert np.array_equal(getattr(trusted, name), getattr(checked, name))
    assert solve(trusted).cost == solve(checked).cost

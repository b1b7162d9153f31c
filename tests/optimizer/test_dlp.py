"""The column-generated DLP equals the LP over every fulfilment option, enumerated."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from ortools.linear_solver import pywraplp

from optimizer.dlp import DLPType, dlp_bound


def _types(rng: np.random.Generator, n_nodes: int, n_skus: int, count: int) -> list[DLPType]:
    out = []
    for _ in range(count):
        skus = rng.choice(n_skus, size=int(rng.integers(1, 4)), replace=False)
        nodes = np.arange(n_nodes)
        out.append(DLPType(
            skus=skus, count=float(rng.uniform(1, 20)), nodes=nodes,
            unit_cost=rng.uniform(0.4, 2.0, (n_nodes, len(skus))),
            parcel_cost=np.full(n_nodes, 8.759), allowed=rng.random((n_nodes, len(skus))) < 0.8,
            unfilled_unit_cost=np.full(len(skus), 3.0), unfilled_parcel_cost=17.518))
    return out


def _enumerated(types: list[DLPType], inv: np.ndarray, cap: np.ndarray) -> float:
    solver = pywraplp.Solver.CreateSolver("GLOP")
    stock = {k: solver.Constraint(-solver.infinity(), float(v)) for k, v in np.ndenumerate(inv)}
    caps = [solver.Constraint(-solver.infinity(), float(c)) for c in cap]
    obj = solver.Objective()
    for t in types:
        dem = solver.Constraint(t.count, t.count)
        options = [[-1] + [n for n in range(len(t.nodes)) if t.allowed[n, b]]
                   for b in range(len(t.skus))]
        for choice in itertools.product(*options):
            used = {n for n in choice if n >= 0}
            cost = sum(t.parcel_cost[n] for n in used)
            cost += t.unfilled_parcel_cost if -1 in choice else 0.0
            v = solver.NumVar(0, solver.infinity(), "")
            for b, n in enumerate(choice):
                if n < 0:
                    cost += t.unfilled_unit_cost[b]
                else:
                    cost += t.unit_cost[n, b]
                    stock[int(t.nodes[n]), int(t.skus[b])].SetCoefficient(v, 1.0)
                    c = caps[int(t.nodes[n])]
                    c.SetCoefficient(v, c.GetCoefficient(v) + 1.0)
            dem.SetCoefficient(v, 1.0)
            obj.SetCoefficient(v, cost)
    obj.SetMinimization()
    assert solver.Solve() == pywraplp.Solver.OPTIMAL
    return obj.Value()


def test_column_generation_matches_full_enumeration() -> None:
    rng = np.random.default_rng(17)
    for _ in range(5):
        n_nodes, n_skus = 4, 5
        types = _types(rng, n_nodes, n_skus, 12)
        inv = rng.integers(0, 25, (n_nodes, n_skus))
        cap = rng.integers(10, 60, n_nodes)
        got = dlp_bound(types, inv, cap)
        assert got.converged
        assert got.value == pytest.approx(_enumerated(types, inv, cap), rel=1e-7)
        assert (got.stock_prices >= 0).all()


def test_no_stock_means_everything_unfilled() -> None:
    rng = np.random.default_rng(2)
    types = _types(rng, 3, 4, 4)
    got = dlp_bound(types, np.zeros((3, 4), np.int64))
    expected = sum(t.count * (t.unfilled_parcel_cost + t.unfilled_unit_cost.sum()) for t in types)
    assert got.value == pytest.approx(expected)

"""`optimal` equals brute-force enumeration to the cent on random small orders."""

from __future__ import annotations

import numpy as np

from allocation.candidates import build_candidates
from optimizer import SolveParams, is_feasible, solve
from tests.allocation.factories import (
    random_cost_model,
    random_network,
    random_order,
    tiny_zone_matrix,
)
from tests.optimizer.bruteforce import brute_force_cost

N_ORDERS = 520
CENT = 0.005  # "to the cent": the two totals round to the same cent or differ by < half a cent


def _random_problems(seed: int, count: int):
    rng = np.random.default_rng(seed)
    zm = tiny_zone_matrix()
    for k in range(count):
        network = random_network(rng, int(rng.integers(1, 9)))
        order = random_order(rng, network, int(rng.integers(1, 5)), k)
        atp = rng.integers(0, 4, (len(network), len({ln.sku for ln in order.lines})))
        atp *= rng.random(atp.shape) < 0.6
        opp = rng.uniform(0, 1.5, atp.shape) * (rng.random(atp.shape) < 0.3)
        cands = build_candidates(network, order, atp, random_cost_model(rng), zone_matrix=zm,
                                 opportunity=opp)
        yield cands.data


def test_optimal_matches_brute_force_on_520_random_orders() -> None:
    params_cpsat = SolveParams(fast_paths=False)
    methods: dict[str, int] = {}
    compared = 0
    for data in _random_problems(seed=20240601, count=N_ORDERS):
        best = brute_force_cost(data)
        auto = solve(data)
        forced = solve(data, params_cpsat)
        assert is_feasible(data, auto.plan) and is_feasible(data, forced.plan)
        assert auto.optimal and forced.optimal
        assert abs(auto.cost - best) < CENT, (auto.method, auto.cost, best)
        assert abs(forced.cost - best) < CENT, (forced.cost, best)
        methods[auto.method] = methods.get(auto.method, 0) + 1
        compared += 1
    assert compared == N_ORDERS
    # Every solve path was exercised, so each is covered by the oracle.
    assert {"cp-sat", "subset-dp", "trivial"} <= set(methods), methods


def test_pruning_never_changes_the_optimum() -> None:
    for data in _random_problems(seed=7, count=150):
        pruned = solve(data, SolveParams(fast_paths=False, prune=True))
        full = solve(data, SolveParams(fast_paths=False, prune=False))
        assert abs(pruned.cost - full.cost) < 1e-6

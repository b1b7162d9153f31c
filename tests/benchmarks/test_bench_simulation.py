"""Simulation throughput: online orders per second (optimal policy, in-memory ledger) and a
90-day, 100-store, 2,000-SKU scenario on one core.

Run: .venv/bin/pytest tests/benchmarks/test_bench_simulation.py --benchmark-only -s
Targets (issue 8): >= 2,000 simulated orders/s per core; the big scenario in < 5 minutes.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from simulations.demand import generate_demand
from simulations.engine import Run
from simulations.scenario import parse_scenario
from simulations.world import build_world

BIG = {
    "name": "big", "horizon_days": 90, "policies": ["optimal"],
    "network": {"stores": 100, "skus": 2000, "region": "TX", "seed": 7},
    "demand": {"orders_per_day": 1000},
    "bound": {"enabled": False},
}


def _throughput(scenario: dict[str, Any]) -> dict[str, float]:
    scen = parse_scenario(scenario)
    t0 = time.perf_counter()
    world = build_world(scen)
    demand = generate_demand(world, 1)
    setup = time.perf_counter() - t0
    t1 = time.perf_counter()
    Run(world, demand, "optimal").run()
    run = time.perf_counter() - t1
    return {"orders": demand.n_orders, "setup_s": setup, "run_s": run,
            "orders_per_s": demand.n_orders / run, "total_s": setup + run}


@pytest.mark.parametrize("stores", [12, 100])
def test_orders_per_second(benchmark: Any, stores: int) -> None:
    """A 14-day run; the rate counts the whole day loop (walk-ins, replenishment, records)."""
    spec = dict(BIG, horizon_days=14, network=dict(BIG["network"], stores=stores))
    stats = benchmark.pedantic(_throughput, args=(spec,), rounds=1, iterations=1)
    benchmark.extra_info.update(stats)
    print(f"\n{stores} stores: {stats['orders']} orders, {stats['orders_per_s']:,.0f} orders/s")


def test_big_scenario(benchmark: Any) -> None:
    """90 days, 100 stores, 2,000 SKUs, 1,000 online orders a day, optimal policy."""
    stats = benchmark.pedantic(_throughput, args=(BIG,), rounds=1, iterations=1)
    benchmark.extra_info.update(stats)
    print(f"\nbig: {stats['orders']} orders in {stats['total_s']:.1f} s "
          f"({stats['orders_per_s']:,.0f} orders/s)")
    assert stats["total_s"] < 300

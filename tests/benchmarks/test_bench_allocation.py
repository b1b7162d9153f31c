"""Benchmarks: decision latency on a 1,000-node network and replay throughput per policy.

Run: .venv/bin/pytest tests/benchmarks/test_bench_allocation.py --benchmark-only
p50/p99 of the per-order latency are in each benchmark's extra_info (and printed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from allocation.costs import CostModel
from allocation.network import UNLIMITED, Network, Order, OrderLine
from allocation.service import decide
from simulations.bench.replay import load_instance, run_replay

N_NODES = 1000
N_SKUS = 200
N_ORDERS = 400
SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "bench" / "sample_warmup.json"


def _zone_matrix() -> np.ndarray | None:
    try:
        from data.reference import load_zone_matrix
    except ImportError:  # the chart loader is optional: zones then come from distance bands
        return None
    return load_zone_matrix()


def thousand_nodes() -> tuple[Network, np.ndarray]:
    """1,000 nodes (100 DCs, 900 stores) across the US and a sparse ATP table (seeded)."""
    rng = np.random.default_rng(1000)
    is_store = np.arange(N_NODES) >= 100
    network = Network(
        codes=tuple(f"N{k:04d}" for k in range(N_NODES)), is_store=is_store,
        lat=rng.uniform(26, 48, N_NODES), lon=rng.uniform(-122, -70, N_NODES),
        ship_from_store=is_store & (rng.random(N_NODES) < 0.8), click_and_collect=is_store,
        pick_capacity=np.where(is_store, rng.integers(20, 200, N_NODES), UNLIMITED),
        zip3=rng.integers(10, 999, N_NODES))
    atp = rng.integers(1, 6, (N_NODES, N_SKUS)) * (rng.random((N_NODES, N_SKUS)) < 0.3)
    atp[:100] = rng.integers(0, 50, (100, N_SKUS))
    return network, atp


@pytest.fixture(scope="module")
def big_network() -> tuple[Network, np.ndarray]:
    """The 1,000-node network."""
    return thousand_nodes()


def _orders(n_lines: int, seed: int) -> list[Order]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(N_ORDERS):
        skus = rng.choice(N_SKUS, size=n_lines, replace=False)
        pickup = rng.random() < 0.1
        out.append(Order(
            f"b{k}", tuple(OrderLine(f"S{s}", int(rng.integers(1, 3))) for s in skus),
            lat=float(rng.uniform(26, 48)), lon=float(rng.uniform(-122, -70)),
            method="pickup" if pickup else "ship",
            pickup_node=f"N{int(rng.integers(100, N_NODES)):04d}" if pickup else None,
            zip3=int(rng.integers(10, 999))))
    return out


def _percentiles(benchmark: Any) -> dict[str, float]:
    data = np.array(benchmark.stats.stats.data) * 1e3
    stats = {"p50_ms": float(np.percentile(data, 50)), "p99_ms": float(np.percentile(data, 99))}
    benchmark.extra_info.update(stats)
    print(f"\n{benchmark.name}: p50 {stats['p50_ms']:.3f} ms, p99 {stats['p99_ms']:.3f} ms")
    return stats


@pytest.mark.parametrize("n_lines", [1, 3, 8])
@pytest.mark.parametrize("policy", ["optimal", "rules", "nearest"])
def test_decision_latency(benchmark: Any, big_network: tuple[Network, np.ndarray],
                          n_lines: int, policy: str) -> None:
    """One decide() per round on the 1,000-node network (candidates, solve, explanations)."""
    network, atp = big_network
    zm = _zone_matrix()
    cost = CostModel()
    orders = _orders(n_lines, seed=n_lines)
    cols = [np.array([int(line.sku[1:]) for line in o.lines]) for o in orders]
    state = {"k": 0}

    def setup() -> tuple[tuple[Order, np.ndarray], dict[str, Any]]:
        k = state["k"] % len(orders)
        state["k"] += 1
        return (orders[k], atp[:, cols[k]]), {}

    def run(order: Order, order_atp: np.ndarray) -> Any:
        return decide(order, network, order_atp, policy, cost=cost, zone_matrix=zm)

    decide(orders[0], network, atp[:, cols[0]], policy, cost=cost, zone_matrix=zm)  # warm up
    decision, _ = benchmark.pedantic(run, setup=setup, rounds=N_ORDERS, iterations=1)
    assert decision.cost.total > 0
    _percentiles(benchmark)


@pytest.mark.parametrize("policy", ["nearest", "rules", "optimal"])
def test_replay_throughput(benchmark: Any, policy: str) -> None:
    """Orders per second of a full replay of sample_warmup through allocate()."""
    if not SAMPLE.exists():
        pytest.skip(f"{SAMPLE} is missing")
    inst = load_instance(SAMPLE)
    result = benchmark.pedantic(run_replay, args=(inst, policy), rounds=3, iterations=1)
    rate = len(inst.orders) / float(np.median(benchmark.stats.stats.data))
    benchmark.extra_info["orders_per_s"] = rate
    print(f"\nreplay {policy}: {rate:.0f} orders/s, cost {result['total_cost']:.2f}")
    assert result["total_cost"] > 0

"""Benchmarks: forecast_aware amortised decision time on sample_warmup (LP refreshes
included) and the aggregated transport LP on a 1,000-node, 10,000-SKU network.

Run: .venv/bin/pytest tests/benchmarks/test_bench_forecast_aware.py --benchmark-only -s
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from optimizer.pattern import WalkInDemand
from optimizer.transport import RegionDemand, solve_transport
from simulations.bench.replay import hindsight_of, load_instance, run_replay

SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "bench" / "sample_warmup.json"


def test_forecast_aware_amortised_ms_per_order(benchmark: Any) -> None:
    """Whole replay (decisions + every LP re-solve) divided by the number of orders."""
    if not SAMPLE.exists():
        pytest.skip(f"{SAMPLE} is missing")
    inst = load_instance(SAMPLE)
    result = benchmark.pedantic(run_replay, args=(inst, "forecast_aware"), rounds=3,
                                iterations=1)
    ms = 1e3 * float(np.median(benchmark.stats.stats.data)) / len(inst.orders)
    gap = 100 * (result["total_cost"] / hindsight_of(inst).value - 1)
    benchmark.extra_info.update(ms_per_order=ms, gap_to_hindsight_pct=gap, lp=result["lp"])
    print(f"\nforecast_aware: {ms:.3f} ms/order amortised, LP {result['lp']}, "
          f"gap to hindsight {gap:.2f}%")
    assert ms <= 1.0


def _big(seed: int = 7) -> tuple[np.ndarray, np.ndarray, RegionDemand, WalkInDemand]:
    """1,000 nodes (100 DCs, 900 stores), 10,000 SKUs, 50 regions, Zipf demand, walk-ins."""
    rng = np.random.default_rng(seed)
    n, s, r = 1000, 10_000, 50
    is_store = np.arange(n) >= 100
    lat, lon = rng.uniform(26, 48, n), rng.uniform(-122, -70, n)
    rlat, rlon = rng.uniform(26, 48, r), rng.uniform(-122, -70, r)
    miles = np.hypot(lat[:, None] - rlat[None], (lon[:, None] - rlon[None]) * 0.8) * 69
    cost = 0.423 + 0.000541 * miles + np.where(is_store, 0.5, 0.0)[:, None] + 8.759 / 2
    cost[~(~is_store | (rng.random(n) < 0.8))] = np.inf  # stores that do not ship
    pop = 1 / np.arange(1, s + 1) ** 0.8
    pop /= pop.sum()
    stock = np.zeros((n, s), np.int32)
    stock[:100] = (rng.random((100, s)) < 0.6) * rng.integers(1, 60, (100, s))
    stock[100:] = (rng.random((900, s)) < 0.08) * rng.integers(1, 6, (900, s))
    expected = 300_000 * pop[None, :] * rng.dirichlet(np.full(r, 3.0))[:, None]
    reg, sku = np.nonzero(expected >= 0.5)
    demand = RegionDemand(reg, sku, expected[reg, sku],
                          np.full(r, 2 * (8.759 + 0.423 + 0.000541 * 2500)))
    wn, ws = np.nonzero(stock[100:] > 0)
    walkins = WalkInDemand(wn + 100, ws, rng.uniform(0, 3, len(wn)), np.full(len(wn), 12.0))
    return stock, cost, demand, walkins


def test_transport_lp_1000_nodes_10000_skus(benchmark: Any) -> None:
    """Build + solve the aggregated LP with walk-ins; must stay under one second."""
    stock, cost, demand, walkins = _big()
    res = benchmark.pedantic(solve_transport, args=(stock, cost, demand),
                             kwargs={"walkins": walkins}, rounds=3, iterations=1)
    sec = float(np.median(benchmark.stats.stats.data))
    benchmark.extra_info.update(seconds=sec, arcs=res.arcs, rows=res.rows,
                                demand_pairs=len(demand.qty), walkins=len(walkins.qty))
    print(f"\ntransport LP 1000x10000: {sec:.3f} s ({len(demand.qty)} region-SKU pairs, "
          f"{len(walkins.qty)} walk-in rows, {res.arcs} arcs left after presolve)")
    assert sec < 1.0

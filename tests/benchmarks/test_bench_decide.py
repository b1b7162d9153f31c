"""decide() latency, the hot path of POST /v1/allocations (make bench).

On the demo network (3 DCs + 12 stores in Texas, written to SQLite by the demo builder and
read back the way the service reads it): orders of 1 and 3 lines of one unit to Texas ZIPs
(the load generator's mix), with the service's cost model, pick capacity left, USPS zone
chart and ATP snapshot. Customers cluster on ZIP centroids, so the per-location caches are
warm after a warm-up pass over other orders to the same ZIPs; `new-locations` moves every
order to a location never seen (every per-location cache misses). On a 1,000-node network
(test_bench_allocation's): 1 and 3 lines, every order at a new random location.

Run: .venv/bin/pytest tests/benchmarks/test_bench_decide.py --benchmark-only
p50/p99 per decision are in each benchmark's extra_info (and printed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from allocation.costs import CostModel
from allocation.network import Network, Order
from allocation.service import decide
from tests.benchmarks.test_bench_allocation import (
    _orders,
    _zone_matrix,
    thousand_nodes,
)

N_DEMO_ORDERS = 1000
N_BIG_ORDERS = 400
SKUS = [f"SKU-{i:06d}" for i in range(1, 101)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo network, its cost model, capacity left, zone chart, and an ATP reader."""
    from data.db import Database
    from data.demo import DemoParams, build_network
    from data.demo_write import write_network
    from data.migrate import upgrade
    from data.models import utcnow
    from data.stock_ledger import SnapshotLedger
    from fulfilment.allocations import AllocationContext
    from tests.benchmarks.test_bench_service_load import _tx_zips

    url = f"sqlite:///{Path(tmp_path_factory.mktemp('decide')) / 'demo.db'}"
    upgrade(url)
    db = Database.from_url(url)
    write_network(db, build_network(DemoParams(history_days=0)))
    ctx = AllocationContext(db, group_commit=False)
    network, capacity = ctx.network()
    ledger = SnapshotLedger(db, network.codes, ctx.node_ids(), ctx.skus, capacity)
    ledger.atp(SKUS[:1])  # reads today's pick load too
    out = {"network": network, "cost": ctx.cost, "capacity": ledger.capacity_left(),
           "zones": ctx.zones(), "now": utcnow(), "ledger": ledger, "zips": _tx_zips()}
    yield out
    db.dispose()


def _demo_orders(demo: dict[str, Any], n_lines: int, seed: int,
                 new_locations: bool = False) -> list[tuple[Order, np.ndarray]]:
    """Ship orders of n_lines distinct SKUs, one unit each, to random Texas ZIPs."""
    from api.allocations.schemas import AllocationIn
    from fulfilment.allocations import _to_order

    rng = np.random.default_rng(seed)
    out = []
    for k in range(N_DEMO_ORDERS):
        skus = [str(s) for s in rng.choice(SKUS, size=n_lines, replace=False)]
        req = AllocationIn(order_id=f"bench-{seed}-{k}", zip=str(rng.choice(demo["zips"])),
                           lines=[{"sku": s, "qty": 1} for s in skus])
        order = _to_order(req, demo["network"])
        if new_locations:  # a few hundred metres off the centroid: a location never seen
            order = Order(order.id, order.lines, lat=order.lat + 1e-3 * rng.random(),
                          lon=order.lon + 1e-3 * rng.random(), zip3=order.zip3)
        out.append((order, demo["ledger"].atp(skus)))
    return out


def _percentiles(benchmark: Any) -> None:
    data = np.array(benchmark.stats.stats.data) * 1e6
    stats = {"p50_us": float(np.percentile(data, 50)), "p99_us": float(np.percentile(data, 99))}
    benchmark.extra_info.update(stats)
    print(f"\n{benchmark.name}: p50 {stats['p50_us']:.0f} us, p99 {stats['p99_us']:.0f} us")


def _bench(benchmark: Any, network: Network, orders: list[tuple[Order, np.ndarray]],
           **kwargs: Any) -> None:
    state = {"k": 0}

    def setup() -> tuple[tuple[Order, np.ndarray], dict[str, Any]]:
        k = state["k"] % len(orders)
        state["k"] += 1
        return orders[k], {}

    def run(order: Order, atp: np.ndarray) -> Any:
        return decide(order, network, atp, "optimal", **kwargs)

    decision, _ = benchmark.pedantic(run, setup=setup, rounds=len(orders), iterations=1)
    assert decision.lines
    _percentiles(benchmark)


@pytest.mark.parametrize("case", ["1-line", "3-line", "1-line-new-locations"])
def test_decide_demo_network(benchmark: Any, demo: dict[str, Any], case: str) -> None:
    """One decide() per round on the demo network, as POST /v1/allocations calls it."""
    n_lines = 3 if case.startswith("3") else 1
    kwargs = {"cost": demo["cost"], "capacity": demo["capacity"],
              "zone_matrix": demo["zones"], "now": demo["now"]}
    for order, atp in _demo_orders(demo, n_lines, seed=100 + n_lines):  # warm up
        decide(order, demo["network"], atp, "optimal", **kwargs)
    orders = _demo_orders(demo, n_lines, seed=n_lines, new_locations="new" in case)
    _bench(benchmark, demo["network"], orders, **kwargs)


@pytest.fixture(scope="module")
def n1000() -> tuple[Network, np.ndarray]:
    """test_bench_allocation's 1,000 nodes (100 DCs, 900 stores) and sparse ATP."""
    return thousand_nodes()


@pytest.mark.parametrize("n_lines", [1, 3])
def test_decide_1000_nodes(benchmark: Any, n1000: tuple[Network, np.ndarray],
                           n_lines: int) -> None:
    """One decide() per round on 1,000 nodes; every order at a new location (cold caches)."""
    network, atp = n1000
    orders = [(o, atp[:, [int(line.sku[1:]) for line in o.lines]])
              for o in _orders(n_lines, seed=n_lines)][:N_BIG_ORDERS]
    kwargs = {"cost": CostModel(), "zone_matrix": _zone_matrix()}
    decide(orders[0][0], network, orders[0][1], "optimal", **kwargs)  # warm up
    _bench(benchmark, network, orders, **kwargs)

"""POST /v1/allocations with commit on SQLite at fixed offered loads (make bench)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data.db import Database
from data.demo import DemoParams, build_network
from data.demo_write import write_network
from data.migrate import upgrade
from data.reference import load_zips
from tests.benchmarks.loadgen import open_loop, running_server

RATES = (25, 50, 100)
SECONDS = 8


@pytest.fixture(scope="module")
def demo_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The default TX demo network in a SQLite file."""
    path = Path(tmp_path_factory.mktemp("bench")) / "demo.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    net = build_network(DemoParams(history_days=0))
    db = Database.from_url(url)
    write_network(db, net)
    db.dispose()
    return url


def order_maker(seed: int, skus: list[str], zips: list[str], prefix: str):  # type: ignore[no-untyped-def]
    """Orders of 1-3 lines to random TX ZIPs (weighted by population)."""
    rng = np.random.default_rng(seed)

    def make(i: int) -> tuple[str, str, dict]:
        k = int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1]))
        lines = [{"sku": s, "qty": 1} for s in rng.choice(skus, size=k, replace=False)]
        return "POST", "/v1/allocations", {"order_id": f"{prefix}-{i}", "method": "ship",
                                           "zip": str(rng.choice(zips)), "lines": lines}
    return make


def test_allocation_throughput_sqlite(benchmark, demo_sqlite: str) -> None:
    zips = load_zips()
    tx = zips[(zips["zip"].str[:2].isin(["75", "76", "77", "78", "79"]))]
    tx = tx.nlargest(300, "population")["zip"].tolist()
    skus = [f"SKU-{i:06d}" for i in range(1, 101)]
    results = []
    # The throughput of allocation itself: auth has its own tests.
    with running_server(demo_sqlite, env={"OMNI_AUTH_REQUIRED": "false"}) as base:
        open_loop(base, 10, 2, order_maker(0, skus, tx, "warm"))  # warm caches and pools

        def run() -> None:
            for rate in RATES:
                results.append(open_loop(base, rate, SECONDS,
                                         order_maker(rate, skus, tx, f"r{rate}")))

        benchmark.pedantic(run, rounds=1, iterations=1)
    for r in results:
        print("\nPOST /v1/allocations sqlite 1 worker:", r.row())
        benchmark.extra_info[f"rate_{int(r.offered_rps)}"] = r.row()
    assert all(r.ok > 0 for r in results)

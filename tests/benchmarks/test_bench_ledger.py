"""Ledger throughput and ATP latency (run by `make bench`; numbers, not pass/fail)."""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import insert

from data import availability, ledger
from data.db import Database
from data.models import EventKind, Node, NodeKind, Sku, StockEvent, StockPosition, utcnow

N_NODES, N_SKUS = 1000, 50
BATCH = 400


def seed_wide(db: Database, nodes: int = N_NODES, skus: int = N_SKUS, on_hand: int = 10**6) -> None:
    """`nodes` x `skus` positions with plenty of stock, written in bulk."""
    now = utcnow()
    with db.transaction() as s:
        s.execute(insert(Node), [dict(
            id=i + 1, code=f"N{i:04d}", name=f"Node {i}",
            kind=NodeKind.dc if i < 5 else NodeKind.store, zip="75201",
            lat=30 + (i % 100) / 10, lon=-100 + i / 100, ship_from_store=i % 3 == 0,
            click_and_collect=True, pick_cost_per_unit=1.0, address="", city="", state="TX",
            active=True) for i in range(nodes)])
        s.execute(insert(Sku), [dict(id=j + 1, code=f"S{j:05d}", name=f"Sku {j}", category="c",
                                     weight_lb=1.0, unit_price=10.0, unit_cost=5.0)
                                for j in range(skus)])
        rows = [dict(node_id=i + 1, sku_id=j + 1, on_hand=on_hand, reserved=0, safety_stock=1,
                     updated_at=now) for i in range(nodes) for j in range(skus)]
        for k in range(0, len(rows), 5000):
            s.execute(insert(StockPosition), rows[k:k + 5000])
            s.execute(insert(StockEvent), [dict(
                occurred_at=now, recorded_at=now, node_id=r["node_id"], sku_id=r["sku_id"],
                kind=EventKind.receipt, delta_on_hand=on_hand, delta_reserved=0)
                for r in rows[k:k + 5000]])


def _reserve_one(db: Database, i: int) -> None:
    with db.transaction() as s:
        node, sku = f"N{i % 50:04d}", f"S{i % N_SKUS:05d}"
        key = ledger.resolve(s, [(node, sku)])[(node, sku)]
        ledger.reserve(s, key, 1, reference=f"bench-{i}")


@pytest.mark.parametrize("threads", [1, 8])
def test_reservations_per_second(benchmark, database: Database, threads: int) -> None:
    seed_wide(database, nodes=50, skus=N_SKUS)
    counter = itertools.count()

    def run() -> None:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda _: _reserve_one(database, next(counter)), range(BATCH)))

    t0 = time.perf_counter()
    benchmark.pedantic(run, rounds=3, iterations=1)
    benchmark.extra_info["reservations_per_s"] = round(BATCH / benchmark.stats["mean"], 1)
    benchmark.extra_info["backend"] = database.engine.dialect.name
    benchmark.extra_info["wall_s"] = round(time.perf_counter() - t0, 2)
    print(f"\n{database.engine.dialect.name} threads={threads}: "
          f"{BATCH / benchmark.stats['mean']:.0f} reservations/s")


@pytest.mark.parametrize("view", ["network", "per_node"])
def test_atp_latency_5_skus_1000_nodes(benchmark, database: Database, view: str) -> None:
    seed_wide(database)
    skus = [f"S{j:05d}" for j in (1, 7, 13, 21, 42)]

    def query() -> int:
        with database.read_session() as s:
            if view == "network":
                return len(availability.network_atp(s, skus))
            return len(availability.node_stock(s, skus))

    assert benchmark(query) == (5 if view == "network" else N_NODES * 5)
    print(f"\n{database.engine.dialect.name} ATP {view} 5 SKUs x {N_NODES} nodes: "
          f"median {benchmark.stats['median'] * 1e3:.2f} ms")

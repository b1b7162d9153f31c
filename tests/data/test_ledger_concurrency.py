"""16 threads race for the last units of one SKU at one node: never an oversell."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from allocation.errors import InsufficientStock
from data import ledger
from data.db import Database
from tests.factories import seed_tiny

PAIR = ("ST-0001", "SKU-B")
THREADS = 16


@pytest.mark.parametrize(("stock", "each", "winners"), [(5, 1, 5), (7, 2, 3)])
def test_race_for_last_units(database: Database, stock: int, each: int, winners: int) -> None:
    seed_tiny(database, {PAIR: stock})
    start = threading.Barrier(THREADS)

    def attempt(i: int) -> str:
        start.wait()  # release every thread at once so the reservations truly race
        try:
            with database.transaction() as s:
                key = ledger.resolve(s, [PAIR])[PAIR]
                ledger.reserve(s, key, each, reference=f"race-{i}")
            return "ok"
        except InsufficientStock as exc:
            return f"short:{exc.requested}:{exc.available}"

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(attempt, range(THREADS)))

    assert results.count("ok") == winners
    losers = [r for r in results if r != "ok"]
    assert len(losers) == THREADS - winners
    assert all(r.startswith(f"short:{each}:") for r in losers)
    with database.session() as s:
        p = ledger.position(s, ledger.resolve(s, [PAIR])[PAIR])
    assert p.reserved == winners * each <= stock
    assert p.on_hand == stock

"""Idempotency keys under concurrency: one outcome, written once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from data import ledger
from data.db import Database
from data.idempotency import run_once
from data.models import Reservation
from tests.factories import seed_tiny

PAIR = ("DC-DAL", "SKU-A")


def test_concurrent_retries_with_one_key_reserve_once(database: Database) -> None:
    seed_tiny(database, {PAIR: 100})
    gate = threading.Barrier(8)

    def work(s):  # type: ignore[no-untyped-def]
        rid = ledger.reserve(s, ledger.resolve(s, [PAIR])[PAIR], 3, reference="o-1")
        return {"reservation": rid}

    def call(_: int) -> tuple[dict, bool]:
        gate.wait()
        return run_once(database, "order-o-1", "alloc", {"order": "o-1"}, work)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(8)))
    assert len({r[0]["reservation"] for r in results}) == 1
    assert sum(not replayed for _, replayed in results) == 1
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Reservation)) == 1
        assert ledger.position(s, ledger.resolve(s, [PAIR])[PAIR]).reserved == 3

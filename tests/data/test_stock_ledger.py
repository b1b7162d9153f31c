"""The database ledger behaves like the in-memory ledger the simulation uses."""

from __future__ import annotations

import numpy as np
import pytest

from allocation.errors import InsufficientStock
from allocation.ledger import MemoryLedger, ReserveItem
from data.db import Database
from data.stock_ledger import DbLedger, node_records
from tests.factories import seed_tiny

STOCK = {("DC-DAL", "SKU-A"): 5, ("ST-0001", "SKU-A"): 3, ("ST-0001", "SKU-B"): 2}
SKUS = ["SKU-A", "SKU-B"]


@pytest.fixture
def both(database: Database) -> tuple[DbLedger, MemoryLedger]:
    """The same stock in the database ledger and in a memory ledger."""
    seed_tiny(database, STOCK)
    with database.session() as s:
        codes = [r["code"] for r in node_records(s)]
    on_hand = np.zeros((len(codes), len(SKUS)), dtype=np.int64)
    for (n, k), q in STOCK.items():
        on_hand[codes.index(n), SKUS.index(k)] = q
    return DbLedger(database, codes), MemoryLedger(codes, SKUS, on_hand)


def test_same_reservations_leave_same_atp(both: tuple[DbLedger, MemoryLedger]) -> None:
    dbl, mem = both
    steps = [[ReserveItem("DC-DAL", "SKU-A", 2), ReserveItem("ST-0001", "SKU-B", 1)],
             [ReserveItem("ST-0001", "SKU-A", 4)],  # too many: refused by both
             [ReserveItem("ST-0001", "SKU-A", 3), ReserveItem("DC-DAL", "SKU-A", 3)]]
    for n, items in enumerate(steps):
        outcomes = []
        for led in (dbl, mem):
            try:
                led.reserve(items, reference=f"o-{n}")
                outcomes.append("ok")
            except InsufficientStock as exc:
                outcomes.append(f"short {exc.node} {exc.sku} {exc.available}")
        assert outcomes[0] == outcomes[1]
        np.testing.assert_array_equal(dbl.atp(SKUS), mem.atp(SKUS))
    assert dbl.atp(SKUS).sum() == 1  # only one SKU-B left at ST-0001


def test_bound_session_rolls_back_only_the_failed_attempt(database: Database) -> None:
    seed_tiny(database, STOCK)
    with database.session() as s:
        codes = [r["code"] for r in node_records(s)]
    with database.transaction() as s:
        led = DbLedger(database, codes, session=s)
        led.reserve([ReserveItem("DC-DAL", "SKU-A", 5)], reference="o-1")
        with pytest.raises(InsufficientStock):
            led.reserve([ReserveItem("ST-0001", "SKU-B", 1),
                         ReserveItem("ST-0001", "SKU-A", 9)], reference="o-1")
        led.reserve([ReserveItem("ST-0001", "SKU-B", 2)], reference="o-1")
    after = DbLedger(database, codes).atp(SKUS)
    assert after[codes.index("DC-DAL")].tolist() == [0, 0]
    assert after[codes.index("ST-0001")].tolist() == [3, 0]

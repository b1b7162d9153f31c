"""`allocate`: reserve atomically, re-decide after a lost race, never oversell."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from allocation.costs import CostModel
from allocation.errors import InsufficientStock
from allocation.ledger import MemoryLedger, ReserveItem
from allocation.network import Network, Order, OrderLine
from allocation.service import allocate


class RacingLedger(MemoryLedger):
    """Another order takes the stock between our read and our write, `races` times."""

    def __init__(self, *args: object, races: int, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.races = races
        self.calls = 0

    def reserve(self, items: Sequence[ReserveItem], *, reference: str) -> list[int]:
        self.calls += 1
        if self.races > 0:
            self.races -= 1
            first = items[0]
            super().reserve([ReserveItem(first.node, first.sku, 1)], reference="rival")
        return super().reserve(items, reference=reference)


def _ledger(network: Network, races: int = 0) -> RacingLedger:
    return RacingLedger(network.codes, ["A"], np.array([[1], [1], [0]]), races=races)


def test_allocate_reserves_the_decision(meridian_network: Network) -> None:
    ledger = _ledger(meridian_network)
    order = Order("o", (OrderLine("A", 1),), lat=40.0, lon=-75.0)
    decision = allocate(order, meridian_network, ledger, "optimal", cost=CostModel())
    assert decision.attempts == 1 and len(decision.reservations) == 1
    assert ledger.atp(["A"]).sum() == 1


def test_lost_race_re_decides_with_fresh_stock(meridian_network: Network) -> None:
    ledger = _ledger(meridian_network, races=1)
    order = Order("o", (OrderLine("A", 1),), lat=40.0, lon=-75.0)
    decision = allocate(order, meridian_network, ledger, "optimal", cost=CostModel())
    assert decision.attempts == 2
    assert decision.lines[0].allocations[0].node == "DC-B"  # DC-A was taken by the rival
    assert (ledger.atp_all() >= 0).all() and ledger.atp(["A"]).sum() == 0


def test_gives_up_after_bounded_retries_without_overselling(meridian_network: Network) -> None:
    ledger = RacingLedger(meridian_network.codes, ["A"], np.array([[5], [0], [0]]), races=10)
    order = Order("o", (OrderLine("A", 5),), lat=40.0, lon=-75.0)
    with pytest.raises(InsufficientStock):
        allocate(order, meridian_network, ledger, "optimal", cost=CostModel(), max_attempts=3)
    assert ledger.calls == 3
    assert (ledger.reserved <= ledger.on_hand).all()


def test_ledger_pick_capacity_is_all_or_nothing(meridian_network: Network) -> None:
    ledger = MemoryLedger(meridian_network.codes, ["A", "B"], np.full((3, 2), 5),
                          pick_capacity=np.array([10, 10, 2]))
    with pytest.raises(InsufficientStock, match="pick capacity"):
        ledger.reserve([ReserveItem("ST-1", "A", 2), ReserveItem("ST-1", "B", 1)], reference="x")
    assert ledger.reserved.sum() == 0 and ledger.capacity_left().tolist() == [10, 10, 2]
    ids = ledger.reserve([ReserveItem("ST-1", "A", 2)], reference="y")
    assert ledger.capacity_left().tolist() == [10, 10, 0]
    ledger.release(ids)
    assert ledger.capacity_left().tolist() == [10, 10, 2]


def test_allocate_reads_capacity_from_the_ledger(meridian_network: Network) -> None:
    ledger = MemoryLedger(meridian_network.codes, ["A"], np.array([[0], [0], [5]]),
                          pick_capacity=np.array([10, 10, 1]))
    order = Order("o", (OrderLine("A", 3),), lat=42.0, lon=-75.0)
    decision = allocate(order, meridian_network, ledger, "nearest", cost=CostModel())
    assert decision.lines[0].unfilled == 2
    assert ledger.capacity_left().tolist() == [10, 10, 0]

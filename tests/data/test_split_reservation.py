"""ledger.split_reservation: one reservation shared among order lines, no stock moved."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from allocation.errors import InvalidQuantity, InvalidState
from data import ledger
from data.db import Database
from data.models import Reservation, ReservationStatus
from tests.data.test_ledger_properties import check_invariants
from tests.factories import seed_tiny


def test_split_keeps_stock_and_closes_parts_on_their_own(database: Database) -> None:
    seed_tiny(database, {("DC-DAL", "SKU-A"): 10})
    with database.transaction() as s:
        key = ledger.resolve(s, [("DC-DAL", "SKU-A")])[("DC-DAL", "SKU-A")]
        rid = ledger.reserve(s, key, 3, method="ship_from_dc")
    with database.transaction() as s, pytest.raises(InvalidQuantity):
        ledger.split_reservation(s, rid, [(None, 1), (None, 1)])
    with database.transaction() as s:
        ids = ledger.split_reservation(s, rid, [(None, 1), (None, 2)])
    assert ids[0] == rid and len(ids) == 2
    check_invariants(database)
    with database.transaction() as s:
        ledger.release(s, ids[1])
        ledger.ship(s, ids[0])
    check_invariants(database)
    with database.session() as s:
        rows = s.execute(select(Reservation.qty, Reservation.status, Reservation.method)
                         .order_by(Reservation.id)).all()
        assert [tuple(r) for r in rows] == [(1, ReservationStatus.consumed, "ship_from_dc"),
                                            (2, ReservationStatus.released, "ship_from_dc")]
        assert ledger.position(s, key).on_hand == 9
    with database.transaction() as s, pytest.raises(InvalidState):
        ledger.split_reservation(s, rid, [(None, 1)])

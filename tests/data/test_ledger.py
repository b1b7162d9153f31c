"""Ledger operations on SQLite and PostgreSQL: events and positions move together."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from allocation.errors import InsufficientStock, InvalidQuantity, InvalidState, UnknownReference
from data import ledger
from data.db import Database
from data.models import Reservation, ReservationStatus, StockEvent, StockPosition
from tests.factories import seed_tiny

PAIR = ("ST-0001", "SKU-A")


@pytest.fixture
def db(database: Database) -> Database:
    """The tiny network with 10 units of SKU-A at store 1 and 50 at the DC."""
    seed_tiny(database, {PAIR: 10, ("DC-DAL", "SKU-A"): 50})
    return database


def pos(db: Database, pair: tuple[str, str] = PAIR) -> StockPosition:
    """Read a position fresh from the database."""
    with db.session() as s:
        key = ledger.resolve(s, [pair])[pair]
        return ledger.position(s, key)


def event_sum(db: Database, pair: tuple[str, str] = PAIR) -> tuple[int, int]:
    """Sums of delta_on_hand and delta_reserved over the events of a position."""
    with db.session() as s:
        key = ledger.resolve(s, [pair])[pair]
        row = s.execute(select(func.coalesce(func.sum(StockEvent.delta_on_hand), 0),
                               func.coalesce(func.sum(StockEvent.delta_reserved), 0))
                        .where(StockEvent.node_id == key.node_id,
                               StockEvent.sku_id == key.sku_id)).one()
        return int(row[0]), int(row[1])


def test_receive_sell_adjust_keep_events_and_position_equal(db: Database) -> None:
    with db.transaction() as s:
        key = ledger.resolve(s, [PAIR])[PAIR]
        ledger.receive(s, key, 5, reference="PO-1")
        ledger.sell(s, key, 3, reference="POS-77")
        ledger.adjust(s, key, -2, reference="count")
    p = pos(db)
    assert p.on_hand == 10 + 5 - 3 - 2
    assert event_sum(db) == (p.on_hand, 0)


def test_reserve_respects_safety_stock_and_reports_available(db: Database) -> None:
    with db.transaction() as s:
        key = ledger.resolve(s, [PAIR])[PAIR]
        ledger.set_safety_stock(s, key, 4)
    with pytest.raises(InsufficientStock) as err, db.transaction() as s:
        ledger.reserve(s, ledger.resolve(s, [PAIR])[PAIR], 7)
    assert err.value.available == 6 and err.value.requested == 7
    assert "only 6 ATP available" in str(err.value)
    with db.transaction() as s:
        ledger.reserve(s, ledger.resolve(s, [PAIR])[PAIR], 6)
    assert pos(db).reserved == 6


def test_failed_multi_line_reservation_writes_nothing(db: Database) -> None:
    before = event_sum(db, ("DC-DAL", "SKU-A"))
    with pytest.raises(InsufficientStock), db.transaction() as s:
        keys = ledger.resolve(s, [PAIR, ("DC-DAL", "SKU-A")])
        ledger.reserve_many(s, [(keys[("DC-DAL", "SKU-A")], 5), (keys[PAIR], 11)])
    assert pos(db, ("DC-DAL", "SKU-A")).reserved == 0
    assert event_sum(db, ("DC-DAL", "SKU-A")) == before
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Reservation)) == 0


def test_release_and_ship_close_reservations_once(db: Database) -> None:
    with db.transaction() as s:
        key = ledger.resolve(s, [PAIR])[PAIR]
        r1 = ledger.reserve(s, key, 2, reference="o-1/1")
        r2 = ledger.reserve(s, key, 3, reference="o-2/1")
    with db.transaction() as s:
        ledger.release(s, r1)
        ledger.ship(s, r2)
    p = pos(db)
    assert (p.on_hand, p.reserved) == (7, 0)
    assert event_sum(db) == (7, 0)
    with pytest.raises(InvalidState, match="is released, not open"), db.transaction() as s:
        ledger.release(s, r1)
    with db.session() as s:
        assert s.get(Reservation, r2).status == ReservationStatus.consumed


def test_transfer_moves_only_unreserved_units(db: Database) -> None:
    dst = ("ST-0002", "SKU-A")
    with db.transaction() as s:
        keys = ledger.resolve(s, [PAIR, dst])
        ledger.reserve(s, keys[PAIR], 8)
    with pytest.raises(InsufficientStock, match="only 2 unreserved"), db.transaction() as s:
        keys = ledger.resolve(s, [PAIR, dst])
        ledger.transfer(s, keys[PAIR], keys[dst], 3)
    with db.transaction() as s:
        keys = ledger.resolve(s, [PAIR, dst])
        ledger.transfer(s, keys[PAIR], keys[dst], 2)
    assert pos(db).on_hand == 8 and pos(db, dst).on_hand == 2
    assert event_sum(db, dst) == (2, 0)


def test_sale_never_takes_on_hand_below_zero(db: Database) -> None:
    with pytest.raises(InsufficientStock, match="only 10 on hand"), db.transaction() as s:
        ledger.sell(s, ledger.resolve(s, [PAIR])[PAIR], 11)
    assert pos(db).on_hand == 10


@pytest.mark.parametrize("qty", [0, -1, 1.5, True])
def test_bad_quantities_are_refused(db: Database, qty: object) -> None:
    with pytest.raises(InvalidQuantity), db.transaction() as s:
        ledger.reserve(s, ledger.resolve(s, [PAIR])[PAIR], qty)  # type: ignore[arg-type]


def test_unknown_codes_are_named(db: Database) -> None:
    with pytest.raises(UnknownReference, match=r"unknown node.*ST-9.*unknown SKU.*SKU-Z"), \
            db.session() as s:
        ledger.resolve(s, [("ST-9", "SKU-A"), ("DC-DAL", "SKU-Z")])


def test_shipping_reserved_units_lost_to_a_count_fails_cleanly(db: Database) -> None:
    # Found by hypothesis: a count can leave fewer units on hand than are reserved.
    with db.transaction() as s:
        key = ledger.resolve(s, [PAIR])[PAIR]
        rid = ledger.reserve(s, key, 4)
        ledger.adjust(s, key, -8, reference="count")
    with pytest.raises(InsufficientStock, match="only 2 on hand"), db.transaction() as s:
        ledger.ship(s, rid)
    p = pos(db)
    assert (p.on_hand, p.reserved) == (2, 4)
    with db.session() as s:
        assert s.get(Reservation, rid).status == ReservationStatus.open


def test_a_position_never_holds_more_than_its_column(db: Database,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # The real limit is 2**31 - 1 (PostgreSQL's integer); a small one shows the rule.
    monkeypatch.setattr(ledger, "MAX_ON_HAND", 15)
    with db.transaction() as s:
        key = ledger.resolve(s, [PAIR])[PAIR]
        ledger.receive(s, key, 5)  # 10 + 5 = 15: at the limit
    for step in (lambda s, k: ledger.receive(s, k, 1), lambda s, k: ledger.adjust(s, k, 1),
                 lambda s, k: ledger.apply_feed(s, [ledger.FeedEvent(
                     k, ledger.EventKind.receipt, 1, ledger.utcnow(), "too-much")])):
        with pytest.raises(InvalidQuantity, match="limit of 15"), db.transaction() as s:
            step(s, ledger.resolve(s, [PAIR])[PAIR])
    assert pos(db).on_hand == 15 and event_sum(db) == (15, 0)
    with pytest.raises(InvalidQuantity, match="<= 1000000"), db.transaction() as s:
        ledger.receive(s, ledger.resolve(s, [PAIR])[PAIR], 1_000_001)

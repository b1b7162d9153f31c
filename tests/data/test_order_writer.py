"""The raw allocation commit writes exactly the rows the ORM models describe, or nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from allocation.errors import IdempotencyConflict, InsufficientStock
from data.models import (
    IdempotencyKey,
    NodePickDay,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    Reservation,
    ReservationStatus,
    StockEvent,
    StockPosition,
    utcnow,
)
from data.order_writer import (
    DuplicateOrder,
    Hold,
    OrderJob,
    OrderRecord,
    Replayed,
    Written,
    stored_response,
    write_order,
    write_orders,
)
from tests.data.test_ledger_properties import check_invariants
from tests.factories import seed_tiny


def _ids(db):  # type: ignore[no-untyped-def]
    from data.models import Node, Sku

    with db.read_session() as s:
        return (dict(s.execute(select(Node.code, Node.id)).all()),
                dict(s.execute(select(Sku.code, Sku.id)).all()))


def _record(db, order_id: str, qty_a: int = 3):  # type: ignore[no-untyped-def]
    nodes, skus = _ids(db)
    holds = [Hold(1, nodes["DC-DAL"], "DC-DAL", skus["SKU-A"], "SKU-A", qty_a - 1,
                  "ship_from_dc"),
             Hold(1, nodes["ST-0001"], "ST-0001", skus["SKU-A"], "SKU-A", 1, "ship_from_store"),
             Hold(2, nodes["DC-DAL"], "DC-DAL", skus["SKU-B"], "SKU-B", 2, "ship_from_dc")]
    return OrderRecord(external_id=order_id, method="ship", pickup_node_id=None,
                       ship_zip="75201", ship_lat=32.78, ship_lon=-96.8,
                       status=OrderStatus.allocated,
                       lines=[(1, skus["SKU-A"], qty_a, "allocated"),
                              (2, skus["SKU-B"], 2, "allocated")], holds=holds)


def _counts(db) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    with db.read_session() as s:
        return tuple(s.scalar(select(func.count()).select_from(t)) for t in
                     (Order, OrderLine, Reservation, StockEvent, OrderEvent, IdempotencyKey))


def _stock(db) -> dict[tuple[str, str], int]:  # type: ignore[no-untyped-def]
    with db.read_session() as s:
        return {(n, k): r for n, k, r in s.execute(
            select(StockPosition.node_id, StockPosition.sku_id, StockPosition.reserved))}


@pytest.fixture
def stocked(database):  # type: ignore[no-untyped-def]
    seed_tiny(database, {("DC-DAL", "SKU-A"): 10, ("ST-0001", "SKU-A"): 4,
                         ("DC-DAL", "SKU-B"): 5})
    return database


def test_write_order_rows_read_back_through_the_orm(stocked) -> None:  # type: ignore[no-untyped-def]
    db = stocked
    rec = _record(db, "web-1")
    with db.raw_transaction() as cur:
        order_id, res_ids = write_order(
            cur, rec, lambda ids: ({"reservations": ids}, {"order_id": "web-1", "ok": True}),
            ("key-1", "allocations", "h" * 64))
    assert len(res_ids) == 3 and len(set(res_ids)) == 3
    with db.read_session() as s:
        order = s.get(Order, order_id)
        assert order is not None and order.external_id == "web-1"
        assert order.status == OrderStatus.allocated and order.decision == {"reservations": res_ids}
        assert order.created_at.year == utcnow().year
        lines = {ln.line_no: ln for ln in s.scalars(select(OrderLine).where(
            OrderLine.order_id == order_id))}
        assert {n: (ln.qty, ln.state) for n, ln in lines.items()} == {
            1: (3, "allocated"), 2: (2, "allocated")}
        res = [s.get(Reservation, r) for r in res_ids]
        # Each reservation is the hold at the same position, on its own line.
        for r, h in zip(res, rec.holds, strict=True):
            assert r is not None and r.status == ReservationStatus.open
            assert (r.node_id, r.sku_id, r.qty, r.method) == (h.node_id, h.sku_id, h.qty, h.method)
            assert r.order_line_id == lines[h.line_no].id
        events = s.scalars(select(StockEvent).where(StockEvent.reservation_id.in_(res_ids))).all()
        assert sorted(e.delta_reserved for e in events) == [1, 2, 2]
        assert s.scalar(select(func.count()).select_from(OrderEvent)
                        .where(OrderEvent.order_id == order_id)) == 2
        picks = dict(s.execute(select(NodePickDay.node_id, NodePickDay.units)).all())
        assert sorted(picks.values()) == [1, 4]
        key = s.get(IdempotencyKey, "key-1")
        assert key is not None and key.response == {"order_id": "web-1", "ok": True}
    with db.raw_read() as cur:
        assert stored_response(cur, "key-1", "allocations", "h" * 64) == {
            "order_id": "web-1", "ok": True}
        with pytest.raises(IdempotencyConflict):
            stored_response(cur, "key-1", "allocations", "x" * 64)
    check_invariants(db)


def test_lost_race_and_duplicate_write_nothing(stocked) -> None:  # type: ignore[no-untyped-def]
    db = stocked
    before, stock = _counts(db), _stock(db)
    # 12 of SKU-A wants 11 at the DC, which holds 10: the hold fails, nothing is written.
    with pytest.raises(InsufficientStock, match="only 10"), db.raw_transaction() as cur:
        write_order(cur, _record(db, "web-2", qty_a=12), lambda ids: ({}, {}))
    assert _counts(db) == before and _stock(db) == stock
    with db.raw_transaction() as cur:
        write_order(cur, _record(db, "web-3"), lambda ids: ({}, {}))
    after, stock = _counts(db), _stock(db)
    with pytest.raises(DuplicateOrder), db.raw_transaction() as cur:
        write_order(cur, _record(db, "web-3"), lambda ids: ({}, {}))
    assert _counts(db) == after and _stock(db) == stock
    check_invariants(db)


def test_a_batch_admits_orders_in_arrival_order_while_the_stock_lasts(stocked) -> None:  # type: ignore[no-untyped-def]
    db = stocked
    before = _stock(db)

    def job(oid: str, key: str | None = None) -> OrderJob:
        return OrderJob(_record(db, oid), lambda ids, oid=oid: ({"r": ids}, {"order_id": oid}),
                        None if key is None else (key, "allocations", "h" * 64))

    # SKU-B at DC-DAL has 5 units and each order holds 2: the third order lost its race.
    jobs = [job("web-1", "k1"), job("web-2"), job("web-3"), job("web-1"), job("web-1", "k1")]
    with db.raw_transaction() as cur:
        out = write_orders(cur, jobs)
    assert isinstance(out[0], Written) and isinstance(out[1], Written)
    assert isinstance(out[2], InsufficientStock) and out[2].sku == "SKU-B"
    assert out[2].available == 1
    assert isinstance(out[3], DuplicateOrder)
    assert isinstance(out[4], Replayed) and out[4].response == {"order_id": "web-1"}
    with db.read_session() as s:
        assert sorted(s.scalars(select(Order.external_id))) == ["web-1", "web-2"]
    after = _stock(db)
    assert sum(after.values()) - sum(before.values()) == 2 * (2 + 1 + 2)
    check_invariants(db)
    # The stored answer replays in a later batch; a new body under the key is refused.
    with db.raw_transaction() as cur:
        again = write_orders(cur, [job("web-9", "k1"), OrderJob(
            _record(db, "web-8"), lambda ids: ({}, {}), ("k1", "allocations", "x" * 64))])
    assert isinstance(again[0], Replayed) and again[0].response == {"order_id": "web-1"}
    assert isinstance(again[1], IdempotencyConflict)
    assert _stock(db) == after

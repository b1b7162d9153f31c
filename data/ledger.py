"""The stock ledger: the one module that changes stock.

Every operation appends its event(s) to `stock_events` and updates the matching
`stock_positions` row in the caller's transaction, so `on_hand == sum(delta_on_hand)` and
`reserved == sum(open reservations)` hold at every commit. Decrements are conditional
UPDATEs (`... WHERE on_hand - reserved - safety_stock >= :q`): the database re-checks the
condition on the row it locks, so concurrent writers can never oversell on SQLite or
PostgreSQL, and no table lock is taken.

One lock order for every path, so that two transactions never wait on each other in a
circle (PostgreSQL; SQLite has one writer): the order row (`FOR UPDATE`), then the
idempotency key (an advisory lock, `data.idempotency.lock_key`), then feed event ids (their
unique index), then stock positions in (node id, SKU id) order, then pick-load rows in
(node id, day) order, then inserts. A path that cannot know every row up front (a
re-route sources new nodes after releasing) may still meet a deadlock; its caller runs
the whole transaction again (`Database.run`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Connection, and_, insert, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from allocation.errors import InsufficientStock, InvalidQuantity, InvalidState, UnknownReference
from data.db import RawCursor
from data.models import (
    EventKind,
    Node,
    NodePickDay,
    Reservation,
    ReservationStatus,
    Sku,
    StockEvent,
    StockPosition,
    utcnow,
)

SP = StockPosition
FEED_KINDS = frozenset({EventKind.receipt, EventKind.sale, EventKind.adjustment})
# Quantities are 32-bit integers in the database: one event moves at most MAX_QTY units and
# a position never holds more than MAX_ON_HAND (a clear refusal instead of an overflow).
MAX_QTY = 1_000_000
MAX_ON_HAND = 2**31 - 1


@dataclass(frozen=True, slots=True)
class StockKey:
    """A (node, SKU) pair by database id, with its codes for messages."""

    node_id: int
    sku_id: int
    node: str
    sku: str


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One inventory-feed event (POS sale, receipt, adjustment) already resolved to ids."""

    key: StockKey
    kind: EventKind
    qty: int  # positive for receipt and sale; signed for adjustment
    occurred_at: dt.datetime
    event_id: str | None = None
    reference: str | None = None

    @property
    def delta(self) -> int:
        """Signed change of on_hand."""
        return -self.qty if self.kind == EventKind.sale else self.qty


# ---------------------------------------------------------------- look-ups


def resolve(session: Session, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], StockKey]:
    """Map (node code, SKU code) pairs to ids; raise UnknownReference naming every unknown code."""
    pairs = list(dict.fromkeys(pairs))
    node_codes = {n for n, _ in pairs}
    sku_codes = {s for _, s in pairs}
    nodes = dict(session.execute(select(Node.code, Node.id).where(Node.code.in_(node_codes))).all())
    skus = dict(session.execute(select(Sku.code, Sku.id).where(Sku.code.in_(sku_codes))).all())
    missing_n = sorted(node_codes - nodes.keys())
    missing_s = sorted(sku_codes - skus.keys())
    if missing_n or missing_s:
        parts = []
        if missing_n:
            parts.append(f"unknown node(s): {', '.join(missing_n[:10])}")
        if missing_s:
            parts.append(f"unknown SKU(s): {', '.join(missing_s[:10])}")
        raise UnknownReference("; ".join(parts), nodes=missing_n, skus=missing_s)
    return {(n, s): StockKey(nodes[n], skus[s], n, s) for n, s in pairs}


def position(session: Session, key: StockKey) -> StockPosition | None:
    """The current position row (None if the SKU was never stocked at the node)."""
    return session.get(StockPosition, (key.node_id, key.sku_id), populate_existing=True)


def _insert_ignore(session: Session):  # type: ignore[no-untyped-def]
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert


def ensure_positions(session: Session, keys: Iterable[StockKey]) -> None:
    """Create zero positions that do not exist yet (safe under concurrent callers)."""
    rows = [{"node_id": k.node_id, "sku_id": k.sku_id, "on_hand": 0, "reserved": 0,
             "safety_stock": 0, "updated_at": utcnow()} for k in keys]
    if rows:
        stmt = _insert_ignore(session)(SP).values(rows).on_conflict_do_nothing()
        session.execute(stmt)


def utc_day(ts: dt.datetime) -> dt.date:
    """The UTC date of a stored time (naive on SQLite, which stores UTC wall times)."""
    return ts.date() if ts.tzinfo is None else ts.astimezone(dt.UTC).date()


def count_picks(session: Session, units: dict[int, int], day: dt.date | None = None) -> None:
    """Add units (negative: released) to each node's pick load of `day` (today, UTC)."""
    day = day or utcnow().date()
    rows = [{"node_id": n, "day": day, "units": q} for n, q in sorted(units.items()) if q]
    if not rows:
        return
    stmt = _insert_ignore(session)(NodePickDay)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["node_id", "day"],
        set_={"units": NodePickDay.units + stmt.excluded.units}), rows)


def _locks_rows(session: Session) -> bool:
    # SQLite's one writer holds the whole database: row locks mean nothing there.
    return session.get_bind().dialect.name == "postgresql"


def lock_positions(session: Session, pairs: Iterable[tuple[int, int]]) -> None:
    """Lock the (node id, SKU id) position rows in the global order before changing them."""
    keys = sorted(set(pairs))
    if keys and _locks_rows(session):
        session.execute(select(SP.node_id).where(tuple_(SP.node_id, SP.sku_id).in_(keys))
                        .order_by(SP.node_id, SP.sku_id).with_for_update())


def lock_pick_days(session: Session, keys: Iterable[tuple[int, dt.date]]) -> None:
    """Lock the (node id, day) pick-load rows in the global order (after the positions)."""
    keys = sorted(set(keys))
    if keys and _locks_rows(session):
        session.execute(select(NodePickDay.node_id)
                        .where(tuple_(NodePickDay.node_id, NodePickDay.day).in_(keys))
                        .order_by(NodePickDay.node_id, NodePickDay.day).with_for_update())


def lock_reservations(session: Session, reservation_ids: Iterable[int]) -> None:
    """Lock what closing these reservations will change, in the global lock order: their
    positions, then their days' pick-load rows."""
    ids = sorted(set(reservation_ids))
    if not ids or not _locks_rows(session):
        return
    rows = session.execute(select(Reservation.node_id, Reservation.sku_id, Reservation.created_at)
                           .where(Reservation.id.in_(ids))).all()
    lock_positions(session, [(n, k) for n, k, _ in rows])
    lock_pick_days(session, [(n, utc_day(at)) for n, _, at in rows])


# ---------------------------------------------------------------- core primitive


def _change(
    session: Session,
    key: StockKey,
    kind: EventKind,
    d_on_hand: int,
    d_reserved: int,
    guard: ColumnElement[bool] | None,
    *,
    reference: str | None = None,
    event_id: str | None = None,
    reservation_id: int | None = None,
    occurred_at: dt.datetime | None = None,
) -> None:
    """Apply one guarded change to a position and append its event, or raise and write nothing."""
    where = and_(SP.node_id == key.node_id, SP.sku_id == key.sku_id)
    if guard is not None:
        where = and_(where, guard)
    if d_on_hand > 0:
        where = and_(where, SP.on_hand <= MAX_ON_HAND - d_on_hand)
    res = session.execute(
        update(SP)
        .where(where)
        .values(on_hand=SP.on_hand + d_on_hand, reserved=SP.reserved + d_reserved,
                updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        _raise_shortage(session, key, kind, d_on_hand, d_reserved)
    session.execute(
        insert(StockEvent).values(
            occurred_at=occurred_at or utcnow(), recorded_at=utcnow(), node_id=key.node_id,
            sku_id=key.sku_id, kind=kind, delta_on_hand=d_on_hand, delta_reserved=d_reserved,
            reference=reference, event_id=event_id, reservation_id=reservation_id,
        )
    )


def _raise_shortage(session: Session, key: StockKey, kind: EventKind, d_on: int, d_res: int):  # type: ignore[no-untyped-def]
    row = session.execute(
        select(SP.on_hand, SP.reserved, SP.safety_stock).where(
            SP.node_id == key.node_id, SP.sku_id == key.sku_id)
    ).first()
    on_hand, reserved, safety = row if row else (0, 0, 0)
    if d_on > 0 and on_hand + d_on > MAX_ON_HAND:
        raise InvalidQuantity(f"{key.sku} at {key.node} would hold {on_hand + d_on} units, "
                              f"more than the ledger's limit of {MAX_ON_HAND}")
    if kind == EventKind.reserve:
        raise InsufficientStock(key.node, key.sku, d_res, max(on_hand - reserved - safety, 0))
    if kind == EventKind.transfer_out:
        raise InsufficientStock(key.node, key.sku, -d_on, max(on_hand - reserved, 0), "unreserved")
    raise InsufficientStock(key.node, key.sku, -d_on, on_hand, "on hand")


def _positive(qty: int, what: str) -> int:
    if not isinstance(qty, int) or isinstance(qty, bool) or qty <= 0:
        raise InvalidQuantity(f"expected {what} quantity > 0, got {qty!r}")
    if qty > MAX_QTY:
        raise InvalidQuantity(f"expected {what} quantity <= {MAX_QTY}, got {qty}")
    return qty


# ---------------------------------------------------------------- operations


def receive(session: Session, key: StockKey, qty: int, *, reference: str | None = None,
            event_id: str | None = None, occurred_at: dt.datetime | None = None) -> None:
    """Goods received at a node: +on_hand."""
    _positive(qty, "receipt")
    ensure_positions(session, [key])
    _change(session, key, EventKind.receipt, qty, 0, None, reference=reference,
            event_id=event_id, occurred_at=occurred_at)


def sell(session: Session, key: StockKey, qty: int, *, reference: str | None = None,
         event_id: str | None = None, occurred_at: dt.datetime | None = None) -> None:
    """A POS sale to a walk-in shopper: -on_hand (never below zero)."""
    _positive(qty, "sale")
    _change(session, key, EventKind.sale, -qty, 0, SP.on_hand >= qty, reference=reference,
            event_id=event_id, occurred_at=occurred_at)


def adjust(session: Session, key: StockKey, delta: int, *, reference: str | None = None,
           event_id: str | None = None, occurred_at: dt.datetime | None = None) -> None:
    """A count correction, damage or shrink: +/- on_hand (never below zero)."""
    if not isinstance(delta, int) or isinstance(delta, bool) or delta == 0:
        raise InvalidQuantity(f"expected a nonzero integer adjustment, got {delta!r}")
    if abs(delta) > MAX_QTY:
        raise InvalidQuantity(f"expected |adjustment| <= {MAX_QTY}, got {delta}")
    ensure_positions(session, [key])
    _change(session, key, EventKind.adjustment, delta, 0, SP.on_hand + delta >= 0,
            reference=reference, event_id=event_id, occurred_at=occurred_at)


def reserve(session: Session, key: StockKey, qty: int, *, reference: str | None = None,
            order_line_id: int | None = None, method: str | None = None) -> int:
    """Set ATP aside for an order line; return the reservation id or raise InsufficientStock."""
    _positive(qty, "reservation")
    return reserve_many(session, [(key, qty)], reference=reference, order_line_ids=[order_line_id],
                        methods=[method])[0]


def reserve_many(
    session: Session,
    items: Sequence[tuple[StockKey, int]],
    *,
    reference: str | None = None,
    order_line_ids: Sequence[int | None] | None = None,
    methods: Sequence[str | None] | None = None,
) -> list[int]:
    """Reserve every item or raise InsufficientStock (the caller's transaction then rolls back).

    Positions are updated in (node, SKU) order so two orders touching the same rows lock
    them in the same order and cannot deadlock on PostgreSQL.
    """
    n = len(items)
    line_ids = list(order_line_ids) if order_line_ids is not None else [None] * n
    meths = list(methods) if methods is not None else [None] * n
    for key, qty in items:
        _positive(qty, f"reservation of {key.sku} at {key.node}")
    order = sorted(range(n), key=lambda i: (items[i][0].node_id, items[i][0].sku_id))
    ids: list[int] = [0] * n
    for i in order:
        key, qty = items[i]
        rid = session.execute(
            insert(Reservation).values(
                node_id=key.node_id, sku_id=key.sku_id, qty=qty, status=ReservationStatus.open,
                order_line_id=line_ids[i], reference=reference, method=meths[i],
                created_at=utcnow(),
            ).returning(Reservation.id)
        ).scalar_one()
        _change(session, key, EventKind.reserve, 0, qty,
                SP.on_hand - SP.reserved - SP.safety_stock >= qty,
                reference=reference, reservation_id=rid)
        ids[i] = rid
    per_node: dict[int, int] = {}
    for key, qty in items:
        per_node[key.node_id] = per_node.get(key.node_id, 0) + qty
    count_picks(session, per_node)
    return ids


def _close_reservation(session: Session, reservation_id: int, status: ReservationStatus,
                       kind: EventKind, reference: str | None) -> None:
    row = session.execute(
        update(Reservation)
        .where(Reservation.id == reservation_id, Reservation.status == ReservationStatus.open)
        .values(status=status, closed_at=utcnow())
        .returning(Reservation.node_id, Reservation.sku_id, Reservation.qty,
                   Reservation.created_at)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        current = session.get(Reservation, reservation_id)
        if current is None:
            raise UnknownReference(f"no reservation {reservation_id}")
        raise InvalidState(f"reservation {reservation_id} is {current.status.value}, not open")
    node_id, sku_id, qty, created_at = row
    key = StockKey(node_id, sku_id, session.scalar(select(Node.code).where(Node.id == node_id)),
                   session.scalar(select(Sku.code).where(Sku.id == sku_id)))
    # A count or a walk-in sale may have taken reserved units off the shelf: shipping more
    # than is on hand must fail (the line is then re-routed), not drive on_hand negative.
    d_on, guard = (-qty, SP.on_hand >= qty) if kind == EventKind.ship else (0, None)
    _change(session, key, kind, d_on, -qty, guard, reference=reference,
            reservation_id=reservation_id)
    if status == ReservationStatus.released:  # never picked: that day's labour is free again
        count_picks(session, {node_id: -qty}, utc_day(created_at))


def release(session: Session, reservation_id: int, *, reference: str | None = None) -> None:
    """Cancel an open reservation: its units return to ATP."""
    _close_reservation(session, reservation_id, ReservationStatus.released, EventKind.release,
                       reference)


def ship(session: Session, reservation_id: int, *, reference: str | None = None) -> None:
    """Reserved units leave the node (shipped, or collected by the customer)."""
    _close_reservation(session, reservation_id, ReservationStatus.consumed, EventKind.ship,
                       reference)


def transfer(session: Session, src: StockKey, dst: StockKey, qty: int, *,
             reference: str | None = None) -> None:
    """Move unreserved units from one node to another (both legs in this transaction)."""
    _positive(qty, "transfer")
    if src.sku_id != dst.sku_id:
        raise InvalidQuantity("a transfer moves one SKU: source and destination SKUs differ")
    if src.node_id == dst.node_id:
        raise InvalidQuantity(f"a transfer needs two nodes, got {src.node} twice")
    _change(session, src, EventKind.transfer_out, -qty, 0, SP.on_hand - SP.reserved >= qty,
            reference=reference)
    ensure_positions(session, [dst])
    _change(session, dst, EventKind.transfer_in, qty, 0, None, reference=reference)


def set_safety_stock(session: Session, key: StockKey, qty: int) -> None:
    """Set the store-protection buffer held back from online ATP."""
    if not isinstance(qty, int) or qty < 0:
        raise InvalidQuantity(f"expected safety_stock >= 0, got {qty!r}")
    ensure_positions(session, [key])
    session.execute(
        update(SP).where(SP.node_id == key.node_id, SP.sku_id == key.sku_id)
        .values(safety_stock=qty, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------- batch feed


def apply_feed(session: Session, events: Sequence[FeedEvent]) -> tuple[int, int]:
    """Apply POS sales, receipts and adjustments in event-time order; return (applied, dupes).

    Idempotent per `event_id`: events already in the ledger are skipped. The event ids are
    claimed first (inserted with ON CONFLICT DO NOTHING): a concurrent call carrying the
    same id waits on the unique index until the first commits and then skips it, so a
    duplicate is recognised before any stock guard runs. Events of one (node, SKU) are
    netted into one guarded UPDATE whose guard is the lowest running balance, so a feed of
    thousands costs one statement per position, and a sale that would take on_hand below
    zero at its moment in time fails the whole batch (the caller's transaction rolls back,
    claimed ids included).
    """
    ids = [e.event_id for e in events if e.event_id is not None]
    if len(ids) != len(set(ids)):
        dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise InvalidQuantity(f"event ids repeat within the batch: {', '.join(dup)}")
    for e in events:
        if e.kind not in FEED_KINDS:
            raise InvalidQuantity(f"a feed carries receipt, sale or adjustment, not {e.kind.value}")
        if e.qty == 0 or (e.kind != EventKind.adjustment and e.qty < 0):
            raise InvalidQuantity(f"expected {e.kind.value} quantity > 0, got {e.qty}")
        if abs(e.qty) > MAX_QTY:
            raise InvalidQuantity(f"expected |{e.kind.value} quantity| <= {MAX_QTY}, got {e.qty}")
    # One total order (the same for every call carrying these events): concurrent feeds
    # that share event ids claim them in the same order.
    ordered = sorted(events, key=lambda e: (e.occurred_at, e.key.node_id, e.key.sku_id,
                                            e.event_id or ""))
    now = utcnow()

    def row(e: FeedEvent) -> dict[str, object]:
        return {"occurred_at": e.occurred_at, "recorded_at": now, "node_id": e.key.node_id,
                "sku_id": e.key.sku_id, "kind": e.kind, "delta_on_hand": e.delta,
                "delta_reserved": 0, "reference": e.reference, "event_id": e.event_id}

    claimed: set[str] = set()
    with_ids = [e for e in ordered if e.event_id is not None]
    for chunk in range(0, len(with_ids), 500):
        part = with_ids[chunk:chunk + 500]
        stmt = (_insert_ignore(session)(StockEvent).values([row(e) for e in part])
                .on_conflict_do_nothing(index_elements=["event_id"])
                .returning(StockEvent.event_id))
        claimed.update(session.scalars(stmt))
    todo = [e for e in ordered if e.event_id is None or e.event_id in claimed]
    by_key: dict[StockKey, list[FeedEvent]] = {}
    for e in todo:
        by_key.setdefault(e.key, []).append(e)
    ensure_positions(session, by_key.keys())
    for key in sorted(by_key, key=lambda k: (k.node_id, k.sku_id)):
        running, low, high = 0, 0, 0
        for e in by_key[key]:
            running += e.delta
            low, high = min(low, running), max(high, running)
        res = session.execute(
            update(SP)
            .where(SP.node_id == key.node_id, SP.sku_id == key.sku_id, SP.on_hand + low >= 0,
                   SP.on_hand <= MAX_ON_HAND - high)
            .values(on_hand=SP.on_hand + running, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if res.rowcount != 1:
            on_hand = session.scalar(select(SP.on_hand).where(
                SP.node_id == key.node_id, SP.sku_id == key.sku_id)) or 0
            if on_hand + high > MAX_ON_HAND:
                raise InvalidQuantity(f"{key.sku} at {key.node} would hold {on_hand + high} "
                                      f"units, more than the ledger's limit of {MAX_ON_HAND}")
            raise InsufficientStock(key.node, key.sku, -low, on_hand, "on hand")
    rest = [row(e) for e in todo if e.event_id is None]
    if rest:
        session.execute(insert(StockEvent), rest)
    return len(todo), len(events) - len(todo)


# ---------------------------------------------------------------- order lines


def split_reservation(session: Session, reservation_id: int,
                      parts: Sequence[tuple[int | None, int]]) -> list[int]:
    """Share one open reservation among order lines: [(order_line_id, qty)] summing to its qty.

    No stock moves (the position's `reserved` and the events are unchanged): the first part
    keeps the reservation's id, the others become open reservations of their own, so each
    line can later be shipped, released or re-routed on its own. Returns the ids in order.
    """
    res = session.get(Reservation, reservation_id, populate_existing=True, with_for_update=True)
    if res is None:
        raise UnknownReference(f"no reservation {reservation_id}")
    if res.status != ReservationStatus.open:
        raise InvalidState(f"reservation {reservation_id} is {res.status.value}, not open")
    if not parts or any(q <= 0 for _, q in parts) or sum(q for _, q in parts) != res.qty:
        raise InvalidQuantity(f"parts {[q for _, q in parts]} do not split {res.qty} units")
    (first_line, first_qty), rest = parts[0], parts[1:]
    res.qty, res.order_line_id = first_qty, first_line
    session.flush()
    ids = [res.id]
    for line_id, qty in rest:
        ids.append(session.execute(insert(Reservation).values(
            node_id=res.node_id, sku_id=res.sku_id, qty=qty, status=ReservationStatus.open,
            order_line_id=line_id, reference=res.reference, method=res.method,
            created_at=res.created_at).returning(Reservation.id)).scalar_one())
    return ids


# ---------------------------------------------------------------- batch holds (raw cursor)


def _chunked(rows: Sequence[Sequence[Any]], width: int) -> list[Sequence[Sequence[Any]]]:
    per = max(1, 30_000 // max(width, 1))  # under SQLite's 32,766 parameters per statement
    return [rows[i:i + per] for i in range(0, len(rows), per)]


def hold_orders(cur: RawCursor, orders: Sequence[Sequence[tuple[int, int, int, str, str]]],
                at: Any) -> tuple[list[int], dict[int, InsufficientStock]]:
    """Reserve the units of every order the stock covers, in the caller's transaction.

    `orders[i]` lists (node id, SKU id, qty, node code, SKU code) holds. The positions they
    touch are read and locked in (node, SKU) order (the global lock order); the orders are
    admitted in their order while the ATP lasts, each all or nothing; one guarded UPDATE
    reserves the units of all admitted orders (the guard re-checks every row under its
    lock: a stale read can never oversell). Returns (admitted indices, refused index ->
    InsufficientStock). The caller writes the reserve events (`record_reserve_events`).
    """
    need: list[dict[tuple[int, int], int]] = []
    names: dict[tuple[int, int], tuple[str, str]] = {}
    for holds in orders:
        per: dict[tuple[int, int], int] = {}
        for node_id, sku_id, qty, node, sku in holds:
            per[node_id, sku_id] = per.get((node_id, sku_id), 0) + qty
            names[node_id, sku_id] = (node, sku)
        need.append(per)
    pairs = sorted({p for per in need for p in per})
    left: dict[tuple[int, int], int] = {}
    lock = "" if cur.sqlite else " ORDER BY node_id, sku_id FOR UPDATE"
    for part in _chunked(pairs, 2):
        left.update(((n, s), a) for n, s, a in cur.execute(
            "SELECT node_id, sku_id, on_hand - reserved - safety_stock FROM stock_positions "
            f"WHERE (node_id, sku_id) IN (VALUES {', '.join(['(?, ?)'] * len(part))}){lock}",
            [v for p in part for v in p]).fetchall())
    admitted: list[int] = []
    refused: dict[int, InsufficientStock] = {}
    for i, per in enumerate(need):
        short = next(((p, q) for p, q in sorted(per.items()) if left.get(p, 0) < q), None)
        if short is None:
            for p, q in per.items():
                left[p] -= q
            admitted.append(i)
        else:
            p, q = short
            refused[i] = InsufficientStock(*names[p], q, max(left.get(p, 0), 0))
    total: dict[tuple[int, int], int] = {}
    for i in admitted:
        for p, q in need[i].items():
            total[p] = total.get(p, 0) + q
    rows = [(n, s, q) for (n, s), q in sorted(total.items())]
    done = 0
    cast = "(?, ?, ?)" if cur.sqlite else f"({', '.join(['CAST(? AS INTEGER)'] * 3)})"
    for part in _chunked(rows, 3):
        done += cur.execute(
            "UPDATE stock_positions SET reserved = reserved + v.q, updated_at = ? "
            "FROM (SELECT column1 AS n, column2 AS s, column3 AS q FROM (VALUES "
            f"{', '.join([cast] * len(part))}) AS t) AS v "
            "WHERE stock_positions.node_id = v.n AND stock_positions.sku_id = v.s AND "
            "stock_positions.on_hand - stock_positions.reserved - "
            "stock_positions.safety_stock >= v.q",
            [at, *(x for r in part for x in r)]).rowcount
    if done != len(rows):  # a row moved under the lock: never expected; refuse all
        raise RuntimeError(f"stock changed under the batch's locks ({done} of {len(rows)})")
    return admitted, refused


def record_reserve_events(cur: RawCursor, rows: Sequence[tuple[int, int, int, str, int]],
                          at: Any) -> None:
    """The reserve events of held units: (node id, SKU id, qty, reference, reservation id)."""
    for part in _chunked(rows, 9):
        cur.execute(
            "INSERT INTO stock_events (occurred_at, recorded_at, node_id, sku_id, kind, "
            "delta_on_hand, delta_reserved, reference, reservation_id) VALUES "
            + ", ".join(["(?, ?, ?, ?, 'reserve', 0, ?, ?, ?)"] * len(part)),
            [v for n, s, q, ref, rid in part for v in (at, at, n, s, q, ref, rid)])


# ---------------------------------------------------------------- bulk writes


def open_stock(conn: Connection, position_columns: Sequence[str],
               positions: Sequence[Sequence[Any]], event_columns: Sequence[str],
               events: Sequence[Sequence[Any]]) -> None:
    """Opening stock of a new network: positions and their receipt events, one statement
    each (values already bound for the driver on SQLite; see data.demo_write)."""
    for table, model, columns, rows in (("stock_positions", SP, position_columns, positions),
                                        ("stock_events", StockEvent, event_columns, events)):
        if not rows:
            continue
        if conn.dialect.name == "sqlite":
            marks = ", ".join("?" * len(columns))
            conn.exec_driver_sql(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", list(rows))
        else:
            conn.execute(insert(model), [dict(zip(columns, r, strict=True)) for r in rows])


def write_demand_rates(session: Session, node_ids: Sequence[int] | np.ndarray,
                       sku_ids: Sequence[int] | np.ndarray,
                       rates: Sequence[float] | np.ndarray) -> int:
    """Replace every position's daily demand rate: the given ones, NULL for the rest.

    Rates go through a temporary table and one UPDATE ... FROM (SQLite >= 3.33 and
    PostgreSQL), not one UPDATE per position. Returns the positions updated.
    """
    node = np.asarray(node_ids, dtype=np.int64)
    sku = np.asarray(sku_ids, dtype=np.int64)
    rate = np.asarray(rates, dtype=np.float64)
    if not len(node) == len(sku) == len(rate):
        raise ValueError("expected node_ids, sku_ids and rates of one length")
    conn = session.connection()
    conn.execute(text("CREATE TEMPORARY TABLE IF NOT EXISTS tmp_demand_rates "
                      "(node_id INTEGER NOT NULL, sku_id INTEGER NOT NULL, "
                      "rate FLOAT NOT NULL, PRIMARY KEY (node_id, sku_id))"))
    conn.execute(text("DELETE FROM tmp_demand_rates"))
    ok = np.isfinite(rate)
    rows = list(zip(node[ok].tolist(), sku[ok].tolist(), rate[ok].tolist(), strict=True))
    chunk = 50_000
    for lo in range(0, len(rows), chunk):
        conn.exec_driver_sql("INSERT INTO tmp_demand_rates (node_id, sku_id, rate) VALUES "
                             + ("(%s, %s, %s)" if conn.dialect.name != "sqlite"
                                else "(?, ?, ?)"), rows[lo:lo + chunk])
    n = conn.execute(text(
        "UPDATE stock_positions SET demand_rate = t.rate FROM tmp_demand_rates t "
        "WHERE stock_positions.node_id = t.node_id AND stock_positions.sku_id = t.sku_id"
    )).rowcount
    conn.execute(text(
        "UPDATE stock_positions SET demand_rate = NULL WHERE demand_rate IS NOT NULL AND "
        "NOT EXISTS (SELECT 1 FROM tmp_demand_rates t WHERE t.node_id = stock_positions.node_id"
        " AND t.sku_id = stock_positions.sku_id)"))
    conn.execute(text("DELETE FROM tmp_demand_rates"))
    return int(n or 0)

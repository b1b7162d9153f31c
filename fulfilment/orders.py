"""The order life cycle on the database: transitions, re-routing on reject, pickup expiry.

Every transition runs in one transaction: the line's state moves with a conditional UPDATE
(`... WHERE state = :from`), so two callers racing on one line cannot both win, and the
stock moves through data.ledger only (ship, release, adjust, reserve via the allocation
core). An illegal transition raises InvalidState (409) and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from allocation.errors import (
    InvalidQuantity,
    InvalidState,
    NotFound,
    NotPermitted,
    PricesUnavailable,
    UnknownReference,
)
from allocation.ledger import Excluding
from allocation.lifecycle import (
    FINAL,
    SOURCED,
    STOCK_LOST,
    Action,
    LineState,
    check,
    order_status,
    sourced_state,
)
from allocation.network import Order as CoreOrder
from allocation.network import OrderLine as CoreLine
from allocation.service import allocate, reserve_items
from data import ledger
from data.db import Database
from data.models import (
    Node,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    Reservation,
    ReservationStatus,
    Sku,
    utcnow,
)
from data.stock_ledger import DbLedger
from fulfilment.actors import Principal
from fulfilment.allocations import AllocationContext

log = logging.getLogger("omni.orders")
PICKUP_ACTIONS = frozenset({Action.ready_for_pickup, Action.collected})


@dataclass
class _Line:
    row: OrderLine
    sku: str
    held: list[tuple[Reservation, str]]  # open reservations with their node codes

    @property
    def nodes(self) -> set[int]:
        return {r.node_id for r, _ in self.held}


# ---------------------------------------------------------------- reading


def _aware(t: dt.datetime) -> dt.datetime:
    # SQLite returns naive datetimes for timezone-aware columns: they were written in UTC.
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


def _order(s: Session, order_id: str, *, lock: bool = False) -> Order:
    q = select(Order).where(Order.external_id == order_id)
    if lock:
        q = q.with_for_update()
    row = s.scalar(q)
    if row is None:
        raise NotFound(f"no order {order_id!r}")
    return row


def _code(s: Session, node_id: int | None) -> str | None:
    return None if node_id is None else s.scalar(select(Node.code).where(Node.id == node_id))


def _reservations(s: Session, line_ids: Sequence[int]) -> list[tuple[Reservation, str]]:
    return list(s.execute(
        select(Reservation, Node.code).join(Node, Node.id == Reservation.node_id)
        .where(Reservation.order_line_id.in_(line_ids)).order_by(Reservation.id)).all())


def _visible(principal: Principal, order: Order, res: list[tuple[Reservation, str]]) -> bool:
    if not principal.store_bound:
        return True
    return order.pickup_node_id == principal.node_id or any(
        r.node_id == principal.node_id for r, _ in res)


def get_order(s: Session, order_id: str, principal: Principal) -> dict[str, Any]:
    """The order with its lines, reservations and history (a store key: its own orders only)."""
    order = _order(s, order_id)
    lines = s.execute(select(OrderLine, Sku.code).join(Sku, Sku.id == OrderLine.sku_id)
                      .where(OrderLine.order_id == order.id).order_by(OrderLine.line_no)).all()
    res = _reservations(s, [ln.id for ln, _ in lines])
    if not _visible(principal, order, res):
        raise NotPermitted(f"order {order_id!r} does not touch store {principal.node}")
    by_line: dict[int, list[dict[str, Any]]] = {}
    for r, code in res:
        by_line.setdefault(r.order_line_id or 0, []).append(
            {"reservation_id": r.id, "node": code, "qty": r.qty, "method": r.method,
             "status": r.status.value})
    line_no = {ln.id: ln.line_no for ln, _ in lines}
    events = s.execute(select(OrderEvent, Node.code).outerjoin(Node, Node.id == OrderEvent.node_id)
                       .where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)).all()
    return {
        "order_id": order.external_id, "status": order.status.value, "method": order.method,
        "pickup_store": _code(s, order.pickup_node_id), "created_at": _aware(order.created_at),
        "lines": [{"line_no": ln.line_no, "sku": sku, "qty": ln.qty, "state": ln.state,
                   "allocations": by_line.get(ln.id, [])} for ln, sku in lines],
        "history": [{"at": _aware(e.occurred_at), "action": e.action,
                     "line_no": line_no.get(e.order_line_id) if e.order_line_id else None,
                     "from_state": e.from_state, "to_state": e.to_state, "node": code,
                     "actor": e.actor, "detail": e.detail} for e, code in events],
    }


def _ready_times(s: Session, line_ids: Sequence[int]) -> dict[int, dt.datetime]:
    if not line_ids:
        return {}
    return dict(s.execute(
        select(OrderEvent.order_line_id, func.max(OrderEvent.occurred_at))
        .where(OrderEvent.order_line_id.in_(line_ids),
               OrderEvent.action == Action.ready_for_pickup.value)
        .group_by(OrderEvent.order_line_id)).all())




def node_tasks(s: Session, code: str, principal: Principal, expiry_days: float) -> dict[str, Any]:
    """What a node must do now: accept, pick, ship, stage pickups, hand pickups over."""
    node_id = s.scalar(select(Node.id).where(Node.code == code))
    if node_id is None:
        raise NotFound(f"no node {code!r}")
    if principal.store_bound and principal.node_id != node_id:
        raise NotPermitted(f"a key of {principal.node} cannot see the tasks of {code}")
    held = s.execute(
        select(Order.external_id, Order.method, OrderLine.line_no, OrderLine.state, Sku.code,
               func.sum(Reservation.qty), func.min(Reservation.method))
        .join(OrderLine, OrderLine.id == Reservation.order_line_id)
        .join(Order, Order.id == OrderLine.order_id).join(Sku, Sku.id == Reservation.sku_id)
        .where(Reservation.node_id == node_id, Reservation.status == ReservationStatus.open)
        .group_by(Order.external_id, Order.method, OrderLine.line_no, OrderLine.state, Sku.code)
        .order_by(Order.external_id, OrderLine.line_no)).all()
    out: dict[str, Any] = {"node": code, "to_accept": [], "to_pick": [], "to_ship": [],
                           "to_stage": [], "pickups_waiting": []}
    for oid, method, no, state, sku, qty, how in held:
        row = {"order_id": oid, "line_no": no, "sku": sku, "qty": int(qty), "method": how,
               "state": state}
        if state in SOURCED:
            out["to_accept"].append(row)
        elif state == LineState.accepted:
            out["to_pick"].append(row)
        elif state == LineState.picked:
            out["to_ship" if method == "ship" else "to_stage"].append(row)
    waiting = s.execute(
        select(Order.external_id, OrderLine.id, OrderLine.line_no, OrderLine.qty, Sku.code)
        .join(Order, Order.id == OrderLine.order_id).join(Sku, Sku.id == OrderLine.sku_id)
        .where(Order.pickup_node_id == node_id, OrderLine.state == LineState.ready_for_pickup)
        .order_by(Order.external_id, OrderLine.line_no)).all()
    ready = _ready_times(s, [w[1] for w in waiting])
    for oid, lid, no, qty, sku in waiting:
        at = _aware(ready[lid]) if lid in ready else None
        out["pickups_waiting"].append({
            "order_id": oid, "line_no": no, "sku": sku, "qty": qty, "method": "pickup",
            "state": LineState.ready_for_pickup.value, "ready_at": at,
            "expires_at": at + dt.timedelta(days=expiry_days) if at else None})
    return out


# ---------------------------------------------------------------- transitions




def _event(s: Session, order: Order, line: OrderLine | None, action: str, frm: str | None,
           to: str, *, node_id: int | None = None, actor: str | None = None,
           detail: dict[str, Any] | None = None, at: dt.datetime | None = None) -> None:
    s.add(OrderEvent(order_id=order.id, order_line_id=line.id if line else None, action=action,
                     from_state=frm, to_state=to, node_id=node_id, actor=actor,
                     detail=detail or None, occurred_at=at or utcnow()))


def record_allocated(s: Session, order: Order, lines: Sequence[OrderLine]) -> None:
    """History: the allocation that opened the order (one event per line)."""
    for ln in lines:
        _event(s, order, ln, "allocate", None, ln.state, actor="allocation")


def _move(s: Session, line: OrderLine, frm: str, to: str, label: str) -> None:
    res = s.execute(update(OrderLine).where(OrderLine.id == line.id, OrderLine.state == frm)
                    .values(state=to).execution_options(synchronize_session=False))
    if res.rowcount != 1:
        raise InvalidState(f"{label} changed state under us; read the order and retry")
    line.state = to


def _targets(s: Session, order: Order, line_no: int | None, action: Action,
             principal: Principal) -> list[_Line]:
    q = (select(OrderLine, Sku.code).join(Sku, Sku.id == OrderLine.sku_id)
         .where(OrderLine.order_id == order.id).order_by(OrderLine.line_no))
    if line_no is not None:
        q = q.where(OrderLine.line_no == line_no)
    rows = s.execute(q).all()
    if not rows:
        raise NotFound(f"order {order.external_id!r} has no line {line_no}")
    held: dict[int, list[tuple[Reservation, str]]] = {}
    ever: dict[int, set[int]] = {}  # line -> every node that held it, open or closed
    for r, code in _reservations(s, [ln.id for ln, _ in rows]):
        ever.setdefault(r.order_line_id or 0, set()).add(r.node_id)
        if r.status == ReservationStatus.open:
            held.setdefault(r.order_line_id or 0, []).append((r, code))
    lines = [_Line(ln, sku, held.get(ln.id, [])) for ln, sku in rows]
    if principal.store_bound:
        def mine(x: _Line) -> bool:
            at_pickup = action in PICKUP_ACTIONS and order.pickup_node_id == principal.node_id
            return at_pickup or principal.node_id in x.nodes

        def was_mine(x: _Line) -> bool:
            return principal.node_id in ever.get(x.row.id, ())

        if line_no is not None and not mine(lines[0]):
            if was_mine(lines[0]):  # the key may act here; the line moved on meanwhile
                raise InvalidState(f"line {line_no} of {order.external_id!r} is no longer held "
                                   f"at {principal.node} (it is {lines[0].row.state}: shipped, "
                                   "cancelled or re-routed meanwhile); read the order",
                                   state=lines[0].row.state)
            raise NotPermitted(f"line {line_no} of {order.external_id!r} is not held at "
                            f"{principal.node}")
        touched = [x for x in lines if was_mine(x)]
        lines = [x for x in lines if mine(x)]
        if not lines:
            if touched:
                raise InvalidState(f"order {order.external_id!r} has no line held at "
                                   f"{principal.node} any more (shipped, cancelled or "
                                   "re-routed meanwhile); read the order")
            raise NotPermitted(f"order {order.external_id!r} has no line at {principal.node}")
    if line_no is None:
        # A whole-order action applies to the lines still open (and sourced, unless cancel).
        lines = [x for x in lines if x.row.state not in FINAL and
                 (action == Action.cancel or x.row.state != LineState.unfilled)]
        if not lines:
            raise InvalidState(f"order {order.external_id!r} has no line that can be "
                               f"{action.value}", action=action.value)
    return lines


def _reject_node(s: Session, x: _Line, body: dict[str, Any], principal: Principal,
                 label: str) -> int:
    if principal.store_bound:
        assert principal.node_id is not None
        return principal.node_id
    if body.get("node"):
        node_id = s.scalar(select(Node.id).where(Node.code == body["node"]))
        if node_id is None:
            raise UnknownReference(f"unknown node {body['node']!r}", nodes=[body["node"]])
        if node_id not in x.nodes:
            raise InvalidState(f"{label} holds no stock at {body['node']}")
        return node_id
    if len(x.nodes) != 1:
        raise InvalidQuantity(f"{label} is held at {len(x.nodes)} nodes: name the rejecting "
                              "node in body.node")
    return next(iter(x.nodes))


def _reroute(s: Session, ctx: AllocationContext, order: Order, x: _Line, node_id: int,
             reason: str, label: str) -> tuple[str, dict[str, Any]]:
    """Release the rejecting node's part, book lost stock, source it elsewhere at once."""
    mine = [(r, code) for r, code in x.held if r.node_id == node_id]
    qty = sum(r.qty for r, _ in mine)
    node_code = mine[0][1]
    for r, _ in mine:
        ledger.release(s, r.id, reference=f"reject {order.external_id}")
    lost = 0
    if reason in STOCK_LOST:
        key = ledger.resolve(s, [(node_code, x.sku)])[(node_code, x.sku)]
        pos = ledger.position(s, key)
        lost = min(qty, pos.on_hand if pos else 0)
        if lost:
            ledger.adjust(s, key, -lost, reference=f"reject {order.external_id}: {reason}")
    network, capacity = ctx.network()
    pickup = _code(s, order.pickup_node_id)
    core = CoreOrder(id=order.external_id, lines=(CoreLine(x.sku, qty),),
                     lat=float(order.ship_lat or 0.0), lon=float(order.ship_lon or 0.0),
                     method=order.method, pickup_node=pickup,
                     zip3=int(order.ship_zip[:3]) if order.ship_zip else None)
    hidden = [network.index[node_code]] if node_code in network.index else []
    led = Excluding(DbLedger(ctx.db, network.codes, session=s, daily_capacity=capacity), hidden)
    # The order's own policy (forecast_aware with the service's prices when it has them).
    policy = str((order.decision or {}).get("policy") or "optimal")
    try:
        opportunity = ctx.opportunity(policy)
    except PricesUnavailable:  # no prices (yet): the exact per-order optimum
        policy, opportunity = "optimal", None
    decision = allocate(core, network, led, policy, cost=ctx.cost, zone_matrix=ctx.zones(),
                        opportunity=opportunity, now=utcnow())
    method_of = {(a.node, ld.sku): a.method for ld in decision.lines for a in ld.allocations}
    for rid, it in zip(decision.reservations, reserve_items(decision), strict=True):
        s.execute(update(Reservation).where(Reservation.id == rid)
                  .values(method=method_of[(it.node, it.sku)], order_line_id=x.row.id)
                  .execution_options(synchronize_session=False))
    still = sum(r.qty for r, _ in x.held if r.node_id != node_id)
    new = sum(a.qty for ld in decision.lines for a in ld.allocations)
    to = sourced_state(still + new, x.row.qty)
    detail = {"reason": reason, "released": qty, "stock_lost": lost,
              "rerouted_to": [a.to_dict() for ld in decision.lines for a in ld.allocations],
              "unfilled": qty - new}
    log.info("rerouted %s: %d of %s from %s to %s", label, qty, x.sku, node_code,
             detail["rerouted_to"])
    return to, detail


def _apply(s: Session, ctx: AllocationContext | None, order: Order, x: _Line, action: Action,
           body: dict[str, Any], principal: Principal, now: dt.datetime | None) -> None:
    label = f"line {x.row.line_no} of {order.external_id!r}"
    frm = x.row.state
    to = check(frm, action, order.method, label)
    actor = principal.name
    node_id = principal.node_id if principal.store_bound else None
    detail: dict[str, Any] = {k: v for k, v in body.items()
                              if k in {"carrier", "tracking", "note"} and v}
    ref = f"{action.value} {order.external_id}"
    if action == Action.reject:
        if ctx is None:
            raise AssertionError("re-routing needs the allocation context")
        node_id = _reject_node(s, x, body, principal, label)
        to_state, detail2 = _reroute(s, ctx, order, x, node_id, body["reason"], label)
        detail.update(detail2)
        to = LineState(to_state)
    elif action in {Action.shipped, Action.collected}:
        if not x.held:
            raise InvalidState(f"{label} holds no stock to hand over")
        for r, _ in x.held:
            ledger.ship(s, r.id, reference=ref)
        detail["units"] = sum(r.qty for r, _ in x.held)
    elif action in {Action.cancel, Action.expire}:
        for r, _ in x.held:
            ledger.release(s, r.id, reference=ref)
        detail["released"] = sum(r.qty for r, _ in x.held)
    assert to is not None
    _move(s, x.row, frm, to.value, label)
    _event(s, order, x.row, action.value, frm, to.value, node_id=node_id, actor=actor,
           detail=detail, at=now)


def _refresh_status(s: Session, order: Order) -> None:
    states = s.scalars(select(OrderLine.state).where(OrderLine.order_id == order.id)).all()
    order.status = OrderStatus(order_status(states))


def _validate(action: Action, body: dict[str, Any]) -> None:
    if action == Action.reject and not body.get("reason"):
        raise InvalidQuantity("a reject needs reason: not_found, damaged or no_capacity")
    if action == Action.shipped and not (body.get("carrier") and body.get("tracking")):
        raise InvalidQuantity("shipped needs carrier and tracking")
    if action != Action.reject and (body.get("reason") or body.get("node")):
        raise InvalidQuantity(f"reason and node belong to reject, not {action.value}")


def transition(db: Database, ctx: AllocationContext, order_id: str, line_no: int | None,
               action: Action, body: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """Apply `action` to one line or the order's open lines, all or nothing; the order, moved."""
    _validate(action, body)

    def work(s: Session) -> int:
        order = _order(s, order_id, lock=not db.sqlite)
        targets = _targets(s, order, line_no, action, principal)
        _lock_stock(s, targets)
        for x in targets:
            _apply(s, ctx, order, x, action, body, principal, None)
        _refresh_status(s, order)
        return len(targets)

    moved = db.run(work, what=f"{action.value} {order_id}")
    with db.read_session() as s:
        return {**get_order(s, order_id, principal), "moved": moved}


def _lock_stock(s: Session, targets: Sequence[_Line]) -> None:
    """Lock every position and pick-load row the lines' reservations touch, in the ledger's
    global order, before the first change (lines come in line order, not that order)."""
    ledger.lock_reservations(s, [r.id for x in targets for r, _ in x.held])


# ---------------------------------------------------------------- pickup expiry


def sweep_pickups(db: Database, expiry_days: float,
                  now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Expire pickups waiting longer than `expiry_days`: release their stock; what expired."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(days=expiry_days)
    with db.read_session() as s:
        waiting = s.execute(
            select(Order.external_id, OrderLine.line_no, OrderLine.id)
            .join(Order, Order.id == OrderLine.order_id)
            .where(OrderLine.state == LineState.ready_for_pickup)).all()
        ready = _ready_times(s, [w[2] for w in waiting])
    due = [(oid, no) for oid, no, lid in waiting
           if lid in ready and _aware(ready[lid]) <= cutoff]
    sweeper = Principal("pickup sweeper", None, frozenset({"admin"}))
    done = []
    for oid, no in due:
        try:
            def work(s: Session, oid: str = oid, no: int = no) -> None:
                order = _order(s, oid, lock=not db.sqlite)
                targets = _targets(s, order, no, Action.expire, sweeper)
                _lock_stock(s, targets)
                for x in targets:
                    _apply(s, None, order, x, Action.expire, {}, sweeper, now)
                _refresh_status(s, order)

            db.run(work, what=f"expire {oid}")
            done.append({"order_id": oid, "line_no": no})
        except InvalidState:  # collected or cancelled meanwhile
            continue
    if done:
        log.info("expired %d pickup line(s)", len(done))
    return done

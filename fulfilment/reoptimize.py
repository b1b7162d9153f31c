"""Backlog re-optimisation on the database: read the backlog, re-plan it, move reservations.

The backlog is every order whose open lines are all allocated or accepted and fully held
(an order with a line picked, staged or short is left alone: its parcel is on its way, and
moving the rest would price a parcel that ships anyway). The pure core
(allocation.reoptimize) returns moves in apply order; each move runs in a SAVEPOINT of its
batch's transaction, re-checks under the order's lock that every line is still allocated
or accepted and holds exactly what was planned, then releases and reserves through
data.ledger only. A move whose state or stock changed meanwhile is skipped, never forced.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from allocation.errors import InsufficientStock, InvalidState
from allocation.lifecycle import FINAL, LineState
from allocation.network import Network
from allocation.network import Order as CoreOrder
from allocation.network import OrderLine as CoreLine
from allocation.reoptimize import BacklogOrder, Move, ReoptParams, ReoptReport, reoptimize
from data import ledger
from data.db import Database
from data.models import (
    Node,
    Order,
    OrderEvent,
    OrderLine,
    Reservation,
    ReservationStatus,
    Sku,
    StockPosition,
    utcnow,
)
from data.stock_ledger import DbLedger
from fulfilment.allocations import AllocationContext

__all__ = ["ApplyReport", "apply_moves", "load_backlog", "reoptimize_backlog"]

log = logging.getLogger("omni.reoptimize")
MOVABLE = frozenset({LineState.allocated.value, LineState.accepted.value})
_SETTLED = MOVABLE | {s.value for s in FINAL}


@dataclass
class ApplyReport:
    """How many planned moves reached the ledger and what they saved."""

    applied: int = 0
    skipped: int = 0  # state or stock changed since planning
    saving: float = 0.0


def load_backlog(s: Session, network: Network) -> tuple[list[BacklogOrder], list[str],
                                                         np.ndarray]:
    """The movable orders (oldest first), their SKUs and the free ATP (nodes, SKUs)."""
    has_movable = select(OrderLine.order_id).where(OrderLine.state.in_(MOVABLE))
    lines = s.execute(
        select(OrderLine.id, OrderLine.order_id, OrderLine.state, OrderLine.qty, Sku.code)
        .join(Sku, Sku.id == OrderLine.sku_id)
        .where(OrderLine.order_id.in_(has_movable))
        .order_by(OrderLine.order_id, OrderLine.line_no)).all()
    held: dict[int, list[tuple[str, int]]] = {}
    for line_id, code, qty in s.execute(
            select(Reservation.order_line_id, Node.code, Reservation.qty)
            .join(Node, Node.id == Reservation.node_id)
            .join(OrderLine, OrderLine.id == Reservation.order_line_id)
            .where(Reservation.status == ReservationStatus.open,
                   OrderLine.state.in_(MOVABLE))
            .order_by(Reservation.id)).all():
        held.setdefault(int(line_id), []).append((code, int(qty)))
    by_order: dict[int, list[Any]] = {}
    for row in lines:
        by_order.setdefault(int(row.order_id), []).append(row)
    heads = {o.id: o for o in s.scalars(select(Order).where(Order.id.in_(has_movable)))}
    pickup = dict(s.execute(select(Node.id, Node.code)).all())
    out: list[BacklogOrder] = []
    for oid in sorted(by_order):
        rows, head = by_order[oid], heads.get(oid)
        if head is None or any(r.state not in _SETTLED for r in rows):
            continue
        mine = [r for r in rows if r.state in MOVABLE]
        hold = [tuple(held.get(int(r.id), ())) for r in mine]
        if any(sum(q for _, q in h) != r.qty or any(n not in network.index for n, _ in h)
               for r, h in zip(mine, hold, strict=True)):
            continue  # short or held at an inactive node: not this job's to fix
        core = CoreOrder(
            id=head.external_id, lines=tuple(CoreLine(r.code, int(r.qty)) for r in mine),
            lat=float(head.ship_lat or 0.0), lon=float(head.ship_lon or 0.0),
            method=head.method, pickup_node=pickup.get(head.pickup_node_id),
            zip3=int(head.ship_zip[:3]) if head.ship_zip else None)
        out.append(BacklogOrder(core, tuple(hold), tuple(int(r.id) for r in mine)))
    skus = sorted({ln.sku for b in out for ln in b.order.lines})
    free = np.zeros((len(network), len(skus)), np.int64)
    col = {c: j for j, c in enumerate(skus)}
    sp = StockPosition
    for k in range(0, len(skus), 500):
        for node, sku, atp in s.execute(
                select(Node.code, Sku.code, sp.on_hand - sp.reserved - sp.safety_stock)
                .join(Node, Node.id == sp.node_id).join(Sku, Sku.id == sp.sku_id)
                .where(Sku.code.in_(skus[k:k + 500]))).all():
            i = network.index.get(node)
            if i is not None and atp > 0:
                free[i, col[sku]] = atp
    return out, skus, free


def _apply_one(s: Session, m: Move, lock: bool) -> None:
    """Release and re-reserve one order's lines, or raise (the caller rolls back to a savepoint)."""
    q = select(Order).where(Order.external_id == m.order_id)
    order = s.scalar(q.with_for_update() if lock else q)
    if order is None:
        raise InvalidState(f"order {m.order_id!r} is gone")
    states = dict(s.execute(select(OrderLine.id, OrderLine.state)
                            .where(OrderLine.order_id == order.id)).all())
    # Re-checked inside the transaction: a line picked since planning is never moved.
    if any(st not in _SETTLED for st in states.values()) or any(
            states.get(r) not in MOVABLE for r in m.line_refs):
        raise InvalidState(f"order {m.order_id!r} changed state since planning")
    rows = s.execute(
        select(Reservation.id, Reservation.order_line_id, Node.code, Reservation.qty)
        .join(Node, Node.id == Reservation.node_id)
        .where(Reservation.order_line_id.in_(m.line_refs),
               Reservation.status == ReservationStatus.open)).all()
    now_held = {r: sorted((c, int(q)) for _, lid, c, q in rows if lid == r) for r in m.line_refs}
    if any(now_held[r] != sorted(b) for r, b in zip(m.line_refs, m.before, strict=True)):
        raise InvalidState(f"order {m.order_id!r} holds other stock than planned")
    ref = f"reoptimize {m.order_id}"
    for rid, *_ in rows:
        ledger.release(s, int(rid), reference=ref)
    items = [(r, sku, node, qty, how) for r, sku, line in zip(m.line_refs, m.skus, m.after,
                                                              strict=True)
             for node, qty, how in line]
    keys = ledger.resolve(s, [(node, sku) for _, sku, node, _, _ in items])
    ledger.reserve_many(s, [(keys[(node, sku)], qty) for _, sku, node, qty, _ in items],
                        reference=m.order_id, order_line_ids=[r for r, *_ in items],
                        methods=[how for *_, how in items])
    at = utcnow()
    for r, before, after in zip(m.line_refs, m.before, m.after_held(), strict=True):
        if sorted(before) == sorted(after):
            continue
        frm = states[r]
        # An accepted line moved to another node must be accepted again there.
        res = s.execute(update(OrderLine).where(OrderLine.id == r, OrderLine.state == frm)
                        .values(state=LineState.allocated.value)
                        .execution_options(synchronize_session=False))
        if res.rowcount != 1:
            raise InvalidState(f"order {m.order_id!r} changed state under us")
        s.add(OrderEvent(order_id=order.id, order_line_id=r, action="reoptimize",
                         from_state=frm, to_state=LineState.allocated.value, actor="reoptimize",
                         detail={"from": [list(x) for x in before],
                                 "to": [list(x) for x in after],
                                 "order_saving": round(m.saving, 6)},
                         occurred_at=at))


def apply_moves(db: Database, moves: Sequence[Move], *, batch_size: int = 200) -> ApplyReport:
    """Apply moves in order, one transaction per batch and a savepoint per move."""
    if batch_size < 1:
        raise ValueError(f"expected batch_size >= 1, got {batch_size}")
    out = ApplyReport()
    for k in range(0, len(moves), batch_size):
        with db.transaction() as s:
            for m in moves[k:k + batch_size]:
                try:
                    with s.begin_nested():
                        _apply_one(s, m, lock=not db.sqlite)
                except (InsufficientStock, InvalidState) as exc:
                    log.info("re-optimisation skipped %s: %s", m.order_id, exc)
                    out.skipped += 1
                    continue
                out.applied += 1
                out.saving += m.saving
    return out


def reoptimize_backlog(db: Database, ctx: AllocationContext, params: ReoptParams | None = None,
                       *, apply: bool = True, batch_size: int = 200
                       ) -> tuple[ReoptReport, ApplyReport]:
    """Plan moves for the whole backlog and (unless `apply` is False) commit them."""
    network, capacity = ctx.network()
    with db.read_session() as s:
        backlog, skus, free = load_backlog(s, network)
    left = DbLedger(db, network.codes, daily_capacity=capacity).capacity_left()
    report = reoptimize(network, skus, free, backlog, ctx.cost, params=params, capacity=left,
                        zone_matrix=ctx.zones(), now=utcnow())
    done = apply_moves(db, report.moves, batch_size=batch_size) if apply else ApplyReport()
    log.info("re-optimised %d orders: %d moves planned, %d applied, saving %.2f",
             report.orders, len(report.moves), done.applied, done.saving)
    return report, done

"""The database implementation of the allocation core's ledger interface.

It satisfies `allocation.ledger.Ledger` structurally (data/ sits below allocation/ and does
not import it). Bound to a session, it works inside the caller's transaction and wraps
each reservation attempt in a SAVEPOINT, so a lost race rolls back only that attempt and
the allocation core can re-decide on fresh stock within the same order transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Protocol

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from data import ledger
from data.availability import SkuIds, sku_ids
from data.db import Database, RawCursor
from data.models import Node, NodeKind, NodePickDay, StockPosition, utcnow


class _Item(Protocol):
    node: str
    sku: str
    qty: int
    reference: str | None


def node_records(session: Session) -> list[dict[str, Any]]:
    """Active nodes as plain records (id order) for building the allocation network."""
    rows = session.scalars(select(Node).where(Node.active.is_(True)).order_by(Node.id)).all()
    return [{
        "code": n.code, "db_id": n.id, "kind": n.kind.value, "lat": n.lat, "lon": n.lon,
        "zip": n.zip,
        "zip3": int(n.zip[:3]) if n.zip[:3].isdigit() else None,
        "ship_from_store": n.kind == NodeKind.store and n.ship_from_store,
        "click_and_collect": n.kind == NodeKind.store and n.click_and_collect,
        "pick_capacity": n.pick_capacity_per_day, "pick_cost": n.pick_cost_per_unit,
    } for n in rows]


class DbLedger:
    """ATP reads and all-or-nothing reservations against the database."""

    def __init__(self, db: Database, node_codes: Sequence[str], session: Session | None = None,
                 daily_capacity: np.ndarray | None = None):
        self.db = db
        self.node_codes = list(node_codes)
        self._row = {c: i for i, c in enumerate(self.node_codes)}
        self._session = session
        self._capacity = daily_capacity
        self._load: list[tuple[int, int]] | None = None

    def capacity_left(self) -> np.ndarray | None:
        """Units each node can still pick today: daily capacity minus today's reservations."""
        if self._capacity is None:
            return None
        session = self._session or self.db.read_session()
        try:
            rows = session.execute(
                select(Node.code, NodePickDay.units)
                .join(Node, Node.id == NodePickDay.node_id)
                .where(NodePickDay.day == utcnow().date())
            ).all()
        finally:
            if self._session is None:
                session.close()
        left = np.array(self._capacity, dtype=np.int64, copy=True)
        for code, used in rows:
            i = self._row.get(code)
            if i is not None:
                left[i] = max(int(left[i]) - int(used), 0)
        return left

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        if self._session is None:
            with self.db.transaction() as s:
                yield s
        else:
            with self._session.begin_nested():
                yield self._session

    def atp(self, skus: Sequence[str]) -> np.ndarray:
        """ATP (>= 0) of the SKUs at every node, shape (len(node_codes), len(skus))."""
        out = np.zeros((len(self.node_codes), len(skus)), dtype=np.int64)
        col = {s: j for j, s in enumerate(skus)}
        sp = StockPosition
        session = self._session or self.db.read_session()
        try:
            ids = sku_ids(session, list(dict.fromkeys(skus)))
            code_of = {v: k for k, v in ids.items()}
            rows = session.execute(
                select(Node.code, sp.sku_id, sp.on_hand - sp.reserved - sp.safety_stock)
                .join(Node, Node.id == sp.node_id)
                .where(sp.sku_id.in_(ids.values()))
            ).all()
        finally:
            if self._session is None:
                session.close()
        for node, sku_id, atp in rows:
            i = self._row.get(node)
            if i is not None and atp > 0:
                out[i, col[code_of[sku_id]]] = atp
        return out

    def reserve(self, items: Sequence[_Item], *, reference: str,
                order_line_ids: Sequence[int | None] | None = None,
                methods: Sequence[str | None] | None = None) -> list[int]:
        """Reserve every item or raise InsufficientStock with nothing written."""
        with self._tx() as s:
            keys = ledger.resolve(s, [(it.node, it.sku) for it in items])
            return ledger.reserve_many(
                s, [(keys[(it.node, it.sku)], it.qty) for it in items],
                reference=reference, order_line_ids=order_line_ids, methods=methods)

    def commit(self, hold: Any) -> list[int]:
        """Hold a decided order's items (allocation.ledger.OrderHold), all or nothing."""
        if not hold.items:
            return []
        return self.reserve(hold.items, reference=hold.order.id)

    def release(self, reservation_ids: Sequence[int]) -> None:
        """Release open reservations."""
        with self._tx() as s:
            for rid in reservation_ids:
                ledger.release(s, rid)


class SnapshotLedger:
    """ATP and pick capacity read outside any write transaction, for the service's decision.

    Each read is one DB-API statement on the read engine (on SQLite it never waits for the
    writer). The service writes its decisions through the batch writer
    (`data.order_writer`), which re-checks every hold on the locked row, so a stale read
    can cost a retry but never an oversell.
    """

    def __init__(self, db: Database, node_codes: Sequence[str], node_ids: np.ndarray,
                 skus: SkuIds, daily_capacity: np.ndarray | None = None,
                 cursor: RawCursor | None = None,
                 node_rows: Mapping[int, int] | None = None) -> None:
        self.db = db
        self._cur = cursor  # read inside this transaction (the writer thread's) instead
        self.node_codes = list(node_codes)
        # node id -> row; the caller's map when it keeps one per network (it must agree).
        self._row = (node_rows if node_rows is not None
                     else {int(i): k for k, i in enumerate(node_ids)})
        self._skus = skus
        self._capacity = daily_capacity
        self._load: list[tuple[int, int]] | None = None

    def atp(self, skus: Sequence[str]) -> np.ndarray:
        """ATP (>= 0) of the SKUs at every node, shape (len(node_codes), len(skus))."""
        ids = self._skus.get(skus)
        col = {ids[s]: j for j, s in enumerate(skus)}
        sql = ("SELECT node_id, sku_id, on_hand - reserved - safety_stock FROM stock_positions "
               f"WHERE sku_id IN ({', '.join('?' * len(col))})")
        with self._reader() as cur:
            if self._capacity is None:
                rows = cur.execute(sql, list(col)).fetchall()
                self._load = None
            else:
                # The pick load of the same moment, for capacity_left(), in the same
                # statement (one round trip): its rows carry no SKU.
                both = cur.execute(f"{sql} UNION ALL SELECT node_id, NULL, units FROM "
                                   "node_pick_days WHERE day = ?",
                                   [*col, cur.day(utcnow().date())]).fetchall()
                rows = [r for r in both if r[1] is not None]
                self._load = [(n, u) for n, k, u in both if k is None]
        out = np.zeros((len(self.node_codes), len(skus)), dtype=np.int64)
        row = self._row
        for node_id, sku_id, atp in rows:
            i = row.get(node_id)
            if i is not None and atp > 0:
                out[i, col[sku_id]] = atp
        return out

    def _reader(self) -> AbstractContextManager[RawCursor]:
        return nullcontext(self._cur) if self._cur is not None else self.db.raw_read()

    def capacity_left(self) -> np.ndarray | None:
        """Units each node can still pick today: daily capacity minus today's pick load."""
        if self._capacity is None:
            return None
        load = self._load
        if load is None:  # no atp() read yet
            with self._reader() as cur:
                load = cur.execute("SELECT node_id, units FROM node_pick_days WHERE day = ?",
                                   [cur.day(utcnow().date())]).fetchall()
        self._load = None
        left = np.array(self._capacity, dtype=np.int64, copy=True)
        for node_id, used in load:
            i = self._row.get(node_id)
            if i is not None:
                left[i] = max(int(left[i]) - int(used), 0)
        return left

    def reserve(self, items: Sequence[_Item], *, reference: str) -> list[int]:
        """Not here: the service writes holds with the order (data.order_writer)."""
        raise NotImplementedError("SnapshotLedger reads only; orders go through the batch "
                                  "writer (data.order_writer)")

    def release(self, reservation_ids: Sequence[int]) -> None:
        """Not here: releases go through data.ledger in a write transaction."""
        raise NotImplementedError("SnapshotLedger reads only")

"""Read paths: available-to-promise per node and network-wide, shelf stock for walk-ins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from allocation.errors import UnknownReference
from allocation.geo import haversine_miles
from data.db import Database, RawCursor
from data.models import Node, NodeKind, Sku, StockPosition


@dataclass(frozen=True, slots=True)
class NodeStock:
    """Stock of one SKU at one node as the channels see it."""

    node: str
    kind: str
    sku: str
    on_hand: int
    reserved: int
    safety_stock: int
    atp: int  # online: on_hand - reserved - safety_stock, never below zero
    shelf: int  # walk-in: on_hand - reserved, never below zero
    ships: bool  # may supply ship-to-home lines
    pickup: bool  # offers click-and-collect
    distance_miles: float | None = None


def sku_ids(session: Session, codes: Sequence[str]) -> dict[str, int]:
    """Map SKU codes to ids, raising UnknownReference for any unknown code."""
    found = dict(session.execute(select(Sku.code, Sku.id).where(Sku.code.in_(codes))).all())
    missing = [c for c in codes if c not in found]
    if missing:
        raise UnknownReference(f"unknown SKU(s): {', '.join(missing[:10])}", skus=missing)
    return found


def node_stock(
    session: Session,
    skus: Sequence[str],
    *,
    node: str | None = None,
    near: tuple[float, float] | None = None,
    radius_miles: float | None = None,
) -> list[NodeStock]:
    """Stock rows for the SKUs at every active node, one node, or nodes within a radius."""
    ids = sku_ids(session, list(dict.fromkeys(skus)))
    stmt = (
        select(Node.code, Node.kind, Node.ship_from_store, Node.click_and_collect, Node.lat,
               Node.lon, Sku.code, StockPosition.on_hand, StockPosition.reserved,
               StockPosition.safety_stock)
        .join(StockPosition, StockPosition.node_id == Node.id)
        .join(Sku, Sku.id == StockPosition.sku_id)
        .where(StockPosition.sku_id.in_(ids.values()), Node.active.is_(True))
        .order_by(Node.code, Sku.code)
    )
    if node is not None:
        node_id = session.scalar(select(Node.id).where(Node.code == node))
        if node_id is None:
            raise UnknownReference(f"unknown node: {node}", nodes=[node])
        stmt = stmt.where(Node.id == node_id)
    rows = session.execute(stmt).all()
    dist: np.ndarray | None = None
    if near is not None and rows:
        lat = np.fromiter((r[4] for r in rows), float, len(rows))
        lon = np.fromiter((r[5] for r in rows), float, len(rows))
        dist = haversine_miles(near[0], near[1], lat, lon)
    out = []
    for i, (code, kind, sfs, cc, _lat, _lon, sku, on_hand, reserved, safety) in enumerate(rows):
        d = None if dist is None else float(dist[i])
        if d is not None and radius_miles is not None and d > radius_miles:
            continue
        is_store = kind == NodeKind.store
        out.append(NodeStock(
            node=code, kind=kind.value, sku=sku, on_hand=on_hand, reserved=reserved,
            safety_stock=safety, atp=max(on_hand - reserved - safety, 0),
            shelf=max(on_hand - reserved, 0) if is_store else 0,
            ships=(not is_store) or bool(sfs), pickup=is_store and bool(cc), distance_miles=d,
        ))
    return out


def non_negative(expr):  # type: ignore[no-untyped-def]
    """SQL max(expr, 0), portable: GREATEST is not SQLite, two-argument MAX is not PostgreSQL."""
    return case((expr > 0, expr), else_=0)


def atp_sql():  # type: ignore[no-untyped-def]
    """SQL expression of a position's online ATP: on_hand - reserved - safety, never below 0."""
    sp = StockPosition
    return non_negative(sp.on_hand - sp.reserved - sp.safety_stock)


def network_atp(session: Session, skus: Sequence[str]) -> dict[str, dict[str, int]]:
    """Network-wide ATP per SKU in one aggregate query: ship (DCs + ship-from-store), pickup."""
    ids = sku_ids(session, list(dict.fromkeys(skus)))
    sp = StockPosition
    atp = atp_sql()
    ships = or_(Node.kind == NodeKind.dc, Node.ship_from_store.is_(True))
    pickup = and_(Node.kind == NodeKind.store, Node.click_and_collect.is_(True))
    rows = session.execute(
        select(sp.sku_id, func.sum(case((ships, atp), else_=0)),
               func.sum(case((pickup, atp), else_=0)), func.sum(sp.on_hand))
        .join(Node, Node.id == sp.node_id)
        .where(sp.sku_id.in_(ids.values()), Node.active.is_(True))
        .group_by(sp.sku_id)
    ).all()
    by_id = {r[0]: r[1:] for r in rows}
    return {code: dict(zip(("ship", "pickup", "on_hand"),
                           (int(v or 0) for v in by_id.get(i, (0, 0, 0))), strict=True))
            for code, i in ids.items()}


class SkuIds:
    """SKU code -> id, remembered once seen (SKUs are never renumbered); misses are asked."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._ids: dict[str, int] = {}

    def get(self, codes: Sequence[str]) -> dict[str, int]:
        """Ids of the codes (first-seen order), or UnknownReference naming the unknown ones."""
        known = self._ids
        missing = [c for c in dict.fromkeys(codes) if c not in known]
        if missing:
            for chunk in range(0, len(missing), 500):
                part = missing[chunk:chunk + 500]
                known.update(self.db.read_rows(
                    f"SELECT code, id FROM skus WHERE code IN ({', '.join('?' * len(part))})",
                    part))
            unknown = [c for c in missing if c not in known]
            if unknown:
                raise UnknownReference(f"unknown SKU(s): {', '.join(unknown[:10])}",
                                       skus=unknown)
        return {c: known[c] for c in dict.fromkeys(codes)}


_NETWORK_SQL = (
    "SELECT sp.sku_id, "
    "SUM(CASE WHEN (n.kind = 'dc' OR n.ship_from_store = ?) AND {atp} > 0 THEN {atp} ELSE 0 END), "
    "SUM(CASE WHEN n.kind = 'store' AND n.click_and_collect = ? AND {atp} > 0 THEN {atp} "
    "ELSE 0 END), SUM(sp.on_hand) "
    "FROM stock_positions sp JOIN nodes n ON n.id = sp.node_id "
    "WHERE sp.sku_id IN ({ids}) AND n.active = ? GROUP BY sp.sku_id"
)
_ATP = "(sp.on_hand - sp.reserved - sp.safety_stock)"


def network_atp_fast(db: Database, skus: SkuIds, codes: Sequence[str],
                     cur: RawCursor | None = None) -> dict[str, dict[str, int]]:
    """`network_atp` for the product-page read path: cached SKU ids, one DB-API statement
    (on `cur` when given, else on a connection of its own)."""
    ids = skus.get(codes)
    sql = _NETWORK_SQL.format(atp=_ATP, ids=", ".join("?" * len(ids)))
    params = [True, True, *ids.values(), True]
    rows = (db.read_rows(sql, params) if cur is None else
            cur.execute(sql, params).fetchall())
    by_id = {r[0]: r[1:] for r in rows}
    return {code: dict(zip(("ship", "pickup", "on_hand"),
                           (int(v or 0) for v in by_id.get(i, (0, 0, 0))), strict=True))
            for code, i in ids.items()}


def positions_fast(db: Database, sku_ids: Sequence[int], node_id: int | None = None,
                   cur: RawCursor | None = None) -> list[tuple[int, int, int, int, int]]:
    """(node_id, sku_id, on_hand, reserved, safety_stock) of the SKUs, at one node or all
    (on `cur` when given)."""
    sql = ("SELECT node_id, sku_id, on_hand, reserved, safety_stock FROM stock_positions "
           f"WHERE sku_id IN ({', '.join('?' * len(sku_ids))})")
    params = list(sku_ids)
    if node_id is not None:
        sql += " AND node_id = ?"
        params.append(node_id)
    return db.read_rows(sql, params) if cur is None else cur.execute(sql, params).fetchall()

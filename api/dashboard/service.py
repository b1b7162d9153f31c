"""Queries behind the dashboard: every figure comes from the database, computed server-side."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import case, func, select, text
from sqlalchemy.orm import Session

from data.availability import atp_sql
from data.models import (
    Node,
    NodeKind,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    Reservation,
    ReservationStatus,
    Sku,
    StockPosition,
)
from data.stock_cover import ATP_SQL, COVER_SQL, RISK_CODES, RISK_NAMES, RISK_SQL

SP = StockPosition
COUNT_CAP = 10_000
SORTS = {"node", "sku", "category", "on_hand", "reserved", "safety_stock", "atp",
         "days_of_cover"}
RISKS = tuple(RISK_CODES)
# Sort keys of one stock row, each the leading key of an index after the risk class.
NUMERIC = {"on_hand": "on_hand", "reserved": "reserved", "safety_stock": "safety_stock",
           "atp": ATP_SQL, "days_of_cover": COVER_SQL}
COLUMNS = (f"n.code, s.code, s.name, s.category, sp.on_hand, sp.reserved, sp.safety_stock, "
           f"{ATP_SQL}, {COVER_SQL}, {RISK_SQL}")
IN_CATEGORY = "+sp.sku_id IN (SELECT id FROM skus WHERE category = :category)"


@dataclass(frozen=True)
class StockQuery:
    """Filters, sort and page of the stock table."""

    node: str | None = None
    category: str | None = None
    risk: str | None = None
    sort: str = "days_of_cover"
    descending: bool = False
    page: int = 1
    per_page: int = 50

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise ValueError(f"expected sort in {sorted(SORTS)}, got {self.sort!r}")
        if self.risk is not None and self.risk not in RISKS:
            raise ValueError(f"expected risk in {RISKS}, got {self.risk!r}")
        if self.page < 1 or not 1 <= self.per_page <= 500:
            raise ValueError("expected page >= 1 and 1 <= per_page <= 500")


def stock_page(session: Session, q: StockQuery) -> dict[str, Any]:
    """One page of (node, SKU) stock with ATP, days of cover and a risk flag, plus the total.

    Order: the sort key, then node and SKU ids in the same direction (node code then SKU
    id for the node sort, SKU code then node id for the SKU sort, category then SKU id then
    node id for the category sort); positions without a forecast (no days of cover) come
    last either way. Every query walks an index of migration 0005 in that order and stops
    at the page, so a page costs about its offset, not the size of the network.
    """
    params: dict[str, Any] = {"limit": q.per_page, "offset": (q.page - 1) * q.per_page}
    node_id = None
    if q.node:
        node_id = session.scalar(select(Node.id).where(Node.code == q.node))
        if node_id is None:
            return _result([], 0, q)
        params["node_id"] = node_id
    if q.category:
        params["category"] = q.category
    if q.risk:
        params["risk"] = RISK_CODES[q.risk]
    direction = "DESC" if q.descending else "ASC"
    if node_id is not None:
        rows = _one_node(session, q, params, direction)
    elif q.sort in NUMERIC:
        rows = _by_key(session, q, params, direction)
    else:
        rows = _by_code(session, q, params, direction)
    return _result(rows, _capped_count(session, q, params), q)


def _where(q: StockQuery, *, risk_indexed: bool) -> list[str]:
    """Filters on stock_positions sp (category by SKU id, so the index order survives)."""
    where = []
    if q.node:
        where.append("sp.node_id = :node_id")
    if q.category:
        where.append(IN_CATEGORY)
    if q.risk:
        # `+ 0` hides the risk indexes where another index should drive (one node's rows).
        where.append(f"{RISK_SQL} = :risk" if risk_indexed else f"{RISK_SQL} + 0 = :risk")
    return where


def _and(where: list[str]) -> str:
    return (" WHERE " + " AND ".join(where)) if where else ""


def _one_node(session: Session, q: StockQuery, params: dict[str, Any],
              direction: str) -> list[Any]:
    """A node's few thousand positions: read by primary key, sorted in memory."""
    key = {"node": f"n.code {direction}, sp.sku_id", "sku": f"s.code {direction}, sp.node_id",
           "category": f"s.category {direction}, sp.sku_id"}.get(q.sort)
    if key is None:
        expr = NUMERIC[q.sort]
        key = f"{expr} IS NULL, {expr} + 0 {direction}, sp.sku_id"
    sql = (f"SELECT {COLUMNS} FROM stock_positions sp JOIN nodes n ON n.id = sp.node_id "
           f"JOIN skus s ON s.id = sp.sku_id{_and(_where(q, risk_indexed=False))} "
           f"ORDER BY {key} {direction} LIMIT :limit OFFSET :offset")
    return list(session.execute(text(sql), params).all())


def _by_key(session: Session, q: StockQuery, params: dict[str, Any],
            direction: str) -> list[Any]:
    """Network-wide sort by a stock figure: merge the ordered index range of each risk class."""
    expr = NUMERIC[q.sort]
    if q.sort != "days_of_cover":
        return _merge(session, q, params, expr, direction, None)
    # `>= 0` makes "has days of cover" a range of the cover index.
    rows = _merge(session, q, params, expr, direction, f"{expr} >= 0")
    if len(rows) == q.per_page:
        return rows
    # Past the positions with days of cover: those without a forecast, by node and SKU.
    with_cover = params["offset"] + len(rows)
    if not rows:  # how many have cover, up to the offset: a range of each class's index
        with_cover = sum(_count(session, replace(q, risk=name), {**params, "risk": code},
                                f"{expr} >= 0", params["offset"])
                         for name, code in RISK_CODES.items() if q.risk in (None, name))
    rest = dict(params, limit=q.per_page - len(rows),
                offset=max(0, params["offset"] - with_cover))
    return rows + _merge(session, q, rest, None, direction, f"{expr} IS NULL")


def _merge(session: Session, q: StockQuery, params: dict[str, Any], expr: str | None,
           direction: str, extra: str | None) -> list[Any]:
    classes = [params["risk"]] if q.risk else sorted(RISK_CODES.values())
    keys = (["k"] if expr else []) + ["node_id", "sku_id"]
    arms = []
    for code in classes:
        where = [w for w in _where(q, risk_indexed=True) if ":risk" not in w]
        where.append(f"{RISK_SQL} = {int(code)}")
        if extra:
            where.append(extra)
        arms.append(f"SELECT sp.node_id AS node_id, sp.sku_id AS sku_id, "
                    f"{expr or 'NULL'} AS k FROM stock_positions sp{_and(where)}")
    order = ", ".join(f"{k} {direction}" for k in keys)
    if len(arms) > 1 and session.get_bind().dialect.name != "sqlite":
        # PostgreSQL merges no ordered index ranges of a flattened UNION ALL (the risk
        # class is no constant at that level): each class gets its own ordered LIMIT.
        arms = [f"({arm} ORDER BY {order} LIMIT :arm_limit)" for arm in arms]
        params = dict(params, arm_limit=params["offset"] + params["limit"])
    sql = (f"WITH page AS ({' UNION ALL '.join(arms)} ORDER BY {order} "
           f"LIMIT :limit OFFSET :offset) "
           f"SELECT {COLUMNS} FROM page JOIN stock_positions sp ON sp.node_id = page.node_id "
           f"AND sp.sku_id = page.sku_id JOIN nodes n ON n.id = sp.node_id "
           f"JOIN skus s ON s.id = sp.sku_id "
           f"ORDER BY {', '.join(f'page.{k} {direction}' for k in keys)}")
    return list(session.execute(text(sql), params).all())


def _by_code(session: Session, q: StockQuery, params: dict[str, Any],
             direction: str) -> list[Any]:
    """Network-wide sort by node, SKU or category: walk that table's index, then the stock's.

    CROSS JOIN fixes the join order on SQLite (PostgreSQL plans it as an inner join).
    """
    where = _where(q, risk_indexed=True)
    if q.sort == "node":
        joins = ("nodes n CROSS JOIN stock_positions sp CROSS JOIN skus s",
                 "sp.node_id = n.id AND s.id = sp.sku_id")
        order = f"n.code {direction}, sp.sku_id {direction}"
    else:
        joins = ("skus s CROSS JOIN stock_positions sp CROSS JOIN nodes n",
                 "sp.sku_id = s.id AND n.id = sp.node_id")
        if q.category:
            where.remove(IN_CATEGORY)
            # By SKU code: filter on the SKU row, not by the category index (its order).
            where.append("s.category = :category" if q.sort == "category"
                         else "s.category || '' = :category")
        order = (f"s.code {direction}, sp.node_id {direction}" if q.sort == "sku" else
                 f"s.category {direction}, s.id {direction}, sp.node_id {direction}")
    sql = (f"SELECT {COLUMNS} FROM {joins[0]}{_and([joins[1], *where])} "
           f"ORDER BY {order} LIMIT :limit OFFSET :offset")
    return list(session.execute(text(sql), params).all())


def _count(session: Session, q: StockQuery, params: dict[str, Any], extra: str | None,
           cap: int) -> int:
    """Matching positions, counted up to cap (a count stops at the cap, it never scans on)."""
    where = _where(q, risk_indexed=not q.node)
    if extra:
        where.append(extra)
    sql = (f"SELECT count(*) FROM (SELECT 1 FROM stock_positions sp{_and(where)} "
           f"LIMIT :cap) AS capped")
    binds = {k: params[k] for k in ("node_id", "category", "risk") if k in params}
    return int(session.scalar(text(sql), {**binds, "cap": cap}) or 0)


def _capped_count(session: Session, q: StockQuery, params: dict[str, Any]) -> int:
    # Count at most COUNT_CAP + 1 rows: an exact count of a network-wide filter scans
    # every position, and "10,000+ rows" tells a person as much as the exact number.
    return _count(session, q, params, None, COUNT_CAP + 1)


def _result(rows: list[Any], total: int, q: StockQuery) -> dict[str, Any]:
    items = [{"node": r[0], "sku": r[1], "name": r[2], "category": r[3], "on_hand": r[4],
              "reserved": r[5], "safety_stock": r[6], "atp": int(r[7]),
              "days_of_cover": None if r[8] is None else round(float(r[8]), 1),
              "risk": RISK_NAMES[int(r[9])]} for r in rows]
    return {"items": items, "total": min(total, COUNT_CAP), "more": total > COUNT_CAP,
            "page": q.page, "per_page": q.per_page}


def network_summary(session: Session) -> list[dict[str, Any]]:
    """Per node: kind, place, ATP units and value, share of SKUs out or low, open tasks, load."""
    atp = atp_sql()
    stock = (select(SP.node_id, func.sum(atp).label("atp_units"),
                    func.sum(atp * Sku.unit_price).label("atp_value"),
                    func.count().label("skus"),
                    func.sum(case((SP.on_hand <= 0, 1), else_=0)).label("out"),
                    func.sum(case((atp <= 0, 1), else_=0)).label("no_atp"))
             .join(Sku, Sku.id == SP.sku_id).group_by(SP.node_id).subquery())
    midnight = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    tasks = (select(Reservation.node_id,
                    func.count().label("open_tasks"),
                    func.sum(case((Reservation.created_at >= midnight, Reservation.qty),
                                  else_=0)).label("today_units"))
             .where(Reservation.status == ReservationStatus.open)
             .group_by(Reservation.node_id).subquery())
    rows = session.execute(
        select(Node.code, Node.name, Node.kind, Node.city, Node.state, Node.lat, Node.lon,
               Node.ship_from_store, Node.click_and_collect, Node.pick_capacity_per_day,
               stock.c.atp_units, stock.c.atp_value, stock.c.skus, stock.c.out, stock.c.no_atp,
               tasks.c.open_tasks, tasks.c.today_units)
        .outerjoin(stock, stock.c.node_id == Node.id)
        .outerjoin(tasks, tasks.c.node_id == Node.id)
        .where(Node.active.is_(True)).order_by(Node.kind, Node.code)
    ).all()
    out = []
    for r in rows:
        skus = int(r.skus or 0)
        short = (int(r.no_atp or 0) / skus) if skus else 0.0
        cap = r.pick_capacity_per_day
        out.append({
            "code": r.code, "name": r.name, "kind": r.kind.value, "city": r.city,
            "state": r.state, "lat": r.lat, "lon": r.lon, "ship_from_store": r.ship_from_store,
            "click_and_collect": r.click_and_collect, "atp_units": int(r.atp_units or 0),
            "atp_value": round(float(r.atp_value or 0.0), 2), "skus": skus,
            "out_of_stock": int(r.out or 0), "short_share": round(short, 4),
            "health": "red" if short > 0.25 else "amber" if short > 0.10 else "green",
            "open_tasks": int(r.open_tasks or 0),
            "capacity_use": None if not cap else round(int(r.today_units or 0) / cap, 4),
        })
    return out


def lifecycle_summary(session: Session, since: dt.datetime, expiry_days: int) -> dict[str, int]:
    """Rejections, re-routes, pickups waiting / expiring within a day / expired, from history."""
    ev = OrderEvent
    rejects = session.scalar(select(func.count()).select_from(ev).where(
        ev.action == "reject", ev.occurred_at >= since)) or 0
    rerouted = session.scalar(select(func.count()).select_from(ev).where(
        ev.action == "reject", ev.to_state != "unfilled", ev.occurred_at >= since)) or 0
    expired = session.scalar(select(func.count()).select_from(ev).where(
        ev.action == "expire", ev.occurred_at >= since)) or 0
    waiting = session.scalar(select(func.count()).select_from(OrderLine).where(
        OrderLine.state == "ready_for_pickup")) or 0
    soon = dt.datetime.now(dt.UTC) - dt.timedelta(days=max(expiry_days - 1, 0))
    expiring = session.scalar(
        select(func.count(func.distinct(ev.order_line_id)))
        .join(OrderLine, OrderLine.id == ev.order_line_id)
        .where(ev.action == "ready_for_pickup", ev.occurred_at <= soon,
               OrderLine.state == "ready_for_pickup")) or 0
    return {"Rejections": int(rejects), "Re-routed lines": int(rerouted),
            "Pickups ready, waiting": int(waiting), "Pickups expiring within a day": int(expiring),
            "Pickups expired": int(expired)}


def fulfilment_summary(session: Session, days: int = 30, expiry_days: int = 5) -> dict[str, Any]:
    """Method mix per day, parcels and cost per order, unfilled and pickups, from orders."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    orders = session.execute(select(Order.created_at, Order.status, Order.decision)
                             .where(Order.created_at >= since)
                             .order_by(Order.created_at)).all()
    by_day: dict[str, dict[str, float]] = {}
    n = parcels = 0
    cost = 0.0
    unfilled_orders = 0
    for created, status, decision in orders:
        if not decision:
            continue
        day = created.date().isoformat()
        d = by_day.setdefault(day, {"orders": 0, "ship_from_dc": 0, "ship_from_store": 0,
                                    "pickup_from_shelf": 0, "pickup_via_transfer": 0,
                                    "cost": 0.0, "parcels": 0})
        d["orders"] += 1
        for p in decision.get("parcels", []):
            d[p["method"]] = d.get(p["method"], 0) + p["units"]
            d["parcels"] += 1
        d["cost"] += decision["cost"]["total"]
        n += 1
        parcels += len(decision.get("parcels", []))
        cost += decision["cost"]["total"]
        unfilled_orders += status in (OrderStatus.open, OrderStatus.partially_allocated)
    pickups_waiting = session.scalar(
        select(func.count()).select_from(Reservation).where(
            Reservation.status == ReservationStatus.open,
            Reservation.method.in_(("pickup_from_shelf", "pickup_via_transfer")))) or 0
    return {
        "days": [{"day": k, **v} for k, v in sorted(by_day.items())],
        "orders": n, "parcels_per_order": round(parcels / n, 3) if n else None,
        "cost_per_order": round(cost / n, 2) if n else None,
        "orders_not_fully_filled": unfilled_orders, "pickups_waiting": int(pickups_waiting),
        "lifecycle": lifecycle_summary(session, since, expiry_days),
    }


def categories(session: Session) -> list[str]:
    """Every SKU category, for the stock filter."""
    return list(session.scalars(select(Sku.category).distinct().order_by(Sku.category)))


def node_codes(session: Session) -> list[str]:
    """Every node code, for the stock filter."""
    return list(session.scalars(select(Node.code).order_by(Node.kind != NodeKind.dc, Node.code)))

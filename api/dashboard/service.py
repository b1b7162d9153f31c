"""Queries behind the dashboard: every figure comes from the database, computed server-side."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from data.availability import atp_sql, non_negative
from data.models import (
    Forecast,
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

SP = StockPosition
LOW_COVER_DAYS = 7.0
COUNT_CAP = 10_000
SORTS = {"node", "sku", "category", "on_hand", "reserved", "safety_stock", "atp",
         "days_of_cover"}
RISKS = ("out", "low", "ok")


def _rates() -> Any:
    # Mean daily demand per (node, SKU) over the stored forecast horizon.
    return (select(Forecast.node_id, Forecast.sku_id, func.avg(Forecast.mean).label("rate"))
            .group_by(Forecast.node_id, Forecast.sku_id).subquery())


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
    """One page of (node, SKU) stock with ATP, days of cover and a risk flag, plus the total."""
    rates = _rates()
    atp = atp_sql()
    cover = case((rates.c.rate > 0, non_negative(SP.on_hand - SP.reserved) / rates.c.rate),
                 else_=None)
    risk = case((SP.on_hand <= 0, literal("out")),
                (or_(atp <= 0, and_(cover.is_not(None), cover < LOW_COVER_DAYS)), literal("low")),
                else_=literal("ok"))
    cols = {"node": Node.code, "sku": Sku.code, "category": Sku.category,
            "on_hand": SP.on_hand, "reserved": SP.reserved, "safety_stock": SP.safety_stock,
            "atp": atp, "days_of_cover": cover}
    stmt: Select = (select(Node.code, Sku.code, Sku.name, Sku.category, SP.on_hand, SP.reserved,
                           SP.safety_stock, atp.label("atp"), cover.label("cover"),
                           risk.label("risk"))
                    .join(Node, Node.id == SP.node_id).join(Sku, Sku.id == SP.sku_id)
                    .outerjoin(rates, and_(rates.c.node_id == SP.node_id,
                                           rates.c.sku_id == SP.sku_id)))
    if q.node:
        stmt = stmt.where(Node.code == q.node)
    if q.category:
        stmt = stmt.where(Sku.category == q.category)
    if q.risk:
        stmt = stmt.where(risk == q.risk)
    # Count at most COUNT_CAP rows: an exact count of a network-wide filter scans every
    # position, and "10,000+ rows" tells a person as much as the exact number.
    capped = stmt.order_by(None).with_only_columns(literal(1)).limit(COUNT_CAP + 1).subquery()
    total = session.scalar(select(func.count()).select_from(capped))
    key = cols[q.sort]
    order = key.desc() if q.descending else key.asc()
    # NULL days of cover (no forecast) sort last either way; ties break on node, SKU.
    stmt = stmt.order_by(key.is_(None), order, Node.code, Sku.code)
    rows = session.execute(stmt.limit(q.per_page).offset((q.page - 1) * q.per_page)).all()
    items = [{"node": r[0], "sku": r[1], "name": r[2], "category": r[3], "on_hand": r[4],
              "reserved": r[5], "safety_stock": r[6], "atp": int(r[7]),
              "days_of_cover": None if r[8] is None else round(float(r[8]), 1), "risk": r[9]}
             for r in rows]
    total = int(total or 0)
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

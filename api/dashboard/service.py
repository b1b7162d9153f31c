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
# Sort keys of one stock row, each the key of an index after (risk class, category).
NUMERIC = {"on_hand": "on_hand", "reserved": "reserved", "safety_stock": "safety_stock",
           "atp": ATP_SQL, "days_of_cover": COVER_SQL}
COLUMNS = (f"n.code, s.code, s.name, s.category, sp.on_hand, sp.reserved, sp.safety_stock, "
           f"{ATP_SQL}, {COVER_SQL}, {RISK_SQL}")


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
        # The pager stops where the count does: a page costs about its offset, and past
        # the first COUNT_CAP rows a narrower filter serves a person better.
        if (self.page - 1) * self.per_page >= COUNT_CAP:
            raise ValueError(f"pages start within the first {COUNT_CAP:,} rows: filter by "
                             f"node, category or risk to see others")


def stock_page(session: Session, q: StockQuery) -> dict[str, Any]:
    """One page of (node, SKU) stock with ATP, days of cover and a risk flag, plus the total.

    Order: the sort key, then node and SKU ids in the same direction (node code then SKU
    id for the node sort, SKU code then node id for the SKU sort, category then SKU id then
    node id for the category sort); positions without a forecast (no days of cover) come
    last either way. Every query walks indexes of migration 0006 in that order and stops at
    the page, and every filter is an index prefix (risk class, category, node), so a page
    costs about its offset, whatever the filters: never the size of the network.
    """
    params: dict[str, Any] = {"limit": q.per_page, "offset": (q.page - 1) * q.per_page}
    if session.get_bind().dialect.name == "postgresql":
        # Short index walks: compiling them (JIT, for plans the planner costs high because
        # it does not know they stop early) took longer than running them.
        session.execute(text("SET LOCAL jit = off"))
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
    elif q.sort == "node":
        rows = _by_node(session, q, params, direction)
    else:
        rows = _by_sku(session, q, params, direction)
    return _result(rows, _capped_count(session, q, params), q)


def _and(where: list[str]) -> str:
    return (" WHERE " + " AND ".join(where)) if where else ""


def _classes(q: StockQuery) -> list[int]:
    return [RISK_CODES[q.risk]] if q.risk else sorted(RISK_CODES.values())


def _categories(session: Session, q: StockQuery) -> list[str]:
    """The filter's category, or every category (read once per session)."""
    if q.category:
        return [q.category]
    if "omni_categories" not in session.info:
        session.info["omni_categories"] = categories(session)
    return session.info["omni_categories"]


def _one_node(session: Session, q: StockQuery, params: dict[str, Any],
              direction: str) -> list[Any]:
    """A node's few thousand positions: read by primary key, their keys sorted in memory,
    the page's rows joined after.

    `+ 0` and `|| ''` hide the risk and category indexes: the node's primary key range drives.
    """
    join, tie = "", "sku_id"
    if q.sort == "node":  # one node: by SKU id
        key = None
    elif q.sort in ("sku", "category"):
        key = f"s.{'code' if q.sort == 'sku' else 'category'}"
        join = " JOIN skus s ON s.id = sp.sku_id"
        tie = "node_id" if q.sort == "sku" else "sku_id"
    else:
        key = f"{NUMERIC[q.sort]} + 0"
    where = ["sp.node_id = :node_id"]
    if q.category:
        where.append("sp.category || '' = :category")
    if q.risk:
        where.append(f"{RISK_SQL} + 0 = :risk")

    def order(k: str | None, t: str) -> str:
        nulls = f"{k} IS NULL, " if q.sort in NUMERIC else ""  # no days of cover: last
        return f"{nulls}{k} {direction}, {t} {direction}" if k else f"{t} {direction}"

    sql = (f"WITH page AS (SELECT sp.node_id AS node_id, sp.sku_id AS sku_id, "
           f"{key or 'NULL'} AS k FROM stock_positions sp{join}{_and(where)} "
           f"ORDER BY {order(key, f'sp.{tie}')} LIMIT :limit OFFSET :offset) "
           f"SELECT {COLUMNS} FROM page JOIN stock_positions sp ON sp.node_id = page.node_id "
           f"AND sp.sku_id = page.sku_id JOIN nodes n ON n.id = sp.node_id "
           f"JOIN skus s ON s.id = sp.sku_id "
           f"ORDER BY {order('page.k' if key else None, f'page.{tie}')}")
    return list(session.execute(text(sql), params).all())


def _by_key(session: Session, q: StockQuery, params: dict[str, Any],
            direction: str) -> list[Any]:
    """Network-wide sort by a stock figure: merge the ordered index range of each
    (risk class, category)."""
    expr = NUMERIC[q.sort]
    if q.sort != "days_of_cover":
        return _merge(session, q, params, expr, direction, None)
    # `>= 0` makes "has days of cover" a range of the cover index.
    rows = _merge(session, q, params, expr, direction, f"{expr} >= 0")
    if len(rows) == q.per_page:
        return rows
    # Past the positions with days of cover: those without a forecast, by node and SKU.
    with_cover = params["offset"] + len(rows)
    if not rows:  # how many have cover, up to the offset: ranges of the cover index
        with_cover = 0
        for name, code in RISK_CODES.items():
            for cat in _categories(session, q) if q.risk in (None, name) else ():
                with_cover += _count(session, replace(q, risk=name, category=cat),
                                     {"risk": code, "category": cat}, expr,
                                     params["offset"] - with_cover)
    rest = dict(params, limit=q.per_page - len(rows),
                offset=max(0, params["offset"] - with_cover))
    return rows + _merge(session, q, rest, None, direction, f"{expr} IS NULL")


def _merge(session: Session, q: StockQuery, params: dict[str, Any], expr: str | None,
           direction: str, extra: str | None) -> list[Any]:
    """Merge one ordered index range per (risk class, category): `expr` (or nothing: node
    and SKU ids), then node and SKU ids, each in `direction`; `extra` filters every range."""
    cats = _categories(session, q)
    keys = (["k"] if expr else []) + ["node_id", "sku_id"]
    params = dict(params, **{f"cat{i}": c for i, c in enumerate(cats)})
    arms = []
    for code in _classes(q):
        for i in range(len(cats)):
            where = [f"{RISK_SQL} = {int(code)}", f"sp.category = :cat{i}"]
            if extra:
                where.append(extra)
            arms.append(f"SELECT sp.node_id AS node_id, sp.sku_id AS sku_id, "
                        f"{expr or 'NULL'} AS k FROM stock_positions sp{_and(where)}")
    order = ", ".join(f"{k} {direction}" for k in keys)
    if len(arms) > 1 and session.get_bind().dialect.name != "sqlite":
        # PostgreSQL merges no index ranges of a flattened UNION ALL (the risk class is no
        # constant at that level): each range gets its own ordered LIMIT, and a Merge
        # Append reads each only as far as the page needs.
        arms = [f"({arm} ORDER BY {order} LIMIT :arm_limit)" for arm in arms]
        params = dict(params, arm_limit=params["offset"] + params["limit"])
    sql = (f"WITH page AS ({' UNION ALL '.join(arms)} ORDER BY {order} "
           f"LIMIT :limit OFFSET :offset) "
           f"SELECT {COLUMNS} FROM page JOIN stock_positions sp ON sp.node_id = page.node_id "
           f"AND sp.sku_id = page.sku_id JOIN nodes n ON n.id = sp.node_id "
           f"JOIN skus s ON s.id = sp.sku_id "
           f"ORDER BY {', '.join(f'page.{k} {direction}' for k in keys)}")
    return list(session.execute(text(sql), params).all())


def _by_node(session: Session, q: StockQuery, params: dict[str, Any],
             direction: str) -> list[Any]:
    """Network-wide sort by node code, then SKU id.

    Unfiltered: walk the nodes by code and each node's primary key range (CROSS JOIN fixes
    that join order on SQLite; PostgreSQL plans it as an inner join). Filtered: count each
    node's matches in its ranges of the (risk class, category, node) index, nodes in code
    order in growing batches, until the page is reached; then sort the rows of the few
    nodes the page spans. Either way a page costs about its offset.
    """
    if not (q.risk or q.category):
        sql = (f"SELECT {COLUMNS} FROM nodes n CROSS JOIN stock_positions sp CROSS JOIN skus s "
               f"WHERE sp.node_id = n.id AND s.id = sp.sku_id "
               f"ORDER BY n.code {direction}, sp.sku_id {direction} LIMIT :limit OFFSET :offset")
        return list(session.execute(text(sql), params).all())
    cats = _categories(session, q)
    binds = {f"cat{i}": c for i, c in enumerate(cats)}
    prefix = (f"{RISK_SQL} IN ({', '.join(str(c) for c in _classes(q))}) AND sp.category IN "
              f"({', '.join(f':cat{i}' for i in range(len(cats)))})")
    order = Node.code.desc() if direction == "DESC" else Node.code.asc()
    nodes = list(session.scalars(select(Node.id).order_by(order)))
    offset, need = params["offset"], params["offset"] + params["limit"]
    seen, before, span = 0, 0, []
    lo, batch = 0, 1
    while lo < len(nodes) and seen < need:
        ids = nodes[lo:lo + batch]
        counts = dict(session.execute(text(
            f"SELECT sp.node_id, count(*) FROM stock_positions sp WHERE {prefix} AND "
            f"sp.node_id IN ({', '.join(str(int(i)) for i in ids)}) GROUP BY sp.node_id"),
            binds).all())
        for node_id in ids:
            n = int(counts.get(node_id, 0))
            if n and seen + n > offset:
                if not span:
                    before = seen
                span.append(node_id)
            seen += n
            if seen >= need:
                break
        lo, batch = lo + batch, batch * 2
    if not span:
        return []
    sql = (f"SELECT {COLUMNS} FROM stock_positions sp JOIN nodes n ON n.id = sp.node_id "
           f"JOIN skus s ON s.id = sp.sku_id WHERE {prefix} AND sp.node_id IN "
           f"({', '.join(str(int(i)) for i in span)}) "
           # `+ 0`: the (risk class, SKU) index has the order but not the node ranges.
           f"ORDER BY n.code {direction}, sp.sku_id + 0 {direction} LIMIT :limit OFFSET :skip")
    return list(session.execute(text(sql), {**binds, "limit": params["limit"],
                                            "skip": offset - before}).all())


def _by_sku(session: Session, q: StockQuery, params: dict[str, Any],
            direction: str) -> list[Any]:
    """Network-wide sort by SKU code or category: walk the SKUs in that order (the category
    filter on the SKU row) and each SKU's positions by node id ((SKU, node) or (risk class,
    SKU, node) index).

    CROSS JOIN fixes the join order on SQLite (PostgreSQL plans it as an inner join).
    """
    where = ["sp.sku_id = s.id", "n.id = sp.node_id"]
    if q.risk:
        where.append(f"{RISK_SQL} = :risk")
    if q.category:
        # By SKU code, SQLite (no statistics) must filter on the SKU row, not walk the
        # category index (not in code order); PostgreSQL must see the plain condition to
        # estimate the category's size (else it sorts all the category's positions).
        sqlite = session.get_bind().dialect.name == "sqlite"
        where.append("s.category || '' = :category" if q.sort == "sku" and sqlite
                     else "s.category = :category")
    order = (f"s.code {direction}, sp.node_id {direction}" if q.sort == "sku" else
             f"s.category {direction}, s.id {direction}, sp.node_id {direction}")
    sql = (f"SELECT {COLUMNS} FROM skus s CROSS JOIN stock_positions sp CROSS JOIN nodes n"
           f"{_and(where)} ORDER BY {order} LIMIT :limit OFFSET :offset")
    return list(session.execute(text(sql), params).all())


def _count(session: Session, q: StockQuery, params: dict[str, Any], has: str | None,
           cap: int) -> int:
    """Matching positions (those with a value of expression `has` if given), up to cap.

    A count stops at the cap, it never scans on. Network-wide, the filters are a prefix of
    an index, and each range is read in its index order (`ORDER BY` the index's next keys):
    so PostgreSQL walks the index and stops at the cap instead of collecting the whole range
    in a bitmap first.
    """
    binds = {k: params[k] for k in ("node_id", "category", "risk") if k in params}
    if q.node:  # the node's primary key range; the rest checked on the row
        where = ["sp.node_id = :node_id"]
        if q.category:
            where.append("sp.category || '' = :category")
        if q.risk:
            where.append(f"{RISK_SQL} + 0 = :risk")
        if has:
            where.append(f"{has} + 0 >= 0")
        return _range_count(session, where, "sp.node_id, sp.sku_id", binds, cap)
    if not (q.risk or q.category or has):
        return _range_count(session, [], None, binds, cap)
    if has and not q.category:
        raise ValueError("counting positions with a value needs a category (its index range)")
    if not q.category:  # one risk class: its range of the (risk class, SKU, node) index
        return _range_count(session, [f"{RISK_SQL} = :risk"], "sp.sku_id, sp.node_id",
                            binds, cap)
    total = 0
    for code in _classes(q):  # each class's range of the (risk class, category, ...) index
        where = [f"{RISK_SQL} = {int(code)}", "sp.category = :category"]
        order = "sp.node_id, sp.sku_id"
        if has:  # `>= 0` makes "has a value" a range of its index
            where.append(f"{has} >= 0")
            order = f"{has}, sp.node_id, sp.sku_id"
        total += _range_count(session, where, order, binds, cap - total)
        if total >= cap:
            break
    return total


def _range_count(session: Session, where: list[str], order: str | None,
                 binds: dict[str, Any], cap: int) -> int:
    if cap <= 0:
        return 0
    sql = (f"SELECT count(*) FROM (SELECT 1 FROM stock_positions sp{_and(where)}"
           f"{f' ORDER BY {order}' if order else ''} LIMIT :cap) AS capped")
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
